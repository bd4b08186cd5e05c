#include "core/toml_text.h"

#include <cstdint>
#include <cstring>

#include "core/errors.h"

namespace tinyserve {

void check_toml_text(const std::string& text, const std::string& path) {
  enum class State { kSyntax, kComment, kBasic, kLiteral, kMultiBasic, kMultiLiteral };
  State state = State::kSyntax;
  int64_t line = 1;
  bool continuation = false;  // after a line-ending backslash in a """ string
  const size_t n = text.size();
  auto at = [&](size_t i, const char* token) {
    return text.compare(i, std::strlen(token), token) == 0;
  };
  auto close_multi = [&](size_t& i, char quote) {  // a closing triple quote takes up to 2 more
    i += 2;
    for (int extra = 0; extra < 2 && i + 1 < n && text[i + 1] == quote; ++extra) ++i;
    state = State::kSyntax;
  };
  for (size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\0') throw InputError(path, line, "unexpected NUL byte, expected UTF-8 text");
    if (c == '\n') ++line;
    switch (state) {
      case State::kSyntax:
        if (c >= 0x80) {
          throw InputError(path, line,
                           "non-ASCII character outside a string or comment, expected TOML syntax");
        }
        if (c == '#') {
          state = State::kComment;
        } else if (at(i, "\"\"\"")) {
          state = State::kMultiBasic;
          i += 2;
        } else if (at(i, "'''")) {
          state = State::kMultiLiteral;
          i += 2;
        } else if (c == '"') {
          state = State::kBasic;
        } else if (c == '\'') {
          state = State::kLiteral;
        }
        break;
      case State::kComment:
        if (c == '\n') state = State::kSyntax;
        break;
      case State::kBasic:
        if (c == '\\' && i + 1 < n && text[i + 1] != '\n') {
          ++i;
        } else if (c == '"' || c == '\n') {
          state = State::kSyntax;
        }
        break;
      case State::kLiteral:
        if (c == '\'' || c == '\n') state = State::kSyntax;
        break;
      case State::kMultiBasic:
        if (continuation) {
          if (c == ' ' || c == '\t' || c == '\r' || c == '\n') break;
          if (c >= 0x80) {
            throw InputError(path, line, "non-ASCII character right after a line-ending backslash");
          }
          continuation = false;
        }
        if (c == '\\') {
          size_t j = i + 1;
          while (j < n && (text[j] == ' ' || text[j] == '\t' || text[j] == '\r')) ++j;
          if (j < n && text[j] == '\n') {
            continuation = true;
          } else if (i + 1 < n && text[i + 1] != '\n') {
            ++i;
          }
        } else if (at(i, "\"\"\"")) {
          close_multi(i, '"');
        }
        break;
      case State::kMultiLiteral:
        if (at(i, "'''")) close_multi(i, '\'');
        break;
    }
  }
}

}  // namespace tinyserve
