#include "core/quoted_text.h"

#include <catch2/catch.hpp>
#include <string>

using namespace bulkq;

TEST_CASE("untrusted text is quoted, escaped and cut for a message", "[core][quoted]") {
  CHECK(quoted_text("plain", 80, NonAscii::keep) == "\"plain\"");
  CHECK(quoted_text("say \"hi\"\\", 80, NonAscii::keep) == "\"say \\\"hi\\\"\\\\\"");
  CHECK(quoted_text("line\r\nbreak\x7f", 80, NonAscii::keep) == "\"line\\x0d\\x0abreak\\x7f\"");
  CHECK(quoted_text(std::string("nul\0byte", 8), 80, NonAscii::keep) == "\"nul\\x00byte\"");
  CHECK(quoted_text("b\xc3\xbc"
                    "cher",
                    80, NonAscii::keep) ==
        "\"b\xc3\xbc"
        "cher\"");
  CHECK(quoted_text("b\xc3\xbc"
                    "cher",
                    80, NonAscii::escape) == "\"b\\xc3\\xbccher\"");
  CHECK(quoted_text(std::string(100, 'a'), 10, NonAscii::keep) == "\"aaaaaaaaaa...\"");
  CHECK(quoted_text("", 10, NonAscii::keep) == "\"\"");
}
