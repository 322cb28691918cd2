#include "shaping/response_rules.h"

#include <cmath>
#include <utility>

namespace bulkq {
namespace {

using namespace std::chrono_literals;

// libstdc++'s default (backtracking) executor recurses once per input byte a pattern like
// "^4\d\d .*x" walks over: a 4 KiB reply needed more than 1 MiB of stack in a debug build and
// would overflow a small thread stack. Its Thompson-NFA executor, chosen by the GNU extension
// flag __polynomial, keeps the stack flat and the time bounded by text x pattern size; it refuses
// back-references, which make() then reports as a bad regular expression.
#if defined(__GLIBCXX__)
constexpr auto kRegexFlags = std::regex::ECMAScript | std::regex::icase | std::regex::optimize |
                             std::regex_constants::__polynomial;
#else
constexpr auto kRegexFlags = std::regex::ECMAScript | std::regex::icase | std::regex::optimize;
#endif

char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string lowered(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    c = ascii_lower(c);
  return out;
}

bool is_control(char c) {
  const auto byte = static_cast<unsigned char>(c);
  return byte < 0x20 || byte == 0x7f;
}

bool well_formed_enhanced(const SmtpStatus& reply) {
  const bool klass =
      reply.enhanced_class == 2 || reply.enhanced_class == 4 || reply.enhanced_class == 5;
  return klass && reply.subject >= 0 && reply.subject <= 999 && reply.detail >= 0 &&
         reply.detail <= 999;
}

std::string rule_error(std::size_t index, std::string_view what) {
  return "response rule " + std::to_string(index + 1) + ": " + std::string(what);
}

// What is wrong with a rule's action parameters; empty when nothing is.
std::string action_error(const ResponseRule& rule) {
  switch (rule.action) {
    case ResponseAction::suspend:
      if (rule.suspend < 1s || rule.suspend > kMaxResponseSuspend) {
        return "suspend needs a duration from 1 s to 24 h, not " +
               std::to_string(rule.suspend.count()) + " s";
      }
      return {};
    case ResponseAction::scale_rate:
      // NaN fails both comparisons, so it is refused too.
      if (!(rule.rate_factor > 0.0 && rule.rate_factor < 1.0)) {
        return "scale_rate needs a factor above 0 and below 1, not " +
               std::to_string(rule.rate_factor);
      }
      return {};
    case ResponseAction::bounce:
      return {};
  }
  return "unknown action";
}

ResponseRule regex_rule(std::string pattern, ResponseAction action, std::chrono::seconds suspend,
                        double rate_factor) {
  return ResponseRule{std::move(pattern), PatternSyntax::regex, action, suspend, rate_factor};
}

}  // namespace

std::string_view to_string(ResponseAction action) {
  switch (action) {
    case ResponseAction::suspend:
      return "suspend";
    case ResponseAction::scale_rate:
      return "scale_rate";
    case ResponseAction::bounce:
      return "bounce";
  }
  return "unknown";
}

std::string_view to_string(PatternSyntax syntax) {
  switch (syntax) {
    case PatternSyntax::substring:
      return "substring";
    case PatternSyntax::regex:
      return "regex";
  }
  return "unknown";
}

std::string response_match_text(const SmtpStatus& reply) {
  std::string text = std::to_string(reply.code);
  if (well_formed_enhanced(reply)) {
    text += ' ';
    text += DsnStatus{reply.enhanced_class, reply.subject, reply.detail}.to_string();
  }
  const std::string_view said = std::string_view(reply.text).substr(0, kMaxResponseTextBytes);
  if (!said.empty()) {
    text += ' ';
    for (char c : said)
      text += is_control(c) ? ' ' : c;
  }
  return text;
}

ResponseRulesResult ResponseRules::make(std::vector<ResponseRule> rules) {
  if (rules.size() > kMaxResponseRules) {
    return {{},
            "too many response rules: " + std::to_string(rules.size()) + " (at most " +
                std::to_string(kMaxResponseRules) + ")"};
  }
  ResponseRules out;
  out.compiled_.reserve(rules.size());
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const ResponseRule& rule = rules[i];
    if (rule.pattern.empty()) return {{}, rule_error(i, "empty pattern")};
    if (rule.pattern.size() > kMaxResponsePatternBytes) {
      return {{},
              rule_error(i, "pattern of " + std::to_string(rule.pattern.size()) +
                                " bytes is too long (at most " +
                                std::to_string(kMaxResponsePatternBytes) + ")")};
    }
    if (const std::string error = action_error(rule); !error.empty()) {
      return {{}, rule_error(i, error)};
    }
    CompiledPattern compiled;
    if (rule.syntax == PatternSyntax::regex) {
      try {
        compiled.regex.emplace(rule.pattern, kRegexFlags);
      } catch (const std::regex_error& e) {
        return {{}, rule_error(i, "bad regular expression \"" + rule.pattern + "\": " + e.what())};
      }
    } else {
      compiled.lowered = lowered(rule.pattern);
    }
    out.compiled_.push_back(std::move(compiled));
  }
  out.rules_ = std::move(rules);
  return {std::move(out), {}};
}

