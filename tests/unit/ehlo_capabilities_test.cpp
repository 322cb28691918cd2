// EhloCapabilities from real-world EHLO replies (as the common servers send them) and odd ones.
#include "delivery/ehlo_capabilities.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "delivery/smtp_reply.h"

using namespace bulkq;

namespace {

SmtpReply parse_one(std::string_view wire) {
  SmtpReplyParser parser;
  parser.feed(wire);
  SmtpReplyParseStep step = parser.next();
  REQUIRE(step.status == SmtpReplyStatus::reply);
  return step.reply;
}

EhloCapabilities capabilities_of(std::string_view wire) {
  const EhloCapabilitiesResult result = parse_ehlo_capabilities(parse_one(wire));
  REQUIRE(result.ok());
  return result.capabilities;
}

}  // namespace

TEST_CASE("EHLO replies of common servers", "[delivery][ehlo]") {
  struct Case {
    std::string name;
    std::string wire;
    EhloCapabilities expected;
  };
  std::vector<Case> cases;
  {
    Case c{"Postfix 3.7",
           "250-mail.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n"
           "250-ETRN\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n"
           "250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n",
           {}};
    c.expected.greeting_domain = "mail.example.org";
    c.expected.pipelining = c.expected.starttls = c.expected.size = true;
    c.expected.size_limit = 10240000;
    c.expected.enhanced_status_codes = c.expected.eight_bit_mime = c.expected.dsn = true;
    c.expected.smtputf8 = c.expected.chunking = true;
    cases.push_back(c);
  }
  {
    Case c{"Exim 4.96",
           "250-mx.example.net Hello client.example.com [192.0.2.1]\r\n250-SIZE 52428800\r\n"
           "250-8BITMIME\r\n250-PIPELINING\r\n250-PIPECONNECT\r\n250-AUTH PLAIN LOGIN\r\n"
           "250-CHUNKING\r\n250-STARTTLS\r\n250-PRDR\r\n250 HELP\r\n",
           {}};
    c.expected.greeting_domain = "mx.example.net";
    c.expected.size = c.expected.eight_bit_mime = c.expected.pipelining = true;
    c.expected.size_limit = 52428800;
    c.expected.auth_mechanisms = {"PLAIN", "LOGIN"};
    c.expected.chunking = c.expected.starttls = true;
    cases.push_back(c);
  }
  {
    Case c{"Gmail-like",
           "250-mx.google.com at your service, [192.0.2.1]\r\n250-SIZE 157286400\r\n"
           "250-8BITMIME\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-PIPELINING\r\n"
           "250-CHUNKING\r\n250 SMTPUTF8\r\n",
           {}};
    c.expected.greeting_domain = "mx.google.com";
    c.expected.size = c.expected.eight_bit_mime = c.expected.starttls = true;
    c.expected.size_limit = 157286400;
    c.expected.enhanced_status_codes = c.expected.pipelining = c.expected.chunking = true;
    c.expected.smtputf8 = true;
    cases.push_back(c);
  }
  {
    Case c{"Microsoft 365-like",
           "250-AM0PR01MB1234.eurprd01.prod.exchangelabs.com Hello [192.0.2.1]\r\n"
           "250-SIZE 157286400\r\n250-PIPELINING\r\n250-DSN\r\n250-ENHANCEDSTATUSCODES\r\n"
           "250-STARTTLS\r\n250-8BITMIME\r\n250-BINARYMIME\r\n250-CHUNKING\r\n250 SMTPUTF8\r\n",
           {}};
    c.expected.greeting_domain = "AM0PR01MB1234.eurprd01.prod.exchangelabs.com";
    c.expected.size = c.expected.pipelining = c.expected.dsn = true;
    c.expected.size_limit = 157286400;
    c.expected.enhanced_status_codes = c.expected.starttls = c.expected.eight_bit_mime = true;
    c.expected.chunking = c.expected.smtputf8 = true;
    cases.push_back(c);
  }
  {
    // On-premises Exchange: SIZE without a number, AUTH twice (the old "AUTH=" form too).
    Case c{"Exchange on-premises",
           "250-mail.corp.example Hello [192.0.2.1]\r\n250-SIZE\r\n250-PIPELINING\r\n"
           "250-DSN\r\n250-ENHANCEDSTATUSCODES\r\n250-AUTH GSSAPI NTLM LOGIN\r\n"
           "250-AUTH=LOGIN\r\n250-8BITMIME\r\n250-BINARYMIME\r\n250 CHUNKING\r\n",
           {}};
    c.expected.greeting_domain = "mail.corp.example";
    c.expected.size = c.expected.pipelining = c.expected.dsn = true;
    c.expected.enhanced_status_codes = c.expected.eight_bit_mime = c.expected.chunking = true;
    c.expected.auth_mechanisms = {"GSSAPI", "NTLM", "LOGIN"};
    cases.push_back(c);
  }
  {
    Case c{"greeting only", "250 tiny.example\r\n", {}};
    c.expected.greeting_domain = "tiny.example";
    cases.push_back(c);
  }
  for (const Case& c : cases) {
    INFO(c.name);
    CHECK(capabilities_of(c.wire) == c.expected);
  }
}

