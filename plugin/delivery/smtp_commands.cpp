// SMTP command formatting: see smtp_commands.h. Pure.
#include "delivery/smtp_commands.h"

#include "delivery/xtext.h"

namespace bulkq {
namespace {

bool is_control(unsigned char byte) {
  return byte < 0x20 || byte == 0x7f;
}

bool has_non_ascii(std::string_view text) {
  for (const char c : text) {
    if (static_cast<unsigned char>(c) >= 0x80) return true;
  }
  return false;
}

SmtpCommandError check_address(std::string_view address) {
  if (address.size() > kMaxSmtpCommandAddressLength) return SmtpCommandError::address_too_long;
  for (const char c : address) {
    if (is_control(static_cast<unsigned char>(c))) {
      return SmtpCommandError::address_has_control_bytes;
    }
  }
  return SmtpCommandError::none;
}

SmtpCommandLine failed(SmtpCommandError error) {
  SmtpCommandLine command;
  command.error = error;
  return command;
}

SmtpCommandLine greeting_command(std::string_view verb, std::string_view client_name) {
  if (client_name.empty() || client_name.size() > kMaxClientNameLength) {
    return failed(SmtpCommandError::invalid_client_name);
  }
  for (const char c : client_name) {
    const auto byte = static_cast<unsigned char>(c);
    if (is_control(byte) || c == ' ') return failed(SmtpCommandError::invalid_client_name);
  }
  SmtpCommandLine command;
  command.line.append(verb).append(" ").append(client_name).append("\r\n");
  return command;
}

}  // namespace

std::string_view to_string(SmtpCommandError error) {
  switch (error) {
    case SmtpCommandError::none:
      return "no error";
    case SmtpCommandError::address_has_control_bytes:
      return "address has control bytes";
    case SmtpCommandError::address_too_long:
      return "address too long";
    case SmtpCommandError::empty_recipient:
      return "empty recipient address";
    case SmtpCommandError::smtputf8_not_offered:
      return "SMTPUTF8 is required, but was not offered by the server";
    case SmtpCommandError::message_too_large:
      return "message size exceeds the server's SIZE limit";
    case SmtpCommandError::envid_too_long:
      return "ENVID too long";
    case SmtpCommandError::orcpt_too_long:
      return "ORCPT too long";
    case SmtpCommandError::notify_never_with_others:
      return "NOTIFY=NEVER combined with other NOTIFY values";
    case SmtpCommandError::invalid_client_name:
      return "invalid EHLO/HELO name";
  }
  return "unknown error";
}

SmtpCommandLine ehlo_command(std::string_view client_name) {
  return greeting_command("EHLO", client_name);
}

SmtpCommandLine helo_command(std::string_view client_name) {
  return greeting_command("HELO", client_name);
}

SmtpCommandLine mail_from_command(std::string_view sender, const MailFromParameters& parameters,
                                  const EhloCapabilities& server) {
  if (const SmtpCommandError error = check_address(sender); error != SmtpCommandError::none) {
    return failed(error);
  }
  const bool needs_smtputf8 = parameters.smtputf8 || has_non_ascii(sender);
  if (needs_smtputf8 && !server.smtputf8) return failed(SmtpCommandError::smtputf8_not_offered);
  // Checked even when SIZE was offered without a limit: then there is nothing to exceed.
  if (server.size && server.size_limit && parameters.size &&
      *parameters.size > *server.size_limit) {
    return failed(SmtpCommandError::message_too_large);
  }
  std::string envid;
  if (server.dsn && !parameters.envid.empty()) {
    envid = xtext_encode(parameters.envid);
    if (envid.size() > kMaxEnvidXtextLength) return failed(SmtpCommandError::envid_too_long);
  }

  SmtpCommandLine command;
  std::string& line = command.line;
  line.append("MAIL FROM:<").append(sender).append(">");
  if (server.size && parameters.size)
    line.append(" SIZE=").append(std::to_string(*parameters.size));
  if (server.eight_bit_mime && parameters.eight_bit_mime) line.append(" BODY=8BITMIME");
  if (needs_smtputf8) line.append(" SMTPUTF8");
  if (server.dsn) {
    if (parameters.ret == DsnReturn::full) line.append(" RET=FULL");
    if (parameters.ret == DsnReturn::headers) line.append(" RET=HDRS");
    if (!envid.empty()) line.append(" ENVID=").append(envid);
  }
  line.append("\r\n");
  return command;
}

SmtpCommandLine rcpt_to_command(std::string_view recipient, const RcptToParameters& parameters,
                                const EhloCapabilities& server) {
  if (recipient.empty()) return failed(SmtpCommandError::empty_recipient);
  if (const SmtpCommandError error = check_address(recipient); error != SmtpCommandError::none) {
    return failed(error);
  }
  // The transaction's MAIL FROM said SMTPUTF8 if the message needed it; a UTF-8 recipient still
  // cannot go to a server that does not offer it.
  if (has_non_ascii(recipient) && !server.smtputf8) {
    return failed(SmtpCommandError::smtputf8_not_offered);
  }
  const DsnNotify& notify = parameters.notify;
  if (notify.never && (notify.success || notify.failure || notify.delay)) {
    return failed(SmtpCommandError::notify_never_with_others);
  }
  std::string orcpt;
  if (server.dsn && !parameters.orcpt.empty()) {
    // The ORCPT address is checked like any address: it is untrusted spool data too.
    if (const SmtpCommandError error = check_address(parameters.orcpt);
        error != SmtpCommandError::none) {
      return failed(error);
    }
    orcpt = "rfc822;" + xtext_encode(parameters.orcpt);
    if (orcpt.size() > kMaxOrcptLength) return failed(SmtpCommandError::orcpt_too_long);
  }

  SmtpCommandLine command;
  std::string& line = command.line;
  line.append("RCPT TO:<").append(recipient).append(">");
  if (server.dsn) {
    if (notify.never) {
      line.append(" NOTIFY=NEVER");
    } else if (notify.success || notify.failure || notify.delay) {
      line.append(" NOTIFY=");
      bool first = true;
      const auto add = [&](bool wanted, std::string_view word) {
        if (!wanted) return;
        if (!first) line.append(",");
        line.append(word);
        first = false;
      };
      add(notify.success, "SUCCESS");
      add(notify.failure, "FAILURE");
      add(notify.delay, "DELAY");
    }
    if (!orcpt.empty()) line.append(" ORCPT=").append(orcpt);
  }
  line.append("\r\n");
  return command;
}

}  // namespace bulkq
