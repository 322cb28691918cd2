#include "shaping/response_rules.h"

#include <pthread.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

using namespace bulkq;
using namespace std::chrono_literals;

namespace {

SmtpStatus reply(int code, int klass, int subject, int detail, std::string text) {
  return SmtpStatus{code, klass, subject, detail, std::move(text)};
}

ResponseRule substring(std::string pattern, ResponseAction action = ResponseAction::bounce) {
  return ResponseRule{std::move(pattern), PatternSyntax::substring, action, 0s, 1.0};
}

ResponseRule regex(std::string pattern, ResponseAction action = ResponseAction::bounce) {
  return ResponseRule{std::move(pattern), PatternSyntax::regex, action, 0s, 1.0};
}

ResponseRules make_or_fail(std::vector<ResponseRule> rules) {
  ResponseRulesResult result = ResponseRules::make(std::move(rules));
  INFO(result.error);
  REQUIRE(result.ok());
  return std::move(result.rules);
}

struct Expected {
  SmtpStatus reply;
  std::optional<ResponseAction> action;  // none: no default rule matches
  std::chrono::seconds suspend{0};
  double factor = 1.0;
};

}  // namespace

TEST_CASE("the match text is CODE ENHANCED TEXT on one line", "[shaping]") {
  CHECK(response_match_text(reply(421, 4, 7, 0, "Too many connections")) ==
        "421 4.7.0 Too many connections");
  CHECK(response_match_text(reply(421, 0, 0, 0, "Too many connections")) ==
        "421 Too many connections");
  CHECK(response_match_text(reply(250, 0, 0, 0, "")) == "250");
  // A malformed enhanced code (class 3, detail 1000) is left out rather than invented.
  CHECK(response_match_text(reply(421, 3, 7, 0, "x")) == "421 x");
  CHECK(response_match_text(reply(421, 4, 7, 1000, "x")) == "421 x");
  // A folded multi-line text matches like one line.
  CHECK(response_match_text(reply(421, 4, 7, 0, "Too many\r\nconnections\tnow")) ==
        "421 4.7.0 Too many  connections now");
  CHECK(response_match_text(reply(421, 4, 7, 0, std::string("a\0b", 3))) == "421 4.7.0 a b");
}

TEST_CASE("the default rules know the big providers' throttling replies", "[shaping]") {
  const ResponseRules rules = make_or_fail(default_response_rules());
  using A = ResponseAction;
  const std::vector<Expected> table = {
      {reply(421, 4, 7, 0, "Too many connections"), A::suspend, 60s},
      {reply(421, 0, 0, 0,
             "Too many concurrent SMTP connections from this IP address; please try again later."),
       A::suspend, 60s},
      {reply(451, 4, 7, 1, "rate limited"), A::scale_rate, 0s, 0.75},
      {reply(450, 4, 7, 1, "Rate-limited, slow down"), A::scale_rate, 0s, 0.75},
      {reply(421, 4, 7, 0, "Try again later, closing connection. (EHLO) a1si2.100 - gsmtp"),
       A::scale_rate, 0s, 0.75},
      {reply(421, 4, 7, 28,
             "[192.0.2.1] Our system has detected an unusual rate of unsolicited mail "
             "originating from your IP address. To protect our users from spam, mail sent from "
             "your IP address has been temporarily rate limited."),
       A::scale_rate, 0s, 0.5},
      {reply(421, 4, 7, 0,
             "[192.0.2.1 15] Our system has detected an unusual rate of unsolicited mail "
             "originating from your IP address."),
       A::scale_rate, 0s, 0.5},
      {reply(421, 4, 7, 0,
             "[TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected volume or "
             "user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes"),
       A::suspend, 1h},
      {reply(421, 4, 7, 0, "[TS01] Messages from 192.0.2.1 temporarily deferred"), A::suspend, 1h},
      {reply(421, 4, 7, 0, "[ts02] messages from 192.0.2.1 temporarily deferred"), A::suspend, 1h},
      {reply(451, 4, 7, 650,
             "The mail server [192.0.2.1] has been temporarily rate limited due to IP "
             "reputation."),
       A::scale_rate, 0s, 0.5},
      {reply(550, 5, 7, 1,
             "Unfortunately, messages from [192.0.2.1] weren't sent. Please contact your "
             "Internet service provider since part of their network is on our block list "
             "(S3150)."),
       A::suspend, 1h},
      // Not about speed, or not temporary: no rule.
      {reply(250, 2, 0, 0, "Ok: queued as 4Xyz"), std::nullopt},
      {reply(550, 5, 1, 1, "no such user"), std::nullopt},
      {reply(452, 4, 2, 2, "mailbox full"), std::nullopt},
      {reply(451, 4, 3, 0, "Temporary local problem - please try again later"), std::nullopt},
      {reply(554, 5, 7, 1, "rate limited"), std::nullopt},
      {reply(553, 5, 7, 2, "[TSS09] All messages from 192.0.2.1 will be permanently deferred"),
       std::nullopt},
      {reply(421, 4, 7, 0, "Service not available, closing transmission channel"), std::nullopt},
  };
  for (const Expected& row : table) {
    INFO(response_match_text(row.reply));
    const ResponseRule* rule = rules.match(row.reply);
    if (!row.action) {
      CHECK(rule == nullptr);
      continue;
    }
    REQUIRE(rule != nullptr);
    CHECK(rule->action == *row.action);
    if (*row.action == A::suspend) CHECK(rule->suspend == row.suspend);
    if (*row.action == A::scale_rate) CHECK(rule->rate_factor == row.factor);
  }
}

