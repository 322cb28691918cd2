// SmtpReplyParser: whole replies, replies split anywhere, pipelined replies, and every limit.
#include "delivery/smtp_reply.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

using namespace bulkq;

namespace {

// Feeds `input` in chunks of `chunk` bytes (0: all at once), draining after each feed as the
// delivery client does. Returns the replies, and the error if one came.
struct Drained {
  std::vector<SmtpReply> replies;
  std::string error;
  bool need_more_at_end = false;
};

Drained drain(std::string_view input, std::size_t chunk) {
  SmtpReplyParser parser;
  Drained drained;
  if (chunk == 0) chunk = input.size() + 1;
  for (std::size_t pos = 0; pos <= input.size(); pos += chunk) {
    parser.feed(input.substr(pos, chunk));
    for (;;) {
      SmtpReplyParseStep step = parser.next();
      if (step.status == SmtpReplyStatus::reply) {
        drained.replies.push_back(std::move(step.reply));
        continue;
      }
      if (step.status == SmtpReplyStatus::protocol_error) {
        drained.error = step.error;
        return drained;
      }
      break;
    }
  }
  drained.need_more_at_end = true;
  return drained;
}

SmtpReply reply(std::uint16_t code, std::vector<std::string> lines,
                std::optional<EnhancedStatusCode> enhanced = std::nullopt) {
  SmtpReply r;
  r.code = code;
  r.lines = std::move(lines);
  r.enhanced = enhanced;
  return r;
}

}  // namespace

TEST_CASE("well-formed replies parse the same whether fed whole, byte by byte or in chunks",
          "[delivery][smtp_reply]") {
  struct Case {
    std::string input;
    std::vector<SmtpReply> expected;
  };
  const std::vector<Case> cases = {
      {"220 mx.example.com ESMTP Postfix\r\n", {reply(220, {"mx.example.com ESMTP Postfix"})}},
      {"250 2.0.0 Ok: queued as 4XyZ1\r\n",
       {reply(250, {"2.0.0 Ok: queued as 4XyZ1"}, EnhancedStatusCode{2, 0, 0})}},
      {"354 End data with <CR><LF>.<CR><LF>\r\n",
       {reply(354, {"End data with <CR><LF>.<CR><LF>"})}},
      // A bare code, and a bare LF line ending.
      {"250\r\n", {reply(250, {""})}},
      {"221 Bye\n", {reply(221, {"Bye"})}},
      {"250-mx.example.com\r\n250-PIPELINING\r\n250 SIZE 10240000\r\n",
       {reply(250, {"mx.example.com", "PIPELINING", "SIZE 10240000"})}},
      // "250-" with empty text, mixed line endings inside one reply.
      {"250-\n250-x\r\n250 y\n", {reply(250, {"", "x", "y"})}},
      // Pipelined: MAIL, RCPT, RCPT, DATA replies in one read.
      {"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 <b@example.com>: Recipient address rejected\r\n"
       "354 End data with <CR><LF>.<CR><LF>\r\n",
       {reply(250, {"2.1.0 Ok"}, EnhancedStatusCode{2, 1, 0}),
        reply(250, {"2.1.5 Ok"}, EnhancedStatusCode{2, 1, 5}),
        reply(550, {"5.1.1 <b@example.com>: Recipient address rejected"},
              EnhancedStatusCode{5, 1, 1}),
        reply(354, {"End data with <CR><LF>.<CR><LF>"})}},
      // Gmail-style multiline 5xx with the enhanced code on every line.
      {"550-5.1.1 The email account that you tried to reach does not exist. Please try\r\n"
       "550-5.1.1 double-checking the recipient's email address for typos or\r\n"
       "550 5.1.1 unnecessary spaces. https://support.google.com/mail/?p=NoSuchUser x1si\r\n",
       {reply(550,
              {"5.1.1 The email account that you tried to reach does not exist. Please try",
               "5.1.1 double-checking the recipient's email address for typos or",
               "5.1.1 unnecessary spaces. https://support.google.com/mail/?p=NoSuchUser x1si"},
              EnhancedStatusCode{5, 1, 1})}},
      // Class mismatch: a 4xx reply whose text starts "5.7.1" has no enhanced code.
      {"421 5.7.1 weird\r\n", {reply(421, {"5.7.1 weird"})}},
      // A 3xx never has one.
      {"354 2.0.0 go ahead\r\n", {reply(354, {"2.0.0 go ahead"})}},
      // Three-digit subject and detail; a tab after the code.
      {"451 4.123.456\tlater\r\n",
       {reply(451, {"4.123.456\tlater"}, EnhancedStatusCode{4, 123, 456})}},
      // Not enhanced codes: too many digits, no text separator, missing detail.
      {"250 2.0.0000 x\r\n250 2.0.0x\r\n250 2.0\r\n",
       {reply(250, {"2.0.0000 x"}), reply(250, {"2.0.0x"}), reply(250, {"2.0"})}},
      // Text may hold any byte but LF, including a CR before the CRLF and UTF-8.
      {"250 a\rb\r\r\n250 caf\xc3\xa9\r\n", {reply(250, {"a\rb\r"}), reply(250, {"caf\xc3\xa9"})}},
  };
  for (const Case& c : cases) {
    for (const std::size_t chunk :
         {std::size_t{0}, std::size_t{1}, std::size_t{2}, std::size_t{7}}) {
      INFO("input " << c.input << " chunk " << chunk);
      const Drained drained = drain(c.input, chunk);
      CHECK(drained.error.empty());
      CHECK(drained.need_more_at_end);
      CHECK(drained.replies == c.expected);
    }
  }
}

