// ResponseRules: what to do when a destination's SMTP reply says something specific about
// sending speed ("421 4.7.0 Too many connections", Yahoo's "[TSS04]", Gmail's 4.7.28).
//
// A rule is a pattern on the reply and an action: suspend the destination for a while, scale
// its rate down, or bounce. Patterns are matched against one line of text, the match text:
//   "CODE ENHANCED TEXT", e.g. "421 4.7.0 Too many connections"
// (ENHANCED only when the reply gave a well-formed one; CR, LF, tabs and other control bytes of
// a multi-line reply become spaces so a pattern matches however the server folded its text).
// A pattern is either a case-insensitive substring, or a std::regex (ECMAScript, icase) searched
// anywhere in the match text; "^4\d\d " anchors it to the code.
//
// The first rule that matches wins, so specific rules go before general ones.
//
// Bounded, because the reply is untrusted: only the first kMaxResponseTextBytes of the reply
// text are looked at; a pattern is at most kMaxResponsePatternBytes and a rule set at most
// kMaxResponseRules rules (make() refuses more, with an error value). With libstdc++ regexes run
// on its non-backtracking executor (see response_rules.cpp): stack use does not grow with the
// reply, and back-references are refused. A search that still fails counts as "no match".
//
// A ResponseRules is immutable after make(): any thread may match with it (delivery matches on
// its event-loop thread and hands the rule to the scheduler thread's DomainShaper).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "delivery/delivery_outcome.h"

namespace bulkq {

inline constexpr std::size_t kMaxResponseTextBytes = 4096;
inline constexpr std::size_t kMaxResponsePatternBytes = 512;
inline constexpr std::size_t kMaxResponseRules = 256;
// Longest suspension a rule may ask for; beyond a day it is an outage, not shaping, and an
// admin pauses the domain instead (bulkqctl pause).
inline constexpr std::chrono::seconds kMaxResponseSuspend = std::chrono::hours(24);

enum class ResponseAction : std::uint8_t {
  suspend,     // start nothing for the destination for `suspend`, then resume more slowly
  scale_rate,  // multiply the destination's rate by `rate_factor` (0 < factor < 1)
  bounce,      // bounce the recipient now instead of retrying; the shaper ignores it
};

enum class PatternSyntax : std::uint8_t {
  substring,  // case-insensitive (ASCII) substring of the match text
  regex,      // std::regex, ECMAScript grammar, icase, searched anywhere in the match text
};

struct ResponseRule {
  std::string pattern;
  PatternSyntax syntax = PatternSyntax::substring;
  ResponseAction action = ResponseAction::suspend;
  std::chrono::seconds suspend{0};  // suspend: how long, 1 s .. kMaxResponseSuspend
  double rate_factor = 1.0;         // scale_rate: the factor, 0 < factor < 1

  friend bool operator==(const ResponseRule&, const ResponseRule&) = default;
};

[[nodiscard]] std::string_view to_string(ResponseAction action);  // "scale_rate"
[[nodiscard]] std::string_view to_string(PatternSyntax syntax);   // "regex"

// The text patterns are matched against (see the file comment), at most
// kMaxResponseTextBytes + 24 bytes.
[[nodiscard]] std::string response_match_text(const SmtpStatus& reply);

struct ResponseRulesResult;

class ResponseRules {
 public:
  // No rules: match() finds nothing.
  ResponseRules() = default;

  // Checks and compiles `rules`. The error names the rule by its 1-based position and says what
  // is wrong with it (empty or too long pattern, bad regular expression and why, a suspension
  // outside 1 s .. 24 h, a factor outside (0, 1)); fields an action does not use are ignored.
  [[nodiscard]] static ResponseRulesResult make(std::vector<ResponseRule> rules);

  // The first rule whose pattern matches the reply; nullptr when none does. The pointer stays
  // valid as long as this ResponseRules does.
  [[nodiscard]] const ResponseRule* match(const SmtpStatus& reply) const;

  [[nodiscard]] const std::vector<ResponseRule>& rules() const { return rules_; }

 private:
  // One rule, ready to match: the pattern lower-cased (substring) or compiled (regex).
  struct CompiledPattern {
    std::string lowered;
    std::optional<std::regex> regex;
  };

  std::vector<ResponseRule> rules_;
  std::vector<CompiledPattern> compiled_;  // parallel to rules_
};

struct ResponseRulesResult {
  ResponseRules rules;  // set when ok()
  std::string error;    // set when !ok()
  [[nodiscard]] bool ok() const { return error.empty(); }
};

// Rules for the well-known throttling replies of large mailbox providers, most specific first.
// None bounces: a reply the rules do not know still gets the adaptive shaper's treatment, and a
// 5xx bounces through classify_reply() anyway. Callers may put their own rules in front.
[[nodiscard]] std::vector<ResponseRule> default_response_rules();

}  // namespace bulkq