const ResponseRule* ResponseRules::match(const SmtpStatus& reply) const {
  if (rules_.empty()) return nullptr;
  const std::string text = response_match_text(reply);
  std::string text_lowered;  // made on the first substring rule only
  for (std::size_t i = 0; i < rules_.size(); ++i) {
    const CompiledPattern& compiled = compiled_[i];
    if (compiled.regex) {
      try {
        if (std::regex_search(text, *compiled.regex)) return &rules_[i];
      } catch (const std::regex_error&) {
        // error_complexity or error_stack on a hostile reply: this rule does not match it.
      }
      continue;
    }
    if (text_lowered.empty()) text_lowered = lowered(text);
    if (text_lowered.find(compiled.lowered) != std::string::npos) return &rules_[i];
  }
  return nullptr;
}

std::vector<ResponseRule> default_response_rules() {
  using A = ResponseAction;
  return {
      // Yahoo: "421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected
      // volume or user complaints"; TS01/TS02 are the older spellings. Yahoo asks senders to
      // stop and come back later, and retrying sooner extends the deferral.
      regex_rule(R"(^4\d\d .*\b(TSS04|TS01|TS02)\b)", A::suspend, 1h, 1.0),
      // Microsoft: "550 5.7.1 Unfortunately, messages from [192.0.2.1] weren't sent. ... part of
      // their network is on our block list (S3150)". The recipient bounces (5xx); every further
      // message now would bounce too, so wait for the listing to be looked at.
      regex_rule(R"(\bS3150\b)", A::suspend, 1h, 1.0),
      // Microsoft: "451 4.7.650 The mail server [192.0.2.1] has been temporarily rate limited due
      // to IP reputation."
      regex_rule(R"(^4\d\d 4\.7\.650\b)", A::scale_rate, 0s, 0.5),
      // Gmail: "421 4.7.28 ... Our system has detected an unusual rate of unsolicited mail
      // originating from your IP address ... temporarily rate limited", and the same words
      // under 4.7.0.
      regex_rule(R"(^4\d\d 4\.7\.28\b)", A::scale_rate, 0s, 0.5),
      regex_rule(R"(^4\d\d 4\.7\.0 .*unusual rate)", A::scale_rate, 0s, 0.5),
      // "421 4.7.0 Too many connections", "421 Too many concurrent SMTP connections from this IP
      // address": about connections, not rate. A short suspension lets the server's count
      // drain; the suspension also halves the concurrency (see DomainShaper).
      regex_rule(R"(^4\d\d .*too many (concurrent )?(smtp )?connections)", A::suspend, 1min, 1.0),
      // The generic throttling words under a 4.7.x security/policy status: "451 4.7.1 rate
      // limited", "421 4.7.0 Try again later, closing connection" (Gmail). Gentler than the
      // providers' own: the controller halves on the same replies anyway, and two halvings per
      // round trip settled at 0.82 R in the simulation where × 0.75 keeps it near R.
      regex_rule(R"(^4\d\d 4\.7\.\d{1,3} .*(rate[ -]?limit|try again later))", A::scale_rate, 0s,
                 0.75),
  };
}

}  // namespace bulkq
