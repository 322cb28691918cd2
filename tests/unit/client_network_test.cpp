// parse_client_network and ClientNetwork::contains: CIDR parsing, its errors, and matching IPv4,
// IPv6 and IPv4-mapped client addresses.
#include "intake/client_network.h"

#include <catch2/catch.hpp>
#include <string>

using namespace bulkq;

TEST_CASE("client networks are parsed to a canonical form", "[intake][client_network]") {
  struct Case {
    std::string input;
    AddressFamily family;
    unsigned prefix_length;
    std::string text;
  };
  const Case cases[] = {
      {"192.0.2.0/24", AddressFamily::ipv4, 24, "192.0.2.0/24"},
      {"192.0.2.7", AddressFamily::ipv4, 32, "192.0.2.7/32"},
      {"192.0.2.7/32", AddressFamily::ipv4, 32, "192.0.2.7/32"},
      {"0.0.0.0/0", AddressFamily::ipv4, 0, "0.0.0.0/0"},
      {"10.0.0.0/8", AddressFamily::ipv4, 8, "10.0.0.0/8"},
      {"198.51.100.128/25", AddressFamily::ipv4, 25, "198.51.100.128/25"},
      {"2001:db8::/32", AddressFamily::ipv6, 32, "2001:db8::/32"},
      {"2001:DB8:0:0::/48", AddressFamily::ipv6, 48, "2001:db8::/48"},
      {"2001:db8::1", AddressFamily::ipv6, 128, "2001:db8::1/128"},
      {"::/0", AddressFamily::ipv6, 0, "::/0"},
      {"::ffff:192.0.2.0/120", AddressFamily::ipv6, 120, "::ffff:192.0.2.0/120"},
  };
  for (const Case& c : cases) {
    INFO(c.input);
    const ClientNetworkResult result = parse_client_network(c.input);
    REQUIRE(result.error == "");
    CHECK(result.network.family == c.family);
    CHECK(result.network.prefix_length == c.prefix_length);
    CHECK(result.network.text == c.text);
  }
}

TEST_CASE("bad client networks are refused with a reason", "[intake][client_network]") {
  struct Case {
    std::string input;
    std::string error;
  };
  const Case cases[] = {
      {"", "empty network"},
      {"192.0.2.1/24",
       "\"192.0.2.1/24\" has host bits set beyond the /24 prefix (did you mean 192.0.2.0/24?)"},
      {"2001:db8::1/32",
       "\"2001:db8::1/32\" has host bits set beyond the /32 prefix (did you mean 2001:db8::/32?)"},
      {"192.0.2.129/25",
       "\"192.0.2.129/25\" has host bits set beyond the /25 prefix (did you mean "
       "192.0.2.128/25?)"},
      {"192.0.2.0/33",
       "\"192.0.2.0/33\" has an invalid prefix length (expected 0 to 32 after the "
       "'/')"},
      {"2001:db8::/129",
       "\"2001:db8::/129\" has an invalid prefix length (expected 0 to 128 after the '/')"},
      {"192.0.2.0/",
       "\"192.0.2.0/\" has an invalid prefix length (expected 0 to 32 after the '/')"},
      {"192.0.2.0/-1",
       "\"192.0.2.0/-1\" has an invalid prefix length (expected 0 to 32 after the '/')"},
      {"192.0.2.0/+24",
       "\"192.0.2.0/+24\" has an invalid prefix length (expected 0 to 32 after the '/')"},
      {"192.0.2.0/024",
       "\"192.0.2.0/024\" has an invalid prefix length (expected 0 to 32 after the '/')"},
      {"192.0.2.0/24/8",
       "\"192.0.2.0/24/8\" has an invalid prefix length (expected 0 to 32 after the '/')"},
      {"192.0.2.0/ 24",
       "\"192.0.2.0/ 24\" has an invalid prefix length (expected 0 to 32 after the '/')"},
      {"192.0.2/24",
       "\"192.0.2/24\" is not an IPv4 or IPv6 network (expected e.g. 192.0.2.0/24 or "
       "2001:db8::/32)"},
      {"example.com",
       "\"example.com\" is not an IPv4 or IPv6 network (expected e.g. 192.0.2.0/24 or "
       "2001:db8::/32)"},
      {" 192.0.2.0/24",
       "\" 192.0.2.0/24\" is not an IPv4 or IPv6 network (expected e.g. 192.0.2.0/24 or "
       "2001:db8::/32)"},
      {"/24",
       "\"/24\" is not an IPv4 or IPv6 network (expected e.g. 192.0.2.0/24 or 2001:db8::/32)"},
      {std::string("192.0.2.0\0/24", 13),
       "\"192.0.2.0\\x00/24\" is not an IPv4 or IPv6 network (expected e.g. 192.0.2.0/24 or "
       "2001:db8::/32)"},
      {std::string(65, '1'),
       "\"" + std::string(65, '1') + "\" is too long for a network (at most 64 bytes)"},
  };
  for (const Case& c : cases) {
    INFO(c.input);
    const ClientNetworkResult result = parse_client_network(c.input);
    CHECK_FALSE(result.ok());
    CHECK(result.error == c.error);
  }
}

