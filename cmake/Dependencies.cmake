# Every dependency is a Debian 12 package; scripts/install-deps installs them (README says why).
find_package(Boost 1.74 REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(IDN2 REQUIRED IMPORTED_TARGET libidn2)
find_package(toml11 REQUIRED)
find_package(spdlog REQUIRED)
find_package(Threads REQUIRED)
if(BULKQ_TESTS)
  find_package(Catch2 2 REQUIRED)
endif()
if(BULKQ_BENCHMARKS)
  find_package(benchmark REQUIRED)
endif()

# bulkqd and the benchmarks use tcmalloc (gperftools): milter threads allocate what the scheduler
# thread frees, and glibc's arenas make those cross-thread frees and the many small allocations
# of queue growth slow (measured: the scheduler benchmark ran ~35% faster). The library itself
# stays allocator-agnostic; sanitizer and fuzzer builds keep their own allocator.
option(BULKQ_TCMALLOC "Link bulkqd and the benchmarks with tcmalloc" ON)
add_library(bulkq_allocator INTERFACE)
if(BULKQ_TCMALLOC AND NOT BULKQ_SANITIZE AND NOT BULKQ_FUZZERS)
  pkg_check_modules(TCMALLOC REQUIRED IMPORTED_TARGET libtcmalloc_minimal)
  # --no-as-needed: nothing calls tcmalloc by name; it replaces malloc by being linked.
  target_link_libraries(bulkq_allocator INTERFACE -Wl,--no-as-needed PkgConfig::TCMALLOC
                                                  -Wl,--as-needed)
endif()
