// classify(): each bulk rule matching and not matching, which reason wins when several match,
// case handling, IPv4-mapped client addresses, subdomain entries; and the watched header names.
#include "intake/bulk_rules.h"

#include <catch2/catch.hpp>
#include <functional>
#include <string>
#include <vector>

using namespace bulkq;

namespace {

ClientNetwork network(const std::string& text) {
  const ClientNetworkResult parsed = parse_client_network(text);
  REQUIRE(parsed.ok());
  return parsed.network;
}

// Every rule on, each with something to match.
BulkRules all_rules() {
  BulkRules rules;
  rules.header_name = "X-Bulk";
  rules.header_values = {"yes", "Newsletter"};
  rules.min_recipients = 20;
  rules.sasl_logins = {"newsletter"};
  rules.client_networks = {network("192.0.2.0/24"), network("2001:db8::/32")};
  rules.sender_domains = {"news.example", ".lists.example"};
  return rules;
}

}  // namespace

TEST_CASE("classify: each rule matches, or not, on its own", "[intake][bulk_rules]") {
  struct Case {
    const char* what;
    std::function<void(MessageEvidence&)> evidence;
    const char* reason;  // "" = not bulk
  };
  const std::vector<Case> cases = {
      {"nothing", [](MessageEvidence&) {}, ""},
      // (a) Precedence
      {"precedence bulk",
       [](MessageEvidence& e) {
         e.headers = {{"Precedence", " bulk"}};
       },
       "header Precedence: bulk"},
      {"precedence list",
       [](MessageEvidence& e) {
         e.headers = {{"Precedence", "list"}};
       },
       "header Precedence: list"},
      {"precedence any case",
       [](MessageEvidence& e) {
         e.headers = {{"PRECEDENCE", " BuLk\r\n"}};
       },
       "header Precedence: bulk"},
      {"precedence with a comment",
       [](MessageEvidence& e) {
         e.headers = {{"precedence", " bulk (mailing list)"}};
       },
       "header Precedence: bulk"},
      {"precedence folded",
       [](MessageEvidence& e) {
         e.headers = {{"Precedence", "\r\n\tlist\t"}};
       },
       "header Precedence: list"},
      {"precedence junk",
       [](MessageEvidence& e) {
         e.headers = {{"Precedence", " junk"}};
       },
       ""},
      {"precedence bulky",
       [](MessageEvidence& e) {
         e.headers = {{"Precedence", "bulky"}};
       },
       ""},
      {"precedence empty",
       [](MessageEvidence& e) {
         e.headers = {{"Precedence", ""}};
       },
       ""},
      {"bulk in another header",
       [](MessageEvidence& e) {
         e.headers = {{"Priority", "bulk"}};
       },
       ""},
      {"second precedence header",
       [](MessageEvidence& e) {
         e.headers = {{"Precedence", "junk"}, {"Precedence", "bulk"}};
       },
       "header Precedence: bulk"},
      // (b) the configured header
      {"x-bulk yes",
       [](MessageEvidence& e) {
         e.headers = {{"X-Bulk", " yes"}};
       },
       "header X-Bulk: yes"},
      {"x-bulk any case",
       [](MessageEvidence& e) {
         e.headers = {{"x-BULK", "NEWSLETTER "}};
       },
       "header X-Bulk: Newsletter"},
      {"x-bulk no",
       [](MessageEvidence& e) {
         e.headers = {{"X-Bulk", "no"}};
       },
       ""},
      {"x-bulk yes please",
       [](MessageEvidence& e) {
         e.headers = {{"X-Bulk", "yes please"}};
       },
       ""},
      {"x-bulky",
       [](MessageEvidence& e) {
         e.headers = {{"X-Bulky", "yes"}};
       },
       ""},
      // (c) List-Unsubscribe
      {"list-unsubscribe",
       [](MessageEvidence& e) {
         e.headers = {{"List-Unsubscribe", " <mailto:u@news.example>"}};
       },
       "List-Unsubscribe present"},
      {"list-unsubscribe empty, any case",
       [](MessageEvidence& e) {
         e.headers = {{"list-unsubscribe", ""}};
       },
       "List-Unsubscribe present"},
      {"list-unsubscribe-post only",
       [](MessageEvidence& e) {
         e.headers = {{"List-Unsubscribe-Post", "List-Unsubscribe=One-Click"}};
       },
       ""},
      // (d) recipients
      {"20 recipients", [](MessageEvidence& e) { e.recipient_count = 20; }, "20 recipients >= 20"},
      {"42 recipients", [](MessageEvidence& e) { e.recipient_count = 42; }, "42 recipients >= 20"},
      {"19 recipients", [](MessageEvidence& e) { e.recipient_count = 19; }, ""},
      // (e) SASL login
      {"sasl newsletter", [](MessageEvidence& e) { e.sasl_login = "newsletter"; },
       "SASL login newsletter"},
      {"sasl Newsletter (exact)", [](MessageEvidence& e) { e.sasl_login = "Newsletter"; }, ""},
      {"sasl someone", [](MessageEvidence& e) { e.sasl_login = "alice"; }, ""},
      // (f) client network
      {"client v4", [](MessageEvidence& e) { e.client_address = "192.0.2.7"; },
       "client 192.0.2.7 in 192.0.2.0/24"},
      {"client v4-mapped", [](MessageEvidence& e) { e.client_address = "::ffff:192.0.2.7"; },
       "client ::ffff:192.0.2.7 in 192.0.2.0/24"},
      {"client v6", [](MessageEvidence& e) { e.client_address = "2001:db8::25"; },
       "client 2001:db8::25 in 2001:db8::/32"},
      {"client outside", [](MessageEvidence& e) { e.client_address = "198.51.100.7"; }, ""},
      {"client mapped outside",
       [](MessageEvidence& e) { e.client_address = "::ffff:198.51.100.7"; }, ""},
      {"client not an address", [](MessageEvidence& e) { e.client_address = "unknown"; }, ""},
      // (g) sender domain
      {"sender exact", [](MessageEvidence& e) { e.sender_domain = "news.example"; },
       "sender domain news.example"},
      {"sender subdomain of an exact entry",
       [](MessageEvidence& e) { e.sender_domain = "a.news.example"; }, ""},
      {"sender subdomain", [](MessageEvidence& e) { e.sender_domain = "eu.lists.example"; },
       "sender domain eu.lists.example in .lists.example"},
      {"sender deep subdomain", [](MessageEvidence& e) { e.sender_domain = "a.b.lists.example"; },
       "sender domain a.b.lists.example in .lists.example"},
      {"sender parent of a subdomain entry",
       [](MessageEvidence& e) { e.sender_domain = "lists.example"; }, ""},
      {"sender suffix that is not a subdomain",
       [](MessageEvidence& e) { e.sender_domain = "mylists.example"; }, ""},
      {"sender elsewhere", [](MessageEvidence& e) { e.sender_domain = "example.org"; }, ""},
      {"null sender", [](MessageEvidence& e) { e.sender_domain = ""; }, ""},
  };
  const BulkRules rules = all_rules();
  for (const Case& c : cases) {
    INFO(c.what);
    MessageEvidence evidence;
    c.evidence(evidence);
    const BulkVerdict verdict = classify(rules, evidence);
    CHECK(verdict.reason == c.reason);
    CHECK(verdict.bulk == (std::string(c.reason) != ""));
  }
}