TEST_CASE("a client network contains the addresses under its prefix", "[intake][client_network]") {
  struct Case {
    std::string network;
    std::string client;
    bool contained;
  };
  const Case cases[] = {
      {"192.0.2.0/24", "192.0.2.7", true},
      {"192.0.2.0/24", "192.0.2.255", true},
      {"192.0.2.0/24", "192.0.3.1", false},
      {"192.0.2.128/25", "192.0.2.127", false},
      {"192.0.2.128/25", "192.0.2.128", true},
      {"192.0.2.7", "192.0.2.7", true},
      {"192.0.2.7", "192.0.2.8", false},
      {"0.0.0.0/0", "203.0.113.9", true},
      // IPv4-mapped IPv6: the MTA reports an IPv4 client on a dual-stack socket this way.
      {"192.0.2.0/24", "::ffff:192.0.2.7", true},
      {"192.0.2.0/24", "::FFFF:192.0.2.7", true},
      {"192.0.2.0/24", "::ffff:c000:207", true},
      {"192.0.2.0/24", "::ffff:192.0.3.7", false},
      {"192.0.2.0/24", "::192.0.2.7", false},  // IPv4-compatible, not mapped
      {"192.0.2.0/24", "64:ff9b::192.0.2.7", false},
      {"0.0.0.0/0", "2001:db8::1", false},
      // IPv6
      {"2001:db8::/32", "2001:db8::7", true},
      {"2001:db8::/32", "2001:DB8:ffff::1", true},
      {"2001:db8::/32", "2001:db9::1", false},
      {"2001:db8::1", "2001:db8:0::1", true},
      {"2001:db8::/33", "2001:db8:8000::1", false},
      {"::/0", "::1", true},
      {"::/0", "192.0.2.1", true},  // an IPv4 client is ::ffff:192.0.2.1 to an IPv6 network
      {"::ffff:192.0.2.0/120", "192.0.2.9", true},
      {"::ffff:192.0.2.0/120", "192.0.3.9", false},
      {"2001:db8::/32", "192.0.2.1", false},
      // Not addresses: in no network.
      {"0.0.0.0/0", "", false},
      {"0.0.0.0/0", "unknown", false},
      {"0.0.0.0/0", "[192.0.2.1]", false},
      {"::/0", "fe80::1%eth0", false},
      {"0.0.0.0/0", std::string("192.0.2.1\0", 10), false},
  };
  for (const Case& c : cases) {
    INFO(c.network << " contains " << c.client);
    const ClientNetworkResult parsed = parse_client_network(c.network);
    REQUIRE(parsed.ok());
    CHECK(parsed.network.contains(c.client) == c.contained);
  }
}
