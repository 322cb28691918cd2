#include "config/host_port.h"

#include <catch2/catch.hpp>
#include <string>

using namespace bulkq;

TEST_CASE("parse_host_port accepts hosts, addresses and ports", "[config][host_port]") {
  struct Case {
    const char* text;
    bool literal_only;
    const char* host;
    std::uint16_t port;
    bool literal;
    bool ipv6;
    const char* shown;
  };
  const Case cases[] = {
      {"mx.example.com", false, "mx.example.com", 25, false, false, "mx.example.com:25"},
      {"MX.Example.COM.", false, "mx.example.com", 25, false, false, "mx.example.com:25"},
      {"mx.example.com:587", false, "mx.example.com", 587, false, false, "mx.example.com:587"},
      {"mx.example.com:65535", false, "mx.example.com", 65535, false, false,
       "mx.example.com:65535"},
      {"mx.example.com:1", false, "mx.example.com", 1, false, false, "mx.example.com:1"},
      {"127.0.0.1", true, "127.0.0.1", 25, true, false, "127.0.0.1:25"},
      {"127.0.0.1:53", true, "127.0.0.1", 53, true, false, "127.0.0.1:53"},
      {"[127.0.0.1]", true, "127.0.0.1", 25, true, false, "127.0.0.1:25"},
      {"[127.0.0.1]:2525", false, "127.0.0.1", 2525, true, false, "127.0.0.1:2525"},
      {"::1", true, "::1", 25, true, true, "[::1]:25"},
      {"[::1]", true, "::1", 25, true, true, "[::1]:25"},
      {"[::1]:5353", true, "::1", 5353, true, true, "[::1]:5353"},
      {"2001:db8::53", true, "2001:db8::53", 25, true, true, "[2001:db8::53]:25"},
      {"[2001:db8::53]:53", false, "2001:db8::53", 53, true, true, "[2001:db8::53]:53"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text, c.literal_only);
    const HostPortResult result = parse_host_port(c.text, 25, c.literal_only);
    REQUIRE(result.error == "");
    REQUIRE(result.ok());
    CHECK(result.value.host == c.host);
    CHECK(result.value.port == c.port);
    CHECK(result.value.literal == c.literal);
    CHECK(result.value.ipv6 == c.ipv6);
    CHECK(to_string(result.value) == c.shown);
  }
}

TEST_CASE("parse_host_port uses the default port", "[config][host_port]") {
  CHECK(parse_host_port("10.0.0.1", 53, true).value.port == 53);
  CHECK(parse_host_port("[::1]", 53, true).value.port == 53);
  CHECK(parse_host_port("relay.test", 10025, false).value.port == 10025);
  CHECK(parse_host_port("relay.test:26", 10025, false).value.port == 26);
}

TEST_CASE("parse_host_port refuses malformed text with a reason", "[config][host_port]") {
  struct Case {
    const char* text;
    bool literal_only;
    const char* error;
  };
  const Case cases[] = {
      {"", false, "empty (expected host or host:port)"},
      {"mx.example.com:", false, "empty port after ':'"},
      {":25", false, "empty host"},
      {"mx.example.com:0", false, "port \"0\" is not a number from 1 to 65535"},
      {"mx.example.com:65536", false, "port \"65536\" is not a number from 1 to 65535"},
      {"mx.example.com:25x", false, "port \"25x\" is not a number from 1 to 65535"},
      {"mx.example.com:-1", false, "port \"-1\" is not a number from 1 to 65535"},
      {"mx.example.com:+25", false, "port \"+25\" is not a number from 1 to 65535"},
      {"mx.example.com:99999999999999999999", false,
       "port \"99999999999999999999\" is not a number from 1 to 65535"},
      {"[::1", false, "'[' without ']'"},
      {"[::1]25", false, "expected ':port' after ']'"},
      {"[::1]:", false, "empty port after ':'"},
      {"[]:25", false, "empty host"},
      {"[mx.example.com]:25", false, "\"mx.example.com\" in brackets is not an IP address"},
      {"mx.example.com", true, "\"mx.example.com\" is not an IP address"},
      {"localhost:53", true, "\"localhost\" is not an IP address"},
      {"256.0.0.1", true, "\"256.0.0.1\" is not an IP address"},
      {"1:2:3", true, "\"1:2:3\" is not an IP address"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text, c.literal_only);
    const HostPortResult result = parse_host_port(c.text, 25, c.literal_only);
    CHECK_FALSE(result.ok());
    CHECK(result.error == c.error);
  }
}

TEST_CASE("parse_host_port refuses what is no host name", "[config][host_port]") {
  for (const char* text : {"bad host", "bad_host!", "a..b", "-a.test", "1:2:3"}) {
    CAPTURE(text);
    const HostPortResult result = parse_host_port(text, 25, false);
    CHECK_FALSE(result.ok());
    CHECK(result.error.rfind("\"", 0) == 0);
    CHECK(result.error.find("is not a host name") != std::string::npos);
  }
  const std::string long_text(301, 'a');
  CHECK(parse_host_port(long_text, 25, false).error == "too long to be a host and port");
}
