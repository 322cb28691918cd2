// parse_config: the [quota] table (the volume counter) — defaults, every key, and every kind of
// error with the file, line and key it must name.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "config/config_parser.h"

using namespace bulkq;

TEST_CASE("config: [quota] defaults", "[config][quota]") {
  const ConfigResult result = parse_config("", "bulkq.toml");
  REQUIRE(result.error == "");
  const QuotaConfig& q = result.config.quota;
  CHECK(q == QuotaConfig{});
  CHECK(q.period == VolumePeriod::day);
  CHECK(q.messages == 0);
  CHECK(q.recipients == 0);
  CHECK(q.sender_domains.empty());
  CHECK(q.action == QuotaAction::fail_open);
  CHECK(q.reply == "bulk mail volume quota reached, try again later");
  CHECK(q.directory == "/var/lib/bulkq/volume");
}

TEST_CASE("config: every [quota] key", "[config][quota]") {
  const ConfigResult result = parse_config(R"([quota]
period = "month"
messages = 1000000
recipients = 1000000000000000
action = "tempfail"
reply = "monthly licence volume reached"
directory = "/srv/bulkq/volume"

[quota.sender_domains]
"News.Example.COM" = { messages = 10, recipients = 500 }
"shop.example" = { recipients = 7 }
)",
                                           "bulkq.toml");
  REQUIRE(result.error == "");
  const QuotaConfig& q = result.config.quota;
  CHECK(q.period == VolumePeriod::month);
  CHECK(q.messages == 1000000);
  CHECK(q.recipients == 1000000000000000ULL);
  CHECK(q.action == QuotaAction::tempfail);
  CHECK(q.reply == "monthly licence volume reached");
  CHECK(q.directory == "/srv/bulkq/volume");
  REQUIRE(q.sender_domains.size() == 2);
  CHECK(q.sender_domains[0] == QuotaDomain{"news.example.com", 10, 500});
  CHECK(q.sender_domains[1] == QuotaDomain{"shop.example", 0, 7});
}

TEST_CASE("config: bad [quota] values name file, line and key", "[config][quota]") {
  struct BadCase {
    const char* text;
    const char* error;
  };
  const BadCase cases[] = {
      {"[quota]\nperiod = \"week\"\n",
       "bulkq.toml:2: quota.period: unknown period \"week\" (expected hour, day or month)"},
      {"[quota]\nmessages = -1\n",
       "bulkq.toml:2: quota.messages: -1 is out of range (expected 0 to 1000000000000000)"},
      {"[quota]\nrecipients = \"many\"\n",
       "bulkq.toml:2: quota.recipients: expected an integer, got a string"},
      {"[quota]\naction = \"reject\"\n",
       "bulkq.toml:2: quota.action: unknown action \"reject\" (expected fail_open or tempfail)"},
      {"[quota]\nreply = \"\"\n",
       "bulkq.toml:2: quota.reply: expected 1 to 200 printable ASCII characters (it is sent in "
       "the SMTP reply)"},
      {"[quota]\nreply = \"two\\r\\nlines\"\n",
       "bulkq.toml:2: quota.reply: expected 1 to 200 printable ASCII characters (it is sent in "
       "the SMTP reply)"},
      {"[quota]\ndirectory = \"relative/dir\"\n",
       "bulkq.toml:2: quota.directory: \"relative/dir\" is not an absolute path"},
      {"[quota]\nsender_domains = 3\n",
       "bulkq.toml:2: quota.sender_domains: expected a table of domain = { messages = N, "
       "recipients = N }, got an integer"},
      {"[quota.sender_domains]\n\"not a domain\" = { messages = 1 }\n",
       "bulkq.toml:2: quota.sender_domains.\"not a domain\": not a domain: "},
      {"[quota.sender_domains]\n\"a.example\" = 5\n",
       "bulkq.toml:2: quota.sender_domains.\"a.example\": expected { messages = N, recipients = N "
       "}, got an integer"},
      {"[quota.sender_domains]\n\"a.example\" = { mails = 5 }\n",
       "bulkq.toml:2: quota.sender_domains.\"a.example\".mails: unknown key (expected messages or "
       "recipients)"},
      {"[quota.sender_domains]\n\"a.example\" = { messages = -5 }\n",
       "bulkq.toml:2: quota.sender_domains.\"a.example\".messages: -5 is out of range (expected 0 "
       "to 1000000000000000)"},
      {"[quota]\nlimit = 5\n",
       "bulkq.toml:2: quota.limit: unknown key (expected period, messages, recipients, action, "
       "reply, directory or sender_domains)"},
  };
  for (const BadCase& c : cases) {
    INFO(c.text);
    const ConfigResult result = parse_config(c.text, "bulkq.toml");
    // Domain errors end with the name check's own words; compare the part this table owns.
    CHECK(result.error.substr(0, std::string(c.error).size()) == c.error);
  }
}

TEST_CASE("config: a sender domain listed twice in [quota.sender_domains]", "[config][quota]") {
  const ConfigResult result = parse_config(
      "[quota.sender_domains]\n\"a.example\" = { messages = 1 }\n\"A.example\" = { messages = 2 "
      "}\n",
      "bulkq.toml");
  CHECK(result.error.find("is listed twice") != std::string::npos);
}