TEST_CASE("an incomplete reply is need_more, and completes when the rest arrives",
          "[delivery][smtp_reply]") {
  SmtpReplyParser parser;
  CHECK(parser.next().status == SmtpReplyStatus::need_more);
  parser.feed("250-mx.example.com\r\n250-PIPE");
  CHECK(parser.next().status == SmtpReplyStatus::need_more);
  CHECK(parser.pending_reply_bytes() > 0);
  parser.feed("LINING\r\n250 8BITMIME\r");
  CHECK(parser.next().status == SmtpReplyStatus::need_more);
  parser.feed("\n221 ");
  SmtpReplyParseStep step = parser.next();
  REQUIRE(step.status == SmtpReplyStatus::reply);
  CHECK(step.reply == reply(250, {"mx.example.com", "PIPELINING", "8BITMIME"}));
  CHECK(step.reply.text() == "mx.example.com\nPIPELINING\n8BITMIME");
  CHECK(parser.next().status == SmtpReplyStatus::need_more);
  CHECK(parser.unparsed_bytes() == 4);
  CHECK(parser.pending_reply_bytes() == 0);
}

TEST_CASE("malformed replies are protocol errors, and the parser stays failed",
          "[delivery][smtp_reply]") {
  struct Case {
    std::string input;
    std::string error_part;
    std::size_t replies_before = 0;
  };
  const std::vector<Case> cases = {
      {"hello\r\n", "without a valid reply code"},
      {"25\r\n", "without a valid reply code"},
      {"2x0 Ok\r\n", "without a valid reply code"},
      {"150 Ok\r\n", "without a valid reply code"},
      {"650 Ok\r\n", "without a valid reply code"},
      {"\r\n", "without a valid reply code"},
      {"250_Ok\r\n", "neither ' ' nor '-'"},
      {"250-first\r\n251 second\r\n", "continued with another code"},
      {"250-first\r\n550-second\r\n550 third\r\n", "continued with another code"},
      {"250 fine\r\n250-a\r\n251 b\r\n", "continued with another code", 1},
      {"250 " + std::string(kMaxSmtpReplyLineBytes, 'x') + "\r\n", "longer than 4096"},
      // No line ending at all: caught as soon as the line is certainly too long.
      {"250 " + std::string(kMaxSmtpReplyLineBytes, 'x'), "longer than 4096"},
      {"220 fine\r\n" + std::string(10000, 'y'), "longer than 4096", 1},
  };
  for (const Case& c : cases) {
    for (const std::size_t chunk : {std::size_t{0}, std::size_t{1}, std::size_t{3}}) {
      INFO("input " << c.input.substr(0, 80) << " chunk " << chunk);
      const Drained drained = drain(c.input, chunk);
      CHECK(drained.replies.size() == c.replies_before);
      CHECK_THAT(drained.error, Catch::Contains(c.error_part));
    }
  }

  SmtpReplyParser parser;
  parser.feed("junk\r\n");
  const SmtpReplyParseStep first = parser.next();
  CHECK(first.status == SmtpReplyStatus::protocol_error);
  CHECK(parser.failed());
  parser.feed("250 Ok\r\n");  // ignored
  const SmtpReplyParseStep again = parser.next();
  CHECK(again.status == SmtpReplyStatus::protocol_error);
  CHECK(again.error == first.error);
  CHECK(parser.unparsed_bytes() == 0);
}

TEST_CASE("a line of exactly the limit is accepted; one byte more is not",
          "[delivery][smtp_reply]") {
  const std::string longest = "250 " + std::string(kMaxSmtpReplyLineBytes - 4, 'a');
  for (const std::size_t chunk : {std::size_t{0}, std::size_t{1}}) {
    const Drained ok = drain(longest + "\r\n", chunk);
    REQUIRE(ok.replies.size() == 1);
    CHECK(ok.replies[0].lines[0].size() == kMaxSmtpReplyLineBytes - 4);
    CHECK_THAT(drain(longest + "a\r\n", chunk).error, Catch::Contains("longer than"));
    CHECK_THAT(drain(longest + "a\n", chunk).error, Catch::Contains("longer than"));
  }
}

