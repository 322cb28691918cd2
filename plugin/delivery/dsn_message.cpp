#include "delivery/dsn_message.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>

namespace bulkq {
namespace {

constexpr std::size_t kSoftWidth = 78;   // RFC 5322 §2.1.1 SHOULD
constexpr std::size_t kHardWidth = 998;  // RFC 5322 §2.1.1 MUST

// SplitMix64: the boundary and Message-ID tag come from the caller's seed, so a test can predict
// them and two DSNs with different seeds never share a boundary by accident.
std::uint64_t next_random(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::string hex(std::uint64_t value, int digits) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(static_cast<std::size_t>(digits), '0');
  for (int i = digits - 1; i >= 0; --i) {
    out[static_cast<std::size_t>(i)] = kHex[value & 0x0f];
    value >>= 4;
  }
  return out;
}

// Untrusted text (server replies, addresses) made fit for a 7-bit header field or the text
// part: control bytes become spaces (a multi-line reply becomes one line), bytes outside ASCII
// become '?', runs of spaces collapse and the ends are trimmed.
std::string safe_ascii(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    char shown = ch;
    if (c < 0x20 || c == 0x7f) {
      shown = ' ';
    } else if (c > 0x7f) {
      shown = '?';
    }
    if (shown == ' ' && (out.empty() || out.back() == ' ')) continue;
    out += shown;
  }
  while (!out.empty() && out.back() == ' ')
    out.pop_back();
  return out;
}

bool plain_host_name(std::string_view host) {
  return !host.empty() && host.size() <= 253 && std::all_of(host.begin(), host.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-';
  });
}

// Words of `text` (split on spaces) laid out on lines: the first starts with `head`, the others
// with `continuation`; a line breaks before a word that would pass `soft` bytes, and a word that
// alone would pass kHardWidth is cut there. An empty continuation means RFC 5322 folding: the
// space between two words starts the next line.
std::vector<std::string> wrap_words(std::string_view head, std::string_view text,
                                    std::string_view continuation, std::size_t soft) {
  std::vector<std::string> lines;
  std::string line(head);
  std::size_t words = 0;  // words on the current line
  const auto separator = [&]() -> std::size_t {
    if (words > 0) return 1;
    if (lines.empty()) return head.empty() ? 0 : 1;
    return continuation.empty() ? 1 : 0;
  };
  const auto flush = [&] {
    lines.push_back(std::move(line));
    line.assign(continuation);
    words = 0;
  };
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t end = std::min(text.find(' ', pos), text.size());
    std::string_view word = text.substr(pos, end - pos);
    pos = end + 1;
    if (word.empty()) continue;
    if (words > 0 && line.size() + 1 + word.size() > soft) flush();
    while (line.size() + separator() + word.size() > kHardWidth) {
      const std::size_t sep = separator();
      const std::size_t room = kHardWidth - line.size() - sep;
      line.append(sep, ' ');
      line.append(word.substr(0, room));
      word.remove_prefix(room);
      flush();
    }
    line.append(separator(), ' ');
    line.append(word);
    ++words;
  }
  if (lines.empty() || words > 0) lines.push_back(std::move(line));
  return lines;
}

void add_field(std::vector<std::string>& out, std::string_view name, std::string_view value) {
  for (auto& line : fold_field(name, value))
    out.push_back(std::move(line));
}

// The original header lines for the text/rfc822-headers part: up to the first empty line, CR,
// LF, NUL and other controls but TAB turned into spaces, lines over 998 bytes continued on
// space-led lines. Sets `eight_bit` when a byte above 0x7f is kept.
std::vector<std::string> original_header_lines(const std::vector<std::string>& headers,
                                               bool& eight_bit) {
  std::vector<std::string> out;
  for (const std::string& original : headers) {
    if (original.empty()) break;
    std::string line;
    line.reserve(original.size());
    for (const char ch : original) {
      const auto c = static_cast<unsigned char>(ch);
      if ((c < 0x20 && c != '\t') || c == 0x7f) {
        line += ' ';
      } else {
        if (c > 0x7f) eight_bit = true;
        line += ch;
      }
    }
    std::string_view rest = line;
    bool first = true;
    while (!rest.empty()) {
      const std::size_t room = first ? kHardWidth : kHardWidth - 1;
      const std::string_view chunk = rest.substr(0, room);
      out.push_back(first ? std::string(chunk) : " " + std::string(chunk));
      rest.remove_prefix(chunk.size());
      first = false;
    }
  }
  return out;
}

