// bulkqctl's JSON reader: the tree it builds, exact 64-bit numbers, and a clear error (with the
// byte offset) for every malformed document, including one nested too deeply.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "ctl/json_document.h"

using namespace bulkq;

TEST_CASE("JSON document: values", "[admin][json]") {
  const JsonDocument document = parse_json_document(
      R"( {"a":1,"b":[true,false,null,"x"],"c":{"d":-2.5e3},"a":"last wins","e":""} )");
  REQUIRE(document.error == "");
  const JsonValue& root = document.root;
  CHECK(root.kind == JsonValue::Kind::object);
  CHECK(root.names == std::vector<std::string>{"a", "b", "c", "a", "e"});
  REQUIRE(root.member("a") != nullptr);
  CHECK(root.member("a")->text == "last wins");
  const JsonValue* b = root.member("b");
  REQUIRE(b != nullptr);
  REQUIRE(b->elements.size() == 4);
  CHECK(b->elements[0].kind == JsonValue::Kind::boolean);
  CHECK(b->elements[0].boolean);
  CHECK_FALSE(b->elements[1].boolean);
  CHECK(b->elements[2].kind == JsonValue::Kind::null);
  CHECK(b->elements[3].text == "x");
  CHECK(root.member("c")->member("d")->text == "-2.5e3");
  CHECK(root.member("e")->kind == JsonValue::Kind::string);
  CHECK(root.member("missing") == nullptr);
  CHECK(b->member("a") == nullptr);  // not an object
}

TEST_CASE("JSON document: whole numbers", "[admin][json]") {
  const auto number = [](std::string_view text) {
    JsonDocument document = parse_json_document(text);
    REQUIRE(document.error == "");
    return document.root;
  };
  CHECK(number("0").as_uint64() == 0U);
  CHECK(number("18446744073709551615").as_uint64() == UINT64_MAX);
  CHECK_FALSE(number("18446744073709551616").as_uint64());
  CHECK_FALSE(number("-1").as_uint64());
  CHECK(number("-1").as_int64() == -1);
  CHECK(number("-9223372036854775808").as_int64() == INT64_MIN);
  CHECK_FALSE(number("9223372036854775808").as_int64());
  CHECK_FALSE(number("1.0").as_uint64());
  CHECK_FALSE(number("1e3").as_uint64());
  CHECK_FALSE(number("\"1\"").as_uint64());
}

TEST_CASE("JSON document: strings", "[admin][json]") {
  const auto text = [](std::string_view json) {
    JsonDocument document = parse_json_document(json);
    REQUIRE(document.error == "");
    return document.root.text;
  };
  CHECK(text(R"("a\"b\\c\/d\b\f\n\r\t")") == "a\"b\\c/d\b\f\n\r\t");
  CHECK(text(R"("caf\u00e9 \u20AC")") == "caf\xc3\xa9 \xe2\x82\xac");
  CHECK(text(R"("\ud83d\ude00")") == "\xf0\x9f\x98\x80");
  CHECK(text(R"("\ud83d x")") == "\xef\xbf\xbd x");  // a lone high surrogate
  CHECK(text(R"("\ude00")") == "\xef\xbf\xbd");
  CHECK(text(R"("\u0000")") == std::string(1, '\0'));
  CHECK(text("\"raw \xff bytes\"") == "raw \xff bytes");  // kept; the caller escapes for display
}

TEST_CASE("JSON document: errors", "[admin][json]") {
  struct Case {
    std::string text;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"", "the text ends where a value was expected (at byte 0)"},
      {"  ", "the text ends where a value was expected (at byte 2)"},
      {"{", "expected a member name (at byte 1)"},
      {R"({"a" 1})", "expected ':' after a member name (at byte 5)"},
      {R"({"a":1,})", "expected a member name (at byte 7)"},
      {R"({"a":1 "b":2})", "expected ',' or '}' in an object (at byte 7)"},
      {"[1,]", "unexpected character (at byte 3)"},
      {"[1 2]", "expected ',' or ']' in an array (at byte 3)"},
      {"01", "unexpected text after the JSON value (at byte 1)"},
      {"1.", "expected digits after '.' (at byte 2)"},
      {"1e", "expected digits in an exponent (at byte 2)"},
      {"-", "unexpected character (at byte 1)"},
      {"+1", "unexpected character (at byte 0)"},
      {"tru", "unexpected character (at byte 0)"},
      {"nul", "unexpected character (at byte 0)"},
      {R"("abc)", "unterminated string (at byte 4)"},
      {R"("\)", "unterminated string (at byte 2)"},
      {R"("\x")", "bad escape in a string (at byte 1)"},
      {R"("\u12G4")", "bad \\u escape (at byte 1)"},
      {R"("\u+123")", "bad \\u escape (at byte 1)"},
      {R"("\u12")", "bad \\u escape (at byte 1)"},
      {"\"a\nb\"", "control character in a string (at byte 2)"},
      {"{} {}", "unexpected text after the JSON value (at byte 3)"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    const JsonDocument document = parse_json_document(c.text);
    CHECK(document.error == c.error);
    CHECK(document.root.kind == JsonValue::Kind::null);
  }
}

TEST_CASE("JSON document: nesting is bounded", "[admin][json]") {
  const auto nested = [](int depth) {
    return std::string(static_cast<std::size_t>(depth), '[') +
           std::string(static_cast<std::size_t>(depth), ']');
  };
  CHECK(parse_json_document(nested(kMaxJsonDepth)).ok());
  CHECK(parse_json_document(nested(kMaxJsonDepth + 1)).error ==
        "nested too deeply (at byte " + std::to_string(kMaxJsonDepth) + ")");
  // Far deeper input is refused at the same point, without deeper recursion.
  CHECK_FALSE(parse_json_document(std::string(1000000, '[')).ok());
  CHECK_FALSE(parse_json_document(std::string(100000, '{')).ok());
}
