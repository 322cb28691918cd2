// BulkRules: which messages bulkq takes over from the MTA, and classify(), the decision.
//
// The rules come from bulkq.toml's [bulk] table (config_parser.cpp checks every entry); the
// evidence is what one message's milter callbacks gathered. classify() runs on the milter thread
// at end-of-message: pure, no I/O, no allocation beyond the reason text, so it never stalls the
// MTA. Any one rule matching makes a message bulk; the reason names the first rule that matched,
// in the order the fields below are declared, for the log line that says why a message was held.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "intake/client_network.h"

namespace bulkq {

inline constexpr std::uint32_t kMaxMinRecipients = 1000000;

struct BulkRules {
  // (a) A Precedence header whose value, trimmed, without a trailing "(comment)", equals one of
  // these, ignoring ASCII case. Empty: rule off.
  std::vector<std::string> precedence_values{"bulk", "list"};
  // (b) A header of this name (any case; "" = rule off) whose trimmed value equals one of
  // header_values, ignoring ASCII case; with no header_values, the header being present is enough.
  std::string header_name;
  std::vector<std::string> header_values;
  // (c) A List-Unsubscribe header, whatever its value.
  bool list_unsubscribe = true;
  // (d) At least this many envelope recipients; 0 = rule off.
  std::uint32_t min_recipients = 0;
  // (e) The client authenticated with one of these SASL logins (compared exactly).
  std::vector<std::string> sasl_logins;
  // (f) The client address is in one of these networks.
  std::vector<ClientNetwork> client_networks;
  // (g) The envelope sender's domain, canonical (see normalise_domain), equals one of these; an
  // entry with a leading "." (".example.com") matches every subdomain of it but not itself.
  std::vector<std::string> sender_domains;

  friend bool operator==(const BulkRules&, const BulkRules&) = default;
};

struct HeaderField {
  std::string name;   // as the message spells it
  std::string value;  // as the milter hands it over (leading space and folding included)
};

// What the milter callbacks gathered about one message.
struct MessageEvidence {
  std::vector<HeaderField> headers;  // only the fields is_watched_header() asks for
  std::size_t recipient_count = 0;
  std::string sasl_login;      // "" when the client did not authenticate
  std::string client_address;  // "192.0.2.7", "2001:db8::7", "::ffff:192.0.2.7"; "" if unknown
  std::string sender_domain;   // canonical; "" for the null sender
};

struct BulkVerdict {
  bool bulk = false;
  std::string reason;  // set when bulk: the first rule that matched, for a log line
};

[[nodiscard]] BulkVerdict classify(const BulkRules& rules, const MessageEvidence& evidence);

// The header fields the milter must keep for classify(), in the rules' order; for the header
// callback, is_watched_header() answers the same question for one field name.
[[nodiscard]] std::vector<std::string> watched_header_names(const BulkRules& rules);
[[nodiscard]] bool is_watched_header(const BulkRules& rules, std::string_view field_name);

}  // namespace bulkq
