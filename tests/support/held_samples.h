// The real Postfix held files kept as test oracles (tests/data/postfix/held/README says how they
// were made), and a whole-file reader for them. Test-only, header-only.
#pragma once

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace bulkq::testing {

inline const std::string kHeldDir = BULKQ_POSTFIX_HELD_DIR;

// Held files produced by a throwaway Postfix 3.7, each with NAME.postcat beside it.
inline const std::vector<std::string> kHeldFiles = {
    "one_rcpt",       "two_rcpt",        "long_line",   "utf8_8bit",    "dsn",
    "bcc_sendmail_t", "alias_expansion", "null_sender", "milter_edits", "done_recipient"};

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace bulkq::testing
