#include <doctest/doctest.h>

#include <string>

#include "core/base/errors.h"
#include "core/text/toml_text.h"

using namespace tinyserve;

namespace {
bool is_ascii(const std::string& s) {
  for (unsigned char c : s) {
    if (c >= 0x80) return false;
  }
  return true;
}
}  // namespace

TEST_CASE("ASCII TOML passes through unchanged") {
  const std::string text = "name = \"t\"\n[cache]\nblock_size = 16 # comment\nx = 'lit'\n";
  const std::string out = ascii_toml(text, "f.toml");
  CHECK(out.find("name = \"t\"") != std::string::npos);
  CHECK(out.find("block_size = 16 # comment") != std::string::npos);
}

TEST_CASE("non-ASCII characters in strings become escapes, in comments spaces, lines kept") {
  const std::string text = "a = \"caf\xc3\xa9\"\n# \xc3\xa9t\xc3\xa9\nb = '\xf0\x9f\x98\x80'\n";
  const std::string out = ascii_toml(text, "f.toml");
  CHECK(is_ascii(out));
  const bool e_acute =
      out.find("\\u00E9") != std::string::npos || out.find("\\u00e9") != std::string::npos;
  const bool smiley =
      out.find("\\U0001F600") != std::string::npos || out.find("\\U0001f600") != std::string::npos;
  CHECK(e_acute);
  CHECK(smiley);
  size_t lines_in = 0, lines_out = 0;
  for (char c : text) lines_in += c == '\n';
  for (char c : out) lines_out += c == '\n';
  CHECK(lines_in == lines_out);
}

TEST_CASE("a literal string's backslashes and quotes survive its rewriting as a basic string") {
  const std::string out = ascii_toml("p = 'C:\\dir \"q\"'\n", "f.toml");
  CHECK(out.find("\"C:\\\\dir \\\"q\\\"\"") != std::string::npos);
}

TEST_CASE("non-ASCII outside strings, NUL bytes and invalid UTF-8 are refused with the line") {
  const auto error_line = [](const std::string& text) -> int64_t {
    try {
      ascii_toml(text, "f.toml");
    } catch (const InputError& e) {
      return e.line();
    }
    return -1;
  };
  CHECK(error_line("a = 1\nb\xc3\xa9 = 2\n") == 2);
  CHECK(error_line(std::string("a = 1\nb = \"x\0y\"\n", 15)) == 2);
  CHECK(error_line("a = \"\xff\"\n") == 1);
  CHECK(error_line("a = 1\n") == -1);
}