std::vector<std::string> human_part(const DsnInput& input, bool any_failed) {
  std::vector<std::string> out;
  out.push_back("This is the mail system at host " + input.reporting_host + ".");
  out.emplace_back();
  if (any_failed) {
    out.emplace_back("I'm sorry to have to inform you that your message could not");
    out.emplace_back("be delivered to one or more recipients. Its headers are attached below.");
  } else {
    out.emplace_back("####################################################################");
    out.emplace_back("# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #");
    out.emplace_back("####################################################################");
    out.emplace_back();
    out.emplace_back("Your message could not be delivered yet to one or more recipients.");
    out.emplace_back("The mail system will keep trying; its headers are attached below.");
  }
  out.emplace_back();
  out.emplace_back("For further assistance, please send mail to postmaster.");
  out.emplace_back();
  out.emplace_back("If you do so, please include this problem report.");
  out.emplace_back();
  out.emplace_back("                   The mail system");
  for (const DsnRecipient& r : input.recipients) {
    out.emplace_back();
    std::string reason = safe_ascii(r.reason.empty() ? r.diagnostic : r.reason);
    if (reason.empty()) reason = "delivery status " + r.status.to_string();
    const std::string text = "<" + safe_ascii(r.final_recipient) + ">: " + reason;
    for (auto& line : wrap_words("", text, "    ", kSoftWidth))
      out.push_back(std::move(line));
  }
  return out;
}

std::vector<std::string> status_part(const DsnInput& input) {
  std::vector<std::string> out;
  add_field(out, "Reporting-MTA", "dns; " + input.reporting_host);
  std::string queue_id = safe_ascii(input.queue_id);
  if (!queue_id.empty()) add_field(out, "X-Queue-ID", queue_id);
  if (!input.sender.empty())
    add_field(out, "X-Original-Sender", "rfc822; " + safe_ascii(input.sender));
  add_field(out, "Arrival-Date", rfc5322_date(input.arrival));
  for (const DsnRecipient& r : input.recipients) {
    out.emplace_back();
    add_field(out, "Final-Recipient", "rfc822; " + safe_ascii(r.final_recipient));
    if (!r.original_recipient.empty()) {
      add_field(out, "Original-Recipient", "rfc822; " + safe_ascii(r.original_recipient));
    }
    add_field(out, "Action", r.action == DsnAction::failed ? "failed" : "delayed");
    add_field(out, "Status", r.status.to_string());
    const std::string remote = safe_ascii(r.remote_mta);
    if (!remote.empty()) add_field(out, "Remote-MTA", "dns; " + remote);
    const std::string diagnostic = safe_ascii(r.diagnostic);
    if (!diagnostic.empty()) add_field(out, "Diagnostic-Code", "smtp; " + diagnostic);
    if (r.last_attempt != TimePoint{}) {
      add_field(out, "Last-Attempt-Date", rfc5322_date(r.last_attempt));
    }
  }
  return out;
}

bool boundary_occurs(const std::string& boundary, const std::vector<std::string>& lines) {
  const std::string marker = "--" + boundary;
  return std::any_of(lines.begin(), lines.end(), [&](const std::string& line) {
    return line.compare(0, marker.size(), marker) == 0;
  });
}

std::string message_id_time(TimePoint t) {
  using namespace std::chrono;
  const auto secs = floor<seconds>(t);
  const auto day = floor<days>(secs);
  const year_month_day ymd{day};
  const hh_mm_ss hms{secs - day};
  std::array<char, 32> buf{};
  std::snprintf(buf.data(), buf.size(), "%04d%02u%02u%02ld%02ld%02lld",
                static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), static_cast<long>(hms.hours().count()),
                static_cast<long>(hms.minutes().count()),
                static_cast<long long>(hms.seconds().count()));
  return buf.data();
}

}  // namespace

std::string_view to_string(DsnRefusal refusal) {
  switch (refusal) {
    case DsnRefusal::none:
      return "ok";
    case DsnRefusal::null_sender:
      return "no DSN for <>";
    case DsnRefusal::no_recipients:
      return "no DSN without recipients";
    case DsnRefusal::bad_reporting_host:
      return "no DSN: the reporting host name is not usable";
  }
  return "no DSN";
}

