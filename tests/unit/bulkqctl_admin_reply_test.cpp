// bulkqctl reading the daemon's reply line: "ok": true succeeds; anything else fails with the
// daemon's reason or a clear word on what was wrong with the reply.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "ctl/admin_reply.h"

using namespace bulkq;

TEST_CASE("bulkqctl reply: ok replies", "[bulkqctl][admin]") {
  for (const std::string& reply : std::vector<std::string>{
           R"({"ok":true})",
           R"(  { "ok" : true }  )",
           R"({"ok":true,"queues":[{"domain":"a.example","size":12,"age":1.5e3}],"x":null})",
           R"({"data":{"ok":false},"ok":true})",
           R"({"ok":false,"ok":true})",
           R"({"ok":true,"text":"caf\u00e9 \ud83d\ude00 \"quoted\" \\ \/"})",
           R"({"ok":true,"n":[-0,0.5,-1.25E-3,10,[],{}]})",
       }) {
    CAPTURE(reply);
    const AdminReplyStatus status = read_admin_reply_status(reply);
    CHECK(status.error == "");
    CHECK(status.ok);
  }
}

TEST_CASE("bulkqctl reply: failures carry the reason", "[bulkqctl][admin]") {
  struct Case {
    std::string reply;
    std::string error;
  };
  const std::vector<Case> cases = {
      {R"({"ok":false,"error":"unknown domain \"a.example\""})", "unknown domain \"a.example\""},
      {R"({"error":"permission denied","ok":false})", "permission denied"},
      {R"({"ok":false,"error":"line1\nline2\u001b[2J"})", "line1\\x0aline2\\x1b[2J"},
      {R"({"ok":false,"error":"caf\u00e9"})", "caf\xc3\xa9"},
      {R"({"ok":false})", "the request failed (the reply gives no reason)"},
      {R"({"ok":false,"error":42})", "the request failed (the reply gives no reason)"},
      {R"({"ok":false,"error":""})", "the request failed (the reply gives no reason)"},
      {R"({"status":"fine"})", "malformed reply: it has no \"ok\" member"},
      {R"({"ok":"true"})", "malformed reply: \"ok\" is not true or false"},
      {R"({"ok":1})", "malformed reply: \"ok\" is not true or false"},
      {"", "malformed reply: the text ends where a value was expected (at byte 0)"},
      {"ok", "malformed reply: unexpected character (at byte 0)"},
      {R"([{"ok":true}])", "malformed reply: the reply is not a JSON object"},
      {R"({"ok":true)", "malformed reply: expected ',' or '}' in an object (at byte 10)"},
      {R"({"ok":true} x)", "malformed reply: unexpected text after the JSON value (at byte 12)"},
      {R"({"ok":true,})", "malformed reply: expected a member name (at byte 11)"},
      {R"({"ok":tru})", "malformed reply: unexpected character (at byte 6)"},
      {R"({"ok":true,"a":01})", "malformed reply: expected ',' or '}' in an object (at byte 16)"},
      {R"({"ok":true,"a":"\x"})", "malformed reply: bad escape in a string (at byte 16)"},
      {R"({"ok":true,"a":"\u12"})", "malformed reply: bad \\u escape (at byte 16)"},
      {std::string("{\"ok\":true,\"a\":\"\x01\"}"),
       "malformed reply: control character in a string (at byte 16)"},
      {R"({"ok":true,"a":"never closed)", "malformed reply: unterminated string (at byte 28)"},
      {R"({"ok":true,"a":1.})", "malformed reply: expected digits after '.' (at byte 17)"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.reply);
    const AdminReplyStatus status = read_admin_reply_status(c.reply);
    CHECK_FALSE(status.ok);
    CHECK(status.error == c.error);
  }
}

TEST_CASE("bulkqctl reply: nesting is bounded", "[bulkqctl][admin]") {
  const std::string deep = R"({"ok":true,"a":)" + std::string(100000, '[');
  const AdminReplyStatus status = read_admin_reply_status(deep);
  CHECK_FALSE(status.ok);
  CHECK(status.error.rfind("malformed reply: nested too deeply", 0) == 0);

  std::string fine = R"({"ok":true,"a":)";
  fine += std::string(63, '[') + std::string(63, ']') + "}";
  CHECK(read_admin_reply_status(fine).ok);
}
