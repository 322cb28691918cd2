#include "intake/bulk_rules.h"

#include <algorithm>
#include <optional>
#include <utility>

namespace bulkq {
namespace {

constexpr std::string_view kPrecedence = "Precedence";
constexpr std::string_view kListUnsubscribe = "List-Unsubscribe";

char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return ascii_lower(x) == ascii_lower(y);
         });
}

// Header values arrive with their leading space and, when folded, CR/LF and tabs.
std::string_view trimmed(std::string_view text) {
  constexpr std::string_view kSpace = " \t\r\n";
  const std::size_t first = text.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(kSpace) - first + 1);
}

// "bulk (sent by the list server)" → "bulk": RFC 5322 lets a structured field carry a comment.
std::string_view without_comment(std::string_view value) {
  return trimmed(value.substr(0, value.find('(')));
}

// The configured value, trimmed, that `value` matches; nullopt when none does.
std::optional<std::string_view> matching_value(const std::vector<std::string>& values,
                                               std::string_view value) {
  for (const std::string& candidate : values) {
    if (equal_ignoring_case(trimmed(candidate), value)) return trimmed(candidate);
  }
  return std::nullopt;
}

BulkVerdict bulk_because(std::string reason) {
  return {true, std::move(reason)};
}

std::optional<BulkVerdict> precedence_rule(const BulkRules& rules,
                                           const MessageEvidence& evidence) {
  if (rules.precedence_values.empty()) return std::nullopt;
  for (const HeaderField& field : evidence.headers) {
    if (!equal_ignoring_case(field.name, kPrecedence)) continue;
    if (const auto value = matching_value(rules.precedence_values, without_comment(field.value))) {
      return bulk_because("header Precedence: " + std::string(*value));
    }
  }
  return std::nullopt;
}

std::optional<BulkVerdict> configured_header_rule(const BulkRules& rules,
                                                  const MessageEvidence& evidence) {
  if (rules.header_name.empty()) return std::nullopt;
  for (const HeaderField& field : evidence.headers) {
    if (!equal_ignoring_case(field.name, rules.header_name)) continue;
    if (rules.header_values.empty())
      return bulk_because("header " + rules.header_name + " present");
    if (const auto value = matching_value(rules.header_values, trimmed(field.value))) {
      return bulk_because("header " + rules.header_name + ": " + std::string(*value));
    }
  }
  return std::nullopt;
}

std::optional<BulkVerdict> list_unsubscribe_rule(const BulkRules& rules,
                                                 const MessageEvidence& evidence) {
  if (!rules.list_unsubscribe) return std::nullopt;
  const bool present = std::any_of(
      evidence.headers.begin(), evidence.headers.end(),
      [](const HeaderField& f) { return equal_ignoring_case(f.name, kListUnsubscribe); });
  if (!present) return std::nullopt;
  return bulk_because(std::string(kListUnsubscribe) + " present");
}

std::optional<BulkVerdict> recipient_count_rule(const BulkRules& rules,
                                                const MessageEvidence& evidence) {
  if (rules.min_recipients == 0 || evidence.recipient_count < rules.min_recipients) {
    return std::nullopt;
  }
  return bulk_because(std::to_string(evidence.recipient_count) +
                      " recipients >= " + std::to_string(rules.min_recipients));
}

std::optional<BulkVerdict> sasl_login_rule(const BulkRules& rules,
                                           const MessageEvidence& evidence) {
  if (evidence.sasl_login.empty()) return std::nullopt;
  const auto it =
      std::find(rules.sasl_logins.begin(), rules.sasl_logins.end(), evidence.sasl_login);
  if (it == rules.sasl_logins.end()) return std::nullopt;
  return bulk_because("SASL login " + *it);
}

// The address is quoted only once a network contains it, and then it is a valid address.
std::optional<BulkVerdict> client_network_rule(const BulkRules& rules,
                                               const MessageEvidence& evidence) {
  if (evidence.client_address.empty()) return std::nullopt;
  for (const ClientNetwork& network : rules.client_networks) {
    if (network.contains(evidence.client_address)) {
      return bulk_because("client " + evidence.client_address + " in " + network.text);
    }
  }
  return std::nullopt;
}

bool domain_matches(std::string_view domain, std::string_view entry) {
  if (entry.empty() || entry.front() != '.') return domain == entry;
  return domain.size() > entry.size() && domain.ends_with(entry);
}

// The sender domain is canonical, so it is safe to show as it is.
std::optional<BulkVerdict> sender_domain_rule(const BulkRules& rules,
                                              const MessageEvidence& evidence) {
  if (evidence.sender_domain.empty()) return std::nullopt;
  for (const std::string& entry : rules.sender_domains) {
    if (!domain_matches(evidence.sender_domain, entry)) continue;
    if (entry == evidence.sender_domain) return bulk_because("sender domain " + entry);
    return bulk_because("sender domain " + evidence.sender_domain + " in " + entry);
  }
  return std::nullopt;
}

}  // namespace

BulkVerdict classify(const BulkRules& rules, const MessageEvidence& evidence) {
  using Rule = std::optional<BulkVerdict> (*)(const BulkRules&, const MessageEvidence&);
  constexpr Rule kRules[] = {precedence_rule,      configured_header_rule, list_unsubscribe_rule,
                             recipient_count_rule, sasl_login_rule,        client_network_rule,
                             sender_domain_rule};
  for (Rule rule : kRules) {
    if (std::optional<BulkVerdict> verdict = rule(rules, evidence)) return std::move(*verdict);
  }
  return {};
}

std::vector<std::string> watched_header_names(const BulkRules& rules) {
  std::vector<std::string> names;
  if (!rules.precedence_values.empty()) names.emplace_back(kPrecedence);
  if (!rules.header_name.empty() &&
      !std::any_of(names.begin(), names.end(), [&](const std::string& n) {
        return equal_ignoring_case(n, rules.header_name);
      })) {
    names.push_back(rules.header_name);
  }
  if (rules.list_unsubscribe && !std::any_of(names.begin(), names.end(), [](const std::string& n) {
        return equal_ignoring_case(n, kListUnsubscribe);
      })) {
    names.emplace_back(kListUnsubscribe);
  }
  return names;
}

bool is_watched_header(const BulkRules& rules, std::string_view field_name) {
  return (!rules.precedence_values.empty() && equal_ignoring_case(field_name, kPrecedence)) ||
         (!rules.header_name.empty() && equal_ignoring_case(field_name, rules.header_name)) ||
         (rules.list_unsubscribe && equal_ignoring_case(field_name, kListUnsubscribe));
}

}  // namespace bulkq
