# One warning set for every target of the project; -Werror only where asked (CI, scripts/test-all).
add_library(bulkq_warnings INTERFACE)
target_compile_options(bulkq_warnings INTERFACE -Wall -Wextra -Wpedantic -Wshadow
                                                -Wnon-virtual-dtor -Wold-style-cast)
if(BULKQ_WERROR)
  target_compile_options(bulkq_warnings INTERFACE -Werror)
endif()
# GCC 12 at -O3 reports -Wrestrict inside libstdc++ for plain `"text" + std::string` (GCC bug
# 105329, a false positive fixed in later releases): every Release build of ordinary string code
# trips it. Off for GCC 12 only; other compilers keep the warning.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_GREATER_EQUAL 12
   AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  target_compile_options(bulkq_warnings INTERFACE -Wno-restrict)
endif()