TEST_CASE("EHLO keywords are case-insensitive; odd parameters are tolerated", "[delivery][ehlo]") {
  const EhloCapabilities caps = capabilities_of(
      "250-relay.example\r\n250-pipelining\r\n250-StartTLS\r\n250-size 0\r\n"
      "250-auth=plain\r\n250-Auth cram-md5 SCRAM-SHA-256 bad/name plain "
      "WAY-TOO-LONG-MECHANISM-NAME-X\r\n250-8bitmime extra words\r\n"
      "250-XCLIENT NAME ADDR\r\n250-  DSN  \r\n250 smtputf8\r\n");
  CHECK(caps.pipelining);
  CHECK(caps.starttls);
  CHECK(caps.size);
  CHECK_FALSE(caps.size_limit);  // 0 means no fixed maximum
  CHECK(caps.auth_mechanisms == std::vector<std::string>{"PLAIN", "CRAM-MD5", "SCRAM-SHA-256"});
  CHECK(caps.eight_bit_mime);
  CHECK(caps.dsn);
  CHECK(caps.smtputf8);
  CHECK_FALSE(caps.chunking);
}

TEST_CASE("SIZE parameters", "[delivery][ehlo]") {
  struct Case {
    std::string line;
    std::optional<std::uint64_t> limit;
  };
  const std::vector<Case> cases = {
      {"SIZE 1", 1},
      {"SIZE 18446744073709551615", UINT64_C(18446744073709551615)},
      {"SIZE 18446744073709551616", std::nullopt},
      {"SIZE 99999999999999999999999", std::nullopt},
      {"SIZE -5", std::nullopt},
      {"SIZE 10M", std::nullopt},
      {"SIZE", std::nullopt},
      {"SIZE\t2048 more", 2048},
  };
  for (const Case& c : cases) {
    INFO(c.line);
    SmtpReply reply;
    reply.code = 250;
    reply.lines = {"mx.example", c.line};
    const EhloCapabilitiesResult result = parse_ehlo_capabilities(reply);
    REQUIRE(result.ok());
    CHECK(result.capabilities.size);
    CHECK(result.capabilities.size_limit == c.limit);
  }
}

TEST_CASE("only a 250 reply has capabilities; what is kept is bounded", "[delivery][ehlo]") {
  SmtpReply refused;
  refused.code = 502;
  refused.lines = {"5.5.1 EHLO not supported"};
  const EhloCapabilitiesResult result = parse_ehlo_capabilities(refused);
  CHECK_FALSE(result.ok());
  CHECK_THAT(result.error, Catch::Contains("502"));

  SmtpReply empty;
  empty.code = 250;
  CHECK(parse_ehlo_capabilities(empty).ok());

  SmtpReply hostile;
  hostile.code = 250;
  hostile.lines.push_back(std::string(300, 'h') + " Hello");
  for (int i = 0; i < 100; ++i)
    hostile.lines.push_back("AUTH M" + std::to_string(i) + " X-Y_Z");
  const EhloCapabilities caps = parse_ehlo_capabilities(hostile).capabilities;
  CHECK(caps.greeting_domain.empty());
  CHECK(caps.auth_mechanisms.size() == kMaxAuthMechanisms);
  CHECK(caps.auth_mechanisms[0] == "M0");
  CHECK(caps.auth_mechanisms[1] == "X-Y_Z");
}