TEST_CASE("classify: the first rule that matches names the reason", "[intake][bulk_rules]") {
  MessageEvidence evidence;
  evidence.headers = {
      {"List-Unsubscribe", "<mailto:u@news.example>"}, {"X-Bulk", "yes"}, {"Precedence", "bulk"}};
  evidence.recipient_count = 50;
  evidence.sasl_login = "newsletter";
  evidence.client_address = "192.0.2.7";
  evidence.sender_domain = "news.example";

  // Switch rules off one by one, in order: each time the next rule gives the reason.
  BulkRules rules = all_rules();
  const std::vector<std::pair<std::function<void(BulkRules&)>, const char*>> steps = {
      {[](BulkRules&) {}, "header Precedence: bulk"},
      {[](BulkRules& r) { r.precedence_values.clear(); }, "header X-Bulk: yes"},
      {[](BulkRules& r) { r.header_name.clear(); }, "List-Unsubscribe present"},
      {[](BulkRules& r) { r.list_unsubscribe = false; }, "50 recipients >= 20"},
      {[](BulkRules& r) { r.min_recipients = 0; }, "SASL login newsletter"},
      {[](BulkRules& r) { r.sasl_logins.clear(); }, "client 192.0.2.7 in 192.0.2.0/24"},
      {[](BulkRules& r) { r.client_networks.clear(); }, "sender domain news.example"},
      {[](BulkRules& r) { r.sender_domains.clear(); }, ""},
  };
  for (const auto& [change, reason] : steps) {
    change(rules);
    INFO(reason);
    const BulkVerdict verdict = classify(rules, evidence);
    CHECK(verdict.reason == reason);
    CHECK(verdict.bulk == (std::string(reason) != ""));
  }
}

