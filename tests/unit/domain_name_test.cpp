#include "core/domain_name.h"

#include <catch2/catch.hpp>
#include <string>

using bulkq::normalise_domain;

TEST_CASE("domain names are reduced to one canonical key", "[core][domain]") {
  struct Case {
    std::string input;
    std::string canonical;
  };
  const Case cases[] = {
      {"example.com", "example.com"},
      {"Example.COM", "example.com"},
      {"example.com.", "example.com"},
      {"EXAMPLE.com.", "example.com"},
      {"mx-1.sub.example.org", "mx-1.sub.example.org"},
      {"b\xc3\xbc"
       "cher.de",
       "xn--bcher-kva.de"},  // U-label → A-label
      {"B\xc3\x9c"
       "CHER.DE",
       "xn--bcher-kva.de"},                      // case folded before conversion
      {"xn--bcher-kva.de", "xn--bcher-kva.de"},  // already an A-label
      {"XN--BCHER-KVA.DE", "xn--bcher-kva.de"},
      {"[192.0.2.1]", "[192.0.2.1]"},
      {"[IPv6:2001:DB8:0::1]", "[IPv6:2001:db8::1]"},
      {"localhost", "localhost"},
      {std::string(63, 'a') + ".test", std::string(63, 'a') + ".test"},
  };
  for (const Case& c : cases) {
    INFO(c.input);
    const auto result = normalise_domain(c.input);
    REQUIRE(result.ok());
    CHECK(result.canonical == c.canonical);
  }
}

TEST_CASE("invalid domains are refused with a reason", "[core][domain]") {
  struct Case {
    std::string input;
    std::string error_contains;
  };
  const Case cases[] = {
      {"", "empty domain"},
      {".", "empty domain"},
      {"example..com", "empty label"},
      {".example.com", "empty label"},
      {"-bad.example", "starts or ends with '-'"},
      {"bad-.example", "starts or ends with '-'"},
      {"exa_mple.com", "invalid character '_'"},
      {"exa mple.com", "invalid character ' '"},
      {std::string(64, 'a') + ".test", "longer than 63"},
      {std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(63, 'c') + "." +
           std::string(63, 'd'),
       "longer than 253"},
      {std::string("exa\0mple.com", 12), "NUL byte"},
      {"exa\x01mple.com", "control character"},
      {"xn--zz.de", "invalid internationalised domain"},    // broken punycode
      {"\xff\xfe.de", "invalid internationalised domain"},  // not UTF-8
      {"[192.0.2.999]", "invalid IPv4 address literal"},
      {"[IPv6:zz::1]", "invalid IPv6 address literal"},
      {"[192.0.2.1", "unterminated address literal"},
  };
  for (const Case& c : cases) {
    INFO(c.input);
    const auto result = normalise_domain(c.input);
    REQUIRE_FALSE(result.ok());
    CHECK_THAT(result.error, Catch::Contains(c.error_contains));
  }
}

TEST_CASE("a canonical domain normalises to itself", "[core][domain]") {
  for (const char* input : {"Example.COM.",
                            "b\xc3\xbc"
                            "cher.de",
                            "[IPv6:2001:db8::1]"}) {
    const auto once = normalise_domain(input);
    REQUIRE(once.ok());
    const auto twice = normalise_domain(once.canonical);
    REQUIRE(twice.ok());
    CHECK(twice.canonical == once.canonical);
  }
}
