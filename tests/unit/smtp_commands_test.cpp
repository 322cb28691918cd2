// SMTP command lines: parameters only as the server offers them, xtext, and refused addresses.
#include "delivery/smtp_commands.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "delivery/xtext.h"

using namespace bulkq;

namespace {

EhloCapabilities offers_everything() {
  EhloCapabilities caps;
  caps.pipelining = caps.starttls = caps.size = caps.eight_bit_mime = caps.smtputf8 = true;
  caps.enhanced_status_codes = caps.chunking = caps.dsn = true;
  caps.size_limit = 10'000'000;
  return caps;
}

}  // namespace

TEST_CASE("xtext encoding", "[delivery][xtext]") {
  struct Case {
    std::string input;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"", ""},
      {"user@example.com", "user@example.com"},
      {"a+b=c", "a+2Bb+3Dc"},
      {"sp ace", "sp+20ace"},
      {"!~", "!~"},  // 33 and 126 are the edges that stand for themselves
      {std::string("\x00\x1f\x7f", 3), "+00+1F+7F"},
      {"\r\n", "+0D+0A"},
      {"caf\xc3\xa9", "caf+C3+A9"},
      {"\xff", "+FF"},
      {"++", "+2B+2B"},
  };
  for (const Case& c : cases) {
    INFO(c.input);
    CHECK(xtext_encode(c.input) == c.expected);
  }
}

TEST_CASE("MAIL FROM carries only the parameters the server offers", "[delivery][commands]") {
  MailFromParameters all;
  all.size = 12345;
  all.eight_bit_mime = true;
  all.ret = DsnReturn::headers;
  all.envid = "QUEUE+ID=1";

  struct Case {
    std::string name;
    EhloCapabilities server;
    std::string expected;
  };
  EhloCapabilities nothing;
  EhloCapabilities size_only;
  size_only.size = true;
  EhloCapabilities no_dsn = offers_everything();
  no_dsn.dsn = false;
  const std::vector<Case> cases = {
      {"everything", offers_everything(),
       "MAIL FROM:<sender@example.com> SIZE=12345 BODY=8BITMIME RET=HDRS ENVID=QUEUE+2BID+3D1\r\n"},
      {"nothing (HELO)", nothing, "MAIL FROM:<sender@example.com>\r\n"},
      {"SIZE without a limit", size_only, "MAIL FROM:<sender@example.com> SIZE=12345\r\n"},
      {"no DSN", no_dsn, "MAIL FROM:<sender@example.com> SIZE=12345 BODY=8BITMIME\r\n"},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    const SmtpCommandLine command = mail_from_command("sender@example.com", all, c.server);
    REQUIRE(command.ok());
    CHECK(command.line == c.expected);
  }

  MailFromParameters plain;
  CHECK(mail_from_command("", plain, offers_everything()).line == "MAIL FROM:<>\r\n");
  MailFromParameters full;
  full.ret = DsnReturn::full;
  CHECK(mail_from_command("", full, offers_everything()).line == "MAIL FROM:<> RET=FULL\r\n");
}

TEST_CASE("SMTPUTF8 and SIZE limits", "[delivery][commands]") {
  EhloCapabilities no_utf8 = offers_everything();
  no_utf8.smtputf8 = false;
  MailFromParameters utf8;
  utf8.smtputf8 = true;
  CHECK(mail_from_command("a@example.com", utf8, offers_everything()).line ==
        "MAIL FROM:<a@example.com> SMTPUTF8\r\n");
  CHECK(mail_from_command("a@example.com", utf8, no_utf8).error ==
        SmtpCommandError::smtputf8_not_offered);
  // A UTF-8 sender needs SMTPUTF8 even when the caller did not say so.
  CHECK(mail_from_command("j\xc3\xb6rg@example.com", {}, offers_everything()).line ==
        "MAIL FROM:<j\xc3\xb6rg@example.com> SMTPUTF8\r\n");
  CHECK(mail_from_command("j\xc3\xb6rg@example.com", {}, no_utf8).error ==
        SmtpCommandError::smtputf8_not_offered);
  CHECK(rcpt_to_command("\xc3\xbc@example.com", {}, no_utf8).error ==
        SmtpCommandError::smtputf8_not_offered);
  CHECK(rcpt_to_command("\xc3\xbc@example.com", {}, offers_everything()).ok());

  MailFromParameters sized;
  sized.size = 10'000'000;
  CHECK(mail_from_command("a@example.com", sized, offers_everything()).ok());
  sized.size = 10'000'001;
  CHECK(mail_from_command("a@example.com", sized, offers_everything()).error ==
        SmtpCommandError::message_too_large);
  EhloCapabilities unlimited = offers_everything();
  unlimited.size_limit.reset();
  CHECK(mail_from_command("a@example.com", sized, unlimited).line ==
        "MAIL FROM:<a@example.com> SIZE=10000001\r\n");
}

