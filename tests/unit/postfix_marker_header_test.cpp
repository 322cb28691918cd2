// The marker header: parsing its value, telling header lines from body lines, and finding the
// last well-formed marker in the headers of a queue file.
#include <catch2/catch.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "postfix/marker_header.h"
#include "postfix/queue_file_reader.h"
#include "support/held_file_writer.h"

using namespace bulkq;
using bulkq::testing::HeldFileSpec;
using bulkq::testing::MarkerPlacement;
using Kind = HeaderScanner::LineKind;

namespace {

std::optional<MessageId> marker_of(const HeldFileSpec& spec) {
  const std::string bytes = bulkq::testing::held_file_bytes(spec);
  const PostfixQueueFileResult parsed = parse_queue_file(bytes);
  REQUIRE(parsed.error == "");
  return find_marker(bytes, parsed.file);
}

HeldFileSpec with_headers(std::vector<std::string> extra) {
  HeldFileSpec spec;
  for (std::string& line : extra)
    spec.headers.push_back(std::move(line));
  return spec;
}

}  // namespace

TEST_CASE("marker values: a non-zero decimal uint64, whitespace around it allowed", "[postfix]") {
  const std::vector<std::pair<std::string_view, std::optional<MessageId>>> cases = {
      {"1", 1},
      {"42", 42},
      {" 42", 42},
      {"42 ", 42},
      {"\t 1234567 \t", 1234567},
      {"007", 7},
      {"18446744073709551615", UINT64_MAX},    // 20 digits, the largest
      {"00000000000000000001", 1},             // 20 digits
      {"18446744073709551616", std::nullopt},  // overflow
      {"99999999999999999999", std::nullopt},
      {"000000000000000000001", std::nullopt},  // 21 digits
      {"0", std::nullopt},
      {"000", std::nullopt},
      {"", std::nullopt},
      {"   ", std::nullopt},
      {"-1", std::nullopt},
      {"+1", std::nullopt},
      {"1 2", std::nullopt},
      {"12a", std::nullopt},
      {"a12", std::nullopt},
      {"0x10", std::nullopt},
      {"1.5", std::nullopt},
      {"\xd9\xa1", std::nullopt},  // ARABIC-INDIC DIGIT ONE
      {std::string_view("1\0", 2), std::nullopt},
  };
  for (const auto& [value, expected] : cases) {
    INFO("value \"" << value << "\"");
    CHECK(parse_marker_value(value) == expected);
  }
}

TEST_CASE("HeaderScanner: marker fields and their continuation lines, headers only", "[postfix]") {
  HeaderScanner scanner;
  const std::vector<std::pair<std::string_view, Kind>> lines = {
      {"Received: from a", Kind::header},
      {"\tby b", Kind::header},
      {"X-Bulkq-Id: 5", Kind::marker_start},
      {"From: x@example.org", Kind::header},
      {"x-bulkq-id:", Kind::marker_start},
      {" 77", Kind::marker_continued},
      {"\t", Kind::marker_continued},
      {"X-BULKQ-ID \t: 6", Kind::marker_start},  // obsolete syntax: space before the colon
      {"X-Bulkq-Identity: 7", Kind::header},
      {"X-Bulkq-I: 8", Kind::header},
      {" continued", Kind::header},
      {"", Kind::header_end},
      {"X-Bulkq-Id: 9", Kind::body},
      {" 10", Kind::body},
      {"", Kind::body},
  };
  for (const auto& [line, kind] : lines) {
    INFO("line \"" << line << "\"");
    CHECK(scanner.classify(line) == kind);
  }
  CHECK_FALSE(scanner.in_headers());
}

TEST_CASE("HeaderScanner: a line that is not a header ends the headers", "[postfix]") {
  for (const std::string_view not_a_header :
       {"no colon here", ": empty name", "bad name: x", "X-Bulkq-Id 5", "\xc3\xa9t\xc3\xa9: x"}) {
    INFO("line \"" << not_a_header << "\"");
    HeaderScanner scanner;
    CHECK(scanner.classify("Subject: x") == Kind::header);
    CHECK(scanner.classify(not_a_header) == Kind::body);
    CHECK(scanner.classify("X-Bulkq-Id: 5") == Kind::body);
  }
  CHECK(marker_field_value("X-Bulkq-Id: 12") == " 12");
  CHECK(marker_field_value("X-Bulkq-Id :") == "");
}

TEST_CASE("find_marker: present, absent, garbage, duplicated, folded", "[postfix]") {
  SECTION("present, inline or in the heap after E as a milter adds it") {
    HeldFileSpec spec;
    spec.marker = 123456789;
    CHECK(marker_of(spec) == MessageId{123456789});
    spec.marker_placement = MarkerPlacement::heap_after_end;
    CHECK(marker_of(spec) == MessageId{123456789});
    spec.marker = UINT64_MAX;
    CHECK(marker_of(spec) == MessageId{UINT64_MAX});
  }
  SECTION("absent") {
    CHECK(marker_of(HeldFileSpec{}) == std::nullopt);
  }
  SECTION("garbage values are ignored") {
    for (const std::string& line :
         {std::string("X-Bulkq-Id: abc"), std::string("X-Bulkq-Id: 0"), std::string("X-Bulkq-Id:"),
          std::string("X-Bulkq-Id: 1 2"), std::string("X-Bulkq-Id: 18446744073709551616"),
          std::string("X-Bulkq-Id: -5")}) {
      INFO(line);
      CHECK(marker_of(with_headers({line})) == std::nullopt);
    }
  }
  SECTION("the last well-formed one wins") {
    HeldFileSpec spec = with_headers({"X-Bulkq-Id: 11", "Subject: between", "X-Bulkq-Id: 22"});
    CHECK(marker_of(spec) == MessageId{22});
    spec.marker = 33;  // bulkq's own, added last by the milter
    CHECK(marker_of(spec) == MessageId{33});
    spec.marker_placement = MarkerPlacement::heap_after_end;
    CHECK(marker_of(spec) == MessageId{33});
    CHECK(marker_of(with_headers({"X-Bulkq-Id: 11", "X-Bulkq-Id: garbage"})) == MessageId{11});
  }
  SECTION("folded, and names in any case") {
    CHECK(marker_of(with_headers({"X-Bulkq-Id:", "\t 77"})) == MessageId{77});
    CHECK(marker_of(with_headers({"X-Bulkq-Id: 7", " 7"})) == std::nullopt);  // "7 7"
    CHECK(marker_of(with_headers({"x-BULKQ-id: 8"})) == MessageId{8});
    CHECK(marker_of(with_headers({"X-Bulkq-Id  : 9"})) == MessageId{9});
    CHECK(marker_of(with_headers({"X-Bulkq-Idx: 9"})) == std::nullopt);
  }
  SECTION("never from the body") {
    HeldFileSpec spec;
    spec.body_lines = {"X-Bulkq-Id: 5"};
    CHECK(marker_of(spec) == std::nullopt);
    // A message whose body starts without a separator line: the headers end there.
    spec = with_headers({"not a header line", "X-Bulkq-Id: 6"});
    CHECK(marker_of(spec) == std::nullopt);
  }
}
