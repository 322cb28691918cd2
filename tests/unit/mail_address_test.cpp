#include "core/mail_address.h"

#include <catch2/catch.hpp>
#include <string>

using bulkq::split_address;

TEST_CASE("addresses split into local part and canonical domain", "[core][address]") {
  struct Case {
    std::string address;
    std::string local_part;
    std::string domain;
  };
  const Case cases[] = {
      {"user@example.com", "user", "example.com"},
      {"<User.Name@Example.COM>", "User.Name", "example.com"},  // local part keeps its case
      {"\"a@b\"@example.org", "\"a@b\"", "example.org"},        // '@' inside quotes
      {"\"a\\\"@b\"@example.org", "\"a\\\"@b\"", "example.org"},
      {"j\xc3\xb6rg@b\xc3\xbc"
       "cher.de",
       "j\xc3\xb6rg", "xn--bcher-kva.de"},
      {"x@[192.0.2.1]", "x", "[192.0.2.1]"},
  };
  for (const Case& c : cases) {
    INFO(c.address);
    const auto split = split_address(c.address);
    REQUIRE(split.ok());
    CHECK(split.local_part == c.local_part);
    CHECK(split.domain == c.domain);
  }
}

TEST_CASE("unusable addresses are refused with a reason", "[core][address]") {
  struct Case {
    std::string address;
    std::string error_contains;
  };
  const Case cases[] = {
      {"", "empty address"},
      {"<>", "empty address"},
      {"postmaster", "no domain"},
      {"@example.com", "empty local part"},
      {"user@", "empty domain"},
      {"user@bad..domain", "empty label"},
      {"\"open@example.com", "unterminated quoted"},
      {std::string("us\0er@example.com", 17), "control character"},
      {"us\ner@example.com", "control character"},
      {std::string(65, 'a') + "@example.com", "local part longer than 64"},
      {"a@" + std::string(300, 'b'), "longer than 256"},
  };
  for (const Case& c : cases) {
    INFO(c.address);
    const auto split = split_address(c.address);
    REQUIRE_FALSE(split.ok());
    CHECK_THAT(split.error, Catch::Contains(c.error_contains));
  }
}
