// Fuzzes EHLO capability parsing and the commands built from what it finds: no input may crash
// them, what is kept stays within its bounds, and MAIL FROM / RCPT TO lines built against any
// capabilities are single CRLF-terminated command lines.
//
// Input: the bytes are a server's EHLO reply. It is parsed twice: as wire bytes through
// SmtpReplyParser, and as the lines of a 250 reply split at '\n' (reaching lines the wire grammar
// would refuse). Its first line, cut short, also serves as the envelope addresses.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "delivery/ehlo_capabilities.h"
#include "delivery/smtp_commands.h"
#include "delivery/smtp_reply.h"

namespace {

bool is_single_command_line(const std::string& line) {
  if (line.size() < 2 || line.compare(line.size() - 2, 2, "\r\n") != 0) return false;
  return line.find_first_of(std::string_view("\r\n\0", 3)) == line.size() - 2;
}

void check(const bulkq::EhloCapabilities& caps, std::string_view address) {
  if (caps.greeting_domain.size() > bulkq::kMaxGreetingDomainLength) std::abort();
  if (caps.auth_mechanisms.size() > bulkq::kMaxAuthMechanisms) std::abort();
  for (const std::string& mechanism : caps.auth_mechanisms) {
    if (mechanism.empty() || mechanism.size() > bulkq::kMaxAuthMechanismLength) std::abort();
    for (const char c : mechanism) {
      const bool valid = (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
      if (!valid) std::abort();
    }
  }
  if (caps.size_limit && (!caps.size || *caps.size_limit == 0)) std::abort();

  bulkq::MailFromParameters mail;
  mail.size = address.size();
  mail.eight_bit_mime = true;
  mail.ret = bulkq::DsnReturn::full;
  mail.envid = std::string(address.substr(0, 40));
  const bulkq::SmtpCommandLine mail_from = bulkq::mail_from_command(address, mail, caps);
  if (mail_from.ok() != (mail_from.line.size() > 0)) std::abort();
  if (mail_from.ok() && !is_single_command_line(mail_from.line)) std::abort();

  bulkq::RcptToParameters rcpt;
  rcpt.notify.failure = rcpt.notify.delay = true;
  rcpt.orcpt = std::string(address);
  const bulkq::SmtpCommandLine rcpt_to = bulkq::rcpt_to_command(address, rcpt, caps);
  if (rcpt_to.ok() != (rcpt_to.line.size() > 0)) std::abort();
  if (rcpt_to.ok() && !is_single_command_line(rcpt_to.line)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::string_view address = input.substr(0, input.find('\n')).substr(0, 600);

  bulkq::SmtpReplyParser parser;
  parser.feed(input);
  const bulkq::SmtpReplyParseStep step = parser.next();
  if (step.status == bulkq::SmtpReplyStatus::reply) {
    const bulkq::EhloCapabilitiesResult result = bulkq::parse_ehlo_capabilities(step.reply);
    if (result.ok() != (step.reply.code == 250)) std::abort();
    check(result.capabilities, address);
  }

  bulkq::SmtpReply lines;
  lines.code = 250;
  std::size_t pos = 0;
  while (pos <= input.size() && lines.lines.size() < bulkq::kMaxSmtpReplyLines) {
    const std::size_t end = std::min(input.find('\n', pos), input.size());
    lines.lines.emplace_back(input.substr(pos, end - pos));
    pos = end + 1;
  }
  const bulkq::EhloCapabilitiesResult result = bulkq::parse_ehlo_capabilities(lines);
  if (!result.ok()) std::abort();
  check(result.capabilities, address);
  return 0;
}