TEST_CASE("RCPT TO with DSN parameters", "[delivery][commands]") {
  struct Case {
    std::string name;
    DsnNotify notify;
    std::string orcpt;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"none", {}, "", "RCPT TO:<b@example.com>\r\n"},
      {"never", {true, false, false, false}, "", "RCPT TO:<b@example.com> NOTIFY=NEVER\r\n"},
      {"all three",
       {false, true, true, true},
       "",
       "RCPT TO:<b@example.com> NOTIFY=SUCCESS,FAILURE,DELAY\r\n"},
      {"failure,delay",
       {false, false, true, true},
       "",
       "RCPT TO:<b@example.com> NOTIFY=FAILURE,DELAY\r\n"},
      {"orcpt",
       {false, false, true, false},
       "Orig+Box@example.com",
       "RCPT TO:<b@example.com> NOTIFY=FAILURE ORCPT=rfc822;Orig+2BBox@example.com\r\n"},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    RcptToParameters parameters;
    parameters.notify = c.notify;
    parameters.orcpt = c.orcpt;
    const SmtpCommandLine with_dsn =
        rcpt_to_command("b@example.com", parameters, offers_everything());
    REQUIRE(with_dsn.ok());
    CHECK(with_dsn.line == c.expected);
    EhloCapabilities no_dsn = offers_everything();
    no_dsn.dsn = false;
    CHECK(rcpt_to_command("b@example.com", parameters, no_dsn).line ==
          "RCPT TO:<b@example.com>\r\n");
  }

  RcptToParameters contradictory;
  contradictory.notify = {true, true, false, false};
  CHECK(rcpt_to_command("b@example.com", contradictory, offers_everything()).error ==
        SmtpCommandError::notify_never_with_others);
  CHECK(rcpt_to_command("", {}, offers_everything()).error == SmtpCommandError::empty_recipient);

  RcptToParameters long_orcpt;
  long_orcpt.orcpt = std::string(200, '+') + "@example.com";  // 3 bytes each once encoded
  CHECK(rcpt_to_command("b@example.com", long_orcpt, offers_everything()).error ==
        SmtpCommandError::orcpt_too_long);
  RcptToParameters bad_orcpt;
  bad_orcpt.orcpt = "x@example.com\r\nQUIT";
  CHECK(rcpt_to_command("b@example.com", bad_orcpt, offers_everything()).error ==
        SmtpCommandError::address_has_control_bytes);
}

TEST_CASE("addresses that could break the command line are refused", "[delivery][commands]") {
  struct Case {
    std::string address;
    SmtpCommandError error;
  };
  const std::vector<Case> cases = {
      {"a@example.com\r\nRCPT TO:<evil@example.com>", SmtpCommandError::address_has_control_bytes},
      {"a@example.com\n", SmtpCommandError::address_has_control_bytes},
      {"a\r@example.com", SmtpCommandError::address_has_control_bytes},
      {std::string("a\0@example.com", 15), SmtpCommandError::address_has_control_bytes},
      {"a\t@example.com", SmtpCommandError::address_has_control_bytes},
      {"a\x7f@example.com", SmtpCommandError::address_has_control_bytes},
      {std::string(kMaxSmtpCommandAddressLength + 1, 'a'), SmtpCommandError::address_too_long},
  };
  for (const Case& c : cases) {
    INFO(c.address);
    CHECK(mail_from_command(c.address, {}, offers_everything()).error == c.error);
    CHECK(rcpt_to_command(c.address, {}, offers_everything()).error == c.error);
  }
  CHECK(rcpt_to_command(std::string(kMaxSmtpCommandAddressLength, 'a'), {}, offers_everything())
            .ok());
  CHECK(to_string(SmtpCommandError::address_too_long) == "address too long");

  MailFromParameters long_envid;
  long_envid.envid = std::string(101, 'e');
  CHECK(mail_from_command("a@example.com", long_envid, offers_everything()).error ==
        SmtpCommandError::envid_too_long);
  long_envid.envid = std::string(100, 'e');
  CHECK(mail_from_command("a@example.com", long_envid, offers_everything()).ok());
  long_envid.envid = std::string(34, '=');  // 102 bytes once encoded
  CHECK(mail_from_command("a@example.com", long_envid, offers_everything()).error ==
        SmtpCommandError::envid_too_long);
}

TEST_CASE("EHLO and HELO names", "[delivery][commands]") {
  CHECK(ehlo_command("bulk.example.com").line == "EHLO bulk.example.com\r\n");
  CHECK(helo_command("[192.0.2.1]").line == "HELO [192.0.2.1]\r\n");
  for (const std::string& bad : {std::string(), std::string("a b"), std::string("a\r\nQUIT"),
                                 std::string(kMaxClientNameLength + 1, 'n')}) {
    INFO(bad);
    CHECK(ehlo_command(bad).error == SmtpCommandError::invalid_client_name);
  }
  CHECK(kSmtpDataCommand == "DATA\r\n");
  CHECK(kSmtpQuitCommand == "QUIT\r\n");
}