std::string rfc5322_date(TimePoint t) {
  using namespace std::chrono;
  static constexpr std::array<const char*, 7> kDays = {"Sun", "Mon", "Tue", "Wed",
                                                       "Thu", "Fri", "Sat"};
  static constexpr std::array<const char*, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const auto secs = floor<seconds>(t);
  const auto day = floor<days>(secs);
  const year_month_day ymd{day};
  const weekday wd{day};
  const hh_mm_ss hms{secs - day};
  std::array<char, 48> buf{};
  std::snprintf(buf.data(), buf.size(), "%s, %u %s %04d %02ld:%02ld:%02lld +0000",
                kDays[wd.c_encoding()], static_cast<unsigned>(ymd.day()),
                kMonths[static_cast<unsigned>(ymd.month()) - 1], static_cast<int>(ymd.year()),
                static_cast<long>(hms.hours().count()), static_cast<long>(hms.minutes().count()),
                static_cast<long long>(hms.seconds().count()));
  return buf.data();
}

std::vector<std::string> fold_field(std::string_view name, std::string_view value) {
  return wrap_words(std::string(name) + ":", value, "", kSoftWidth);
}

std::string join_crlf(const std::vector<std::string>& lines) {
  std::size_t size = 0;
  for (const auto& line : lines)
    size += line.size() + 2;
  std::string out;
  out.reserve(size);
  for (const auto& line : lines) {
    out += line;
    out += "\r\n";
  }
  return out;
}

DsnMessage compose_dsn(const DsnInput& input) {
  DsnMessage dsn;
  // Sanity checks, most important first: a bounce is never answered with a bounce.
  if (input.sender.empty()) {
    dsn.refusal = DsnRefusal::null_sender;
    return dsn;
  }
  if (input.recipients.empty()) {
    dsn.refusal = DsnRefusal::no_recipients;
    return dsn;
  }
  if (!plain_host_name(input.reporting_host)) {
    dsn.refusal = DsnRefusal::bad_reporting_host;
    return dsn;
  }

  const bool any_failed =
      std::any_of(input.recipients.begin(), input.recipients.end(),
                  [](const DsnRecipient& r) { return r.action == DsnAction::failed; });
  bool eight_bit = false;
  const std::vector<std::string> human = human_part(input, any_failed);
  const std::vector<std::string> status = status_part(input);
  const std::vector<std::string> headers = original_header_lines(input.original_headers, eight_bit);

  std::uint64_t random = input.boundary_seed;
  std::string boundary;
  do {
    boundary = "bulkq-" + hex(next_random(random), 16) + "-" + hex(next_random(random), 16);
  } while (boundary_occurs(boundary, human) || boundary_occurs(boundary, status) ||
           boundary_occurs(boundary, headers));

  std::string queue_id;
  for (const char c : input.queue_id) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) queue_id += c;
  }
  if (queue_id.empty()) queue_id = "dsn";
  queue_id = queue_id.substr(0, 64);
  const std::string message_id = "<" + message_id_time(input.now) + "." + queue_id + "." +
                                 hex(next_random(random), 8) + "@" + input.reporting_host + ">";

  std::vector<std::string>& out = dsn.lines;
  add_field(out, "From", "MAILER-DAEMON@" + input.reporting_host + " (Mail Delivery System)");
  add_field(out, "To", "<" + safe_ascii(input.sender) + ">");
  add_field(
      out, "Subject",
      any_failed ? "Undelivered Mail Returned to Sender" : "Delayed Mail (still being retried)");
  add_field(out, "Date", rfc5322_date(input.now));
  add_field(out, "Message-ID", message_id);
  add_field(out, "Auto-Submitted", "auto-replied");
  add_field(out, "MIME-Version", "1.0");
  add_field(out, "Content-Type",
            "multipart/report; report-type=delivery-status; boundary=\"" + boundary + "\"");
  add_field(out, "Content-Transfer-Encoding", eight_bit ? "8bit" : "7bit");
  out.emplace_back();
  out.emplace_back("This is a MIME-encapsulated message.");

  const auto part = [&](std::string_view description, std::string_view type,
                        const std::vector<std::string>& body, bool body_eight_bit) {
    out.emplace_back();
    out.push_back("--" + boundary);
    add_field(out, "Content-Description", description);
    add_field(out, "Content-Type", type);
    if (body_eight_bit) add_field(out, "Content-Transfer-Encoding", "8bit");
    out.emplace_back();
    out.insert(out.end(), body.begin(), body.end());
  };
  part("Notification", "text/plain; charset=us-ascii", human, false);
  part("Delivery report", "message/delivery-status", status, false);
  part("Undelivered Message Headers", "text/rfc822-headers", headers, eight_bit);
  out.emplace_back();
  out.push_back("--" + boundary + "--");
  return dsn;
}

}  // namespace bulkq