TEST_CASE("line count and reply size are bounded", "[delivery][smtp_reply]") {
  std::string most;
  for (std::size_t i = 0; i + 1 < kMaxSmtpReplyLines; ++i)
    most += "250-x\r\n";
  CHECK(drain(most + "250 x\r\n", 0).replies.at(0).lines.size() == kMaxSmtpReplyLines);
  CHECK_THAT(drain(most + "250-x\r\n250 x\r\n", 0).error, Catch::Contains("more than 200 lines"));

  // 100 lines of 1000 bytes: within the line limits, over the 64 KiB held for one reply.
  std::string big;
  for (int i = 0; i < 100; ++i)
    big += "250-" + std::string(1000, 'b') + "\r\n";
  CHECK_THAT(drain(big + "250 end\r\n", 0).error, Catch::Contains("longer than 65536"));
  CHECK_THAT(drain(big + "250 end\r\n", 1000).error, Catch::Contains("longer than 65536"));

  // A caller feeding without draining: over 64 KiB with no line ending fails at feed().
  SmtpReplyParser parser;
  for (int i = 0; i < 70; ++i)
    parser.feed(std::string(1024, 'z'));
  CHECK(parser.failed());
  CHECK(parser.unparsed_bytes() == 0);
  CHECK_THAT(parser.next().error, Catch::Contains("without a line ending"));
}

TEST_CASE("enhanced status prefixes", "[delivery][smtp_reply]") {
  struct Case {
    std::string_view text;
    std::optional<EnhancedStatusCode> code;
    std::size_t length;
  };
  const std::vector<Case> cases = {
      {"2.0.0 Ok", EnhancedStatusCode{2, 0, 0}, 5},
      {"4.7.1", EnhancedStatusCode{4, 7, 1}, 5},
      {"5.7.26 Unauthenticated", EnhancedStatusCode{5, 7, 26}, 6},
      {"5.999.999 x", EnhancedStatusCode{5, 999, 999}, 9},
      {"3.0.0 x", std::nullopt, 0},
      {"2.0 x", std::nullopt, 0},
      {"2..0 x", std::nullopt, 0},
      {"2.0.", std::nullopt, 0},
      {"2.1000.0 x", std::nullopt, 0},
      {"2.0.0:", std::nullopt, 0},
      {"", std::nullopt, 0},
  };
  for (const Case& c : cases) {
    INFO(c.text);
    const std::optional<EnhancedStatusPrefix> prefix = parse_enhanced_status_prefix(c.text);
    REQUIRE(prefix.has_value() == c.code.has_value());
    if (prefix) {
      CHECK(prefix->code == *c.code);
      CHECK(prefix->length == c.length);
    }
  }
  CHECK(to_string(EnhancedStatusCode{4, 7, 1}) == "4.7.1");
  CHECK(to_string(EnhancedStatusCode{5, 7, 26}) == "5.7.26");
}

TEST_CASE("reply classes", "[delivery][smtp_reply]") {
  CHECK(is_positive(reply(250, {})));
  CHECK(is_intermediate(reply(354, {})));
  CHECK(is_transient(reply(421, {})));
  CHECK(is_permanent(reply(554, {})));
  CHECK_FALSE(is_positive(reply(450, {})));
  CHECK_FALSE(is_permanent(reply(450, {})));
}

TEST_CASE("log text is one printable, bounded line", "[delivery][smtp_reply]") {
  CHECK(to_log_text(reply(250, {"2.0.0 Ok: queued as X"}, EnhancedStatusCode{2, 0, 0})) ==
        "250 2.0.0 Ok: queued as X");
  CHECK(to_log_text(reply(250, {""})) == "250");
  CHECK(to_log_text(reply(550, {"5.1.1 first part", "5.1.1 second part", "5.1.2 other"},
                          EnhancedStatusCode{5, 1, 1})) ==
        "550 5.1.1 first part second part 5.1.2 other");
  CHECK(to_log_text(reply(421, {"mx busy", "", "try later"})) == "421 mx busy try later");
  CHECK(to_log_text(reply(250, {"caf\xc3\xa9\tbar\r\x01"})) == "250 caf???bar??");

  const std::string log =
      to_log_text(reply(250, std::vector<std::string>(200, std::string(4000, 'q'))));
  CHECK(log.size() == kMaxSmtpReplyLogTextBytes);
  CHECK(log.substr(log.size() - 3) == "...");
  const std::string many_short = to_log_text(reply(250, std::vector<std::string>(2000, "ab")));
  CHECK(many_short.size() <= kMaxSmtpReplyLogTextBytes);
  CHECK(many_short.substr(many_short.size() - 3) == "...");
}