TEST_CASE("no default rule bounces", "[shaping]") {
  for (const ResponseRule& rule : default_response_rules()) {
    INFO(rule.pattern);
    CHECK(rule.action != ResponseAction::bounce);
  }
}

TEST_CASE("the first matching rule wins", "[shaping]") {
  const ResponseRules rules = make_or_fail({
      substring("no match here", ResponseAction::bounce),
      regex(R"(^4\d\d 4\.7\.)", ResponseAction::bounce),
      substring("rate limited", ResponseAction::bounce),
  });
  const ResponseRule* rule = rules.match(reply(451, 4, 7, 1, "rate limited"));
  REQUIRE(rule != nullptr);
  CHECK(rule == &rules.rules()[1]);
  CHECK(rules.match(reply(451, 4, 3, 0, "rate limited")) == &rules.rules()[2]);
}

TEST_CASE("substrings and regular expressions ignore case", "[shaping]") {
  const ResponseRules rules = make_or_fail({
      substring("RATE LIMITED", ResponseAction::bounce),
      regex(R"(too\s+MANY)", ResponseAction::bounce),
  });
  CHECK(rules.match(reply(451, 4, 7, 1, "You are Rate Limited")) == &rules.rules()[0]);
  CHECK(rules.match(reply(421, 0, 0, 0, "Too  many connections")) == &rules.rules()[1]);
  CHECK(rules.match(reply(421, 0, 0, 0, "toomany")) == nullptr);
}

TEST_CASE("no rules match nothing", "[shaping]") {
  const ResponseRules none;
  CHECK(none.match(reply(421, 4, 7, 0, "Too many connections")) == nullptr);
  CHECK(make_or_fail({}).match(reply(451, 4, 7, 1, "rate limited")) == nullptr);
}

TEST_CASE("a bad regular expression is an error value naming the rule", "[shaping]") {
  const ResponseRulesResult result =
      ResponseRules::make({substring("fine"), regex("rate (limit"), substring("also fine")});
  CHECK_FALSE(result.ok());
  CHECK_THAT(result.error, Catch::StartsWith("response rule 2: bad regular expression "
                                             "\"rate (limit\": "));
  CHECK(result.rules.rules().empty());
}

