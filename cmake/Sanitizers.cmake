# Sanitizers apply to everything built in this tree, so the engine and its tests agree on the ABI.
if(BULKQ_SANITIZE STREQUAL "address")
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
elseif(BULKQ_SANITIZE STREQUAL "thread")
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
  # GCC 12 warns (-Wtsan) wherever Asio's fenced blocks use std::atomic_thread_fence, which TSan
  # does not model: every translation unit with Asio handlers, an error under -Werror. bulkq's
  # io_contexts run their handlers on one thread each, so no fence orders anything TSan checks.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_GREATER_EQUAL 12)
    add_compile_options(-Wno-tsan)
  endif()
elseif(NOT BULKQ_SANITIZE STREQUAL "")
  message(FATAL_ERROR "BULKQ_SANITIZE must be '', 'address' or 'thread', not '${BULKQ_SANITIZE}'")
endif()

if(BULKQ_FUZZERS)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "BULKQ_FUZZERS needs clang (CXX=clang++)")
  endif()
  # Instrument the library code for coverage; the fuzz executables link the libFuzzer driver.
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()

# clang 14 cannot emit UBSan's -fsanitize=function prologue data for C++20 coroutines (the
# delivery client's Asio coroutines): "error: Cannot represent a difference across sections".
# That one check (calls through mistyped function pointers) is left out; the rest of UBSan stays.
if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang" AND (BULKQ_FUZZERS OR BULKQ_SANITIZE STREQUAL "address"))
  add_compile_options(-fno-sanitize=function)
endif()
