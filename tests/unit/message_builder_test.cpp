#include "core/message_builder.h"

#include <catch2/catch.hpp>
#include <string>

using namespace bulkq;

TEST_CASE("the builder splits recipients into local parts and routes them", "[core][builder]") {
  MessageBuilder builder(MtaKind::postfix, "4jcjNh4glqz1bYM2", "<news@sender.example>",
                         TimePoint{Duration{5000}});
  CHECK(builder.add_recipient("<a@Example.com>").empty());
  CHECK(builder.add_recipient("b@other.test").empty());
  CHECK(builder.add_recipient("c@example.COM.").empty());
  CHECK(builder.add_recipient("not-an-address") == "address has no domain");
  CHECK(builder.recipient_count() == 3);

  BuildResult built = builder.build(99);
  REQUIRE(built.ok());
  const IntakeMessage& message = *built.message;
  CHECK(message.record.id() == 99);
  CHECK(message.record.sender() == "news@sender.example");
  CHECK(message.record.spool().queue_id == "4jcjNh4glqz1bYM2");
  REQUIRE(message.record.recipient_count() == 3);
  CHECK(message.record.local_part(2) == "c");
  REQUIRE(message.routing.domain_count() == 2);
  CHECK(message.routing.domain(0) == "example.com");
  CHECK(message.routing.domain(1) == "other.test");
  CHECK(message.routing.domain_of(0) == 0);
  CHECK(message.routing.domain_of(1) == 1);
  CHECK(message.routing.domain_of(2) == 0);
}

TEST_CASE("a message needs an id, a sane queue id and a recipient", "[core][builder]") {
  const TimePoint t{};
  {
    MessageBuilder builder(MtaKind::postfix, "ABC", "s@x.test", t);
    CHECK(builder.build(1).error == "no deliverable recipients");
  }
  {
    MessageBuilder builder(MtaKind::postfix, "", "s@x.test", t);
    (void)builder.add_recipient("a@x.test");
    CHECK(builder.build(1).error == "empty queue id");
  }
  {
    MessageBuilder builder(MtaKind::postfix, "../../etc", "s@x.test", t);
    (void)builder.add_recipient("a@x.test");
    CHECK(builder.build(1).error == "queue id has characters no MTA uses");
  }
  {
    MessageBuilder builder(MtaKind::postfix, std::string(33, 'A'), "s@x.test", t);
    (void)builder.add_recipient("a@x.test");
    CHECK(builder.build(1).error == "queue id longer than 32 characters");
  }
  {
    MessageBuilder builder(MtaKind::postfix, "ABC", "s@x.test", t);
    (void)builder.add_recipient("a@x.test");
    CHECK(builder.build(0).error == "message id 0 is reserved");
  }
  {
    MessageBuilder builder(MtaKind::postfix, "ABC", "bad\r\nsender@x.test", t);
    (void)builder.add_recipient("a@x.test");
    CHECK(builder.build(1).error == "control character in sender");
  }
}

TEST_CASE("a message over many domains routes each recipient to its own", "[core][builder]") {
  MessageBuilder builder(MtaKind::postfix, "ABC", "s@x.test", TimePoint{});
  for (int i = 0; i < 10'000; ++i) {
    REQUIRE(builder.add_recipient("u@d" + std::to_string(i % 2500) + ".test").empty());
  }
  BuildResult built = builder.build(1);
  REQUIRE(built.ok());
  const RecipientRouting& routing = built.message->routing;
  CHECK(routing.domain_count() == 2500);
  for (std::uint32_t r = 0; r < routing.recipient_count(); ++r) {
    REQUIRE(routing.domain(routing.domain_of(r)) == "d" + std::to_string(r % 2500) + ".test");
  }
}