TEST_CASE("rules are checked: pattern, count and action parameters", "[shaping]") {
  SECTION("an empty pattern") {
    const auto result = ResponseRules::make({substring("")});
    CHECK(result.error == "response rule 1: empty pattern");
  }
  SECTION("a pattern of 512 bytes is fine, 513 is too long") {
    CHECK(ResponseRules::make({substring(std::string(512, 'a'))}).ok());
    CHECK(ResponseRules::make({regex(std::string(512, 'a'))}).ok());
    CHECK(ResponseRules::make({substring(std::string(513, 'a'))}).error ==
          "response rule 1: pattern of 513 bytes is too long (at most 512)");
  }
  SECTION("256 rules are fine, 257 are too many") {
    std::vector<ResponseRule> rules(256, substring("x"));
    CHECK(ResponseRules::make(rules).ok());
    rules.push_back(substring("x"));
    CHECK(ResponseRules::make(rules).error == "too many response rules: 257 (at most 256)");
  }
  SECTION("a suspension from 1 s to 24 h") {
    ResponseRule rule = substring("x", ResponseAction::suspend);
    for (const std::chrono::seconds ok : {1s, 60s, std::chrono::seconds(24h)}) {
      rule.suspend = ok;
      CHECK(ResponseRules::make({rule}).ok());
    }
    rule.suspend = 0s;
    CHECK(ResponseRules::make({rule}).error ==
          "response rule 1: suspend needs a duration from 1 s to 24 h, not 0 s");
    rule.suspend = 24h + 1s;
    CHECK_FALSE(ResponseRules::make({rule}).ok());
    rule.suspend = -5s;
    CHECK_FALSE(ResponseRules::make({rule}).ok());
  }
  SECTION("a rate factor above 0 and below 1") {
    ResponseRule rule = substring("x", ResponseAction::scale_rate);
    for (const double bad : {0.0, 1.0, 1.5, -0.5, std::nan("")}) {
      INFO("factor " << bad);
      rule.rate_factor = bad;
      const auto result = ResponseRules::make({rule});
      CHECK_THAT(result.error, Catch::StartsWith("response rule 1: scale_rate needs a factor"));
    }
    rule.rate_factor = 0.25;
    CHECK(ResponseRules::make({rule}).ok());
  }
  SECTION("fields an action does not use are ignored") {
    ResponseRule rule = substring("x", ResponseAction::bounce);
    rule.suspend = -1s;
    rule.rate_factor = 7;
    CHECK(ResponseRules::make({rule}).ok());
  }
}

TEST_CASE("only the first 4 KiB of a reply text are matched", "[shaping]") {
  const ResponseRules rules = make_or_fail(default_response_rules());
  std::string text(kMaxResponseTextBytes - 20, 'x');
  text += " rate limited";  // ends inside the first 4 KiB
  CHECK(rules.match(reply(451, 4, 7, 1, text)) != nullptr);

  std::string hostile(64 * 1024, 'y');
  hostile += " rate limited";  // far beyond: not looked at
  CHECK(rules.match(reply(451, 4, 7, 1, hostile)) == nullptr);
  CHECK(response_match_text(reply(451, 4, 7, 1, hostile)).size() <= kMaxResponseTextBytes + 24);
}

#if defined(__GLIBCXX__)
namespace {

struct MatchOnThread {
  const ResponseRules* rules = nullptr;
  SmtpStatus reply;
  const ResponseRule* found = nullptr;
};

void* match_on_thread(void* arg) {
  auto* job = static_cast<MatchOnThread*>(arg);
  job->found = job->rules->match(job->reply);
  return nullptr;
}

}  // namespace

// The backtracking executor needed more than 1 MiB of stack for this in a debug build.
TEST_CASE("matching a 4 KiB reply fits in a small thread stack", "[shaping]") {
  const ResponseRules rules = make_or_fail(default_response_rules());
  MatchOnThread job{&rules, reply(451, 4, 7, 1, std::string(4000, 'x') + " rate limited")};
  pthread_attr_t attributes;
  REQUIRE(pthread_attr_init(&attributes) == 0);
  REQUIRE(pthread_attr_setstacksize(&attributes, 256 * 1024) == 0);
  pthread_t thread;
  REQUIRE(pthread_create(&thread, &attributes, match_on_thread, &job) == 0);
  REQUIRE(pthread_join(thread, nullptr) == 0);
  pthread_attr_destroy(&attributes);
  REQUIRE(job.found != nullptr);
  CHECK(job.found->action == ResponseAction::scale_rate);
}

TEST_CASE("a back-reference is refused with an error value", "[shaping]") {
  const auto result = ResponseRules::make({regex(R"((a)\1)")});
  CHECK_THAT(result.error, Catch::StartsWith("response rule 1: bad regular expression"));
}
#endif

TEST_CASE("actions and syntaxes have names", "[shaping]") {
  CHECK(to_string(ResponseAction::suspend) == "suspend");
  CHECK(to_string(ResponseAction::scale_rate) == "scale_rate");
  CHECK(to_string(ResponseAction::bounce) == "bounce");
  CHECK(to_string(PatternSyntax::substring) == "substring");
  CHECK(to_string(PatternSyntax::regex) == "regex");
}
