// How bulkq includes Boost's Asio and Beast (and OpenSSL through them): only this header says it.
//
//   #include "core/third_party_headers.h"
//   BULKQ_THIRD_PARTY_HEADERS_BEGIN
//   #include <boost/asio/…>
//   BULKQ_THIRD_PARTY_HEADERS_END
//
// - Boost 1.74's Asio turns its C++20 coroutine support on for clang only with the old Coroutines
//   TS (__cpp_coroutines); clang 14 in C++20 mode has standard coroutines (__cpp_impl_coroutine,
//   libstdc++'s <coroutine>), so Asio is told (the fuzzer and sanitizer builds use clang).
// - Their headers (and OpenSSL's macros) trip -Wshadow, -Wold-style-cast and -Wpedantic, which
//   are errors here; they are third-party code, so those warnings are silenced for them only.
#pragma once

#if defined(__clang__) && defined(__cpp_impl_coroutine) && !defined(BOOST_ASIO_HAS_CO_AWAIT)
#define BOOST_ASIO_HAS_CO_AWAIT 1
#define BOOST_ASIO_HAS_STD_COROUTINE 1
#endif

#define BULKQ_THIRD_PARTY_HEADERS_BEGIN                                         \
  _Pragma("GCC diagnostic push") _Pragma("GCC diagnostic ignored \"-Wshadow\"") \
      _Pragma("GCC diagnostic ignored \"-Wold-style-cast\"")                    \
          _Pragma("GCC diagnostic ignored \"-Wpedantic\"")
#define BULKQ_THIRD_PARTY_HEADERS_END _Pragma("GCC diagnostic pop")