TEST_CASE("classify: the defaults", "[intake][bulk_rules]") {
  const BulkRules defaults;
  CHECK(defaults.precedence_values == std::vector<std::string>{"bulk", "list"});
  CHECK(defaults.header_name.empty());
  CHECK(defaults.list_unsubscribe);
  CHECK(defaults.min_recipients == 0);

  MessageEvidence plain;
  plain.recipient_count = 100000;  // no recipient threshold by default
  plain.sasl_login = "newsletter";
  plain.client_address = "192.0.2.7";
  plain.sender_domain = "news.example";
  plain.headers = {{"X-Bulk", "yes"}, {"Precedence", "first-class"}};
  CHECK_FALSE(classify(defaults, plain).bulk);

  plain.headers.push_back({"List-Unsubscribe", "<https://news.example/u>"});
  CHECK(classify(defaults, plain).reason == "List-Unsubscribe present");
}

TEST_CASE("classify: a configured header with no values matches on presence",
          "[intake][bulk_rules]") {
  BulkRules rules;
  rules.header_name = "X-Mailer-Campaign";
  MessageEvidence evidence;
  evidence.headers = {{"x-mailer-campaign", ""}};
  CHECK(classify(rules, evidence).reason == "header X-Mailer-Campaign present");
  evidence.headers = {{"X-Mailer", "campaign"}};
  CHECK_FALSE(classify(rules, evidence).bulk);
}

TEST_CASE("classify: configured values are compared trimmed and in any case",
          "[intake][bulk_rules]") {
  BulkRules rules;
  rules.precedence_values = {" Junk "};
  rules.list_unsubscribe = false;
  MessageEvidence evidence;
  evidence.headers = {{"Precedence", "JUNK (auto)"}};
  CHECK(classify(rules, evidence).reason == "header Precedence: Junk");
  evidence.headers = {{"Precedence", "bulk"}};
  CHECK_FALSE(classify(rules, evidence).bulk);
}

TEST_CASE("watched header names follow the rules that are on", "[intake][bulk_rules]") {
  const BulkRules defaults;
  CHECK(watched_header_names(defaults) ==
        std::vector<std::string>{"Precedence", "List-Unsubscribe"});
  CHECK(is_watched_header(defaults, "precedence"));
  CHECK(is_watched_header(defaults, "LIST-UNSUBSCRIBE"));
  CHECK_FALSE(is_watched_header(defaults, "X-Bulk"));
  CHECK_FALSE(is_watched_header(defaults, "Subject"));

  BulkRules rules = all_rules();
  CHECK(watched_header_names(rules) ==
        std::vector<std::string>{"Precedence", "X-Bulk", "List-Unsubscribe"});
  CHECK(is_watched_header(rules, "x-bulk"));

  rules.precedence_values.clear();
  rules.list_unsubscribe = false;
  CHECK(watched_header_names(rules) == std::vector<std::string>{"X-Bulk"});
  CHECK_FALSE(is_watched_header(rules, "Precedence"));
  CHECK_FALSE(is_watched_header(rules, "List-Unsubscribe"));

  rules.header_name.clear();
  CHECK(watched_header_names(rules).empty());

  // The configured header may repeat a built-in one; it is watched once.
  BulkRules repeat;
  repeat.header_name = "list-unsubscribe";
  CHECK(watched_header_names(repeat) == std::vector<std::string>{"Precedence", "list-unsubscribe"});
}
