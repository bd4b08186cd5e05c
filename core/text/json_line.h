// A strict scanner over one line of JSON text (JSON Lines): just enough to read flat objects of
// numbers and arrays of numbers, and to skip any other value. Errors are InputErrors naming the
// file, the line and the column (in bytes); nesting deeper than 64 levels is refused, so no input
// can exhaust the stack.
#pragma once

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "core/base/strings.h"
#include "core/text/text_file.h"

namespace tinyserve {

class JsonLine {
 public:
  JsonLine(std::string_view text, const std::string& path, int64_t line)
      : begin_(text.data()),
        p_(text.data()),
        end_(text.data() + text.size()),
        path_(path),
        line_(line) {}

  [[noreturn]] void fail(const std::string& message) const {
    throw_input_error(path_, line_, cat("column ", p_ - begin_ + 1, ": ", message));
  }

  void skip_ws() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\r' || *p_ == '\n')) ++p_;
  }
  bool at_end() const { return p_ == end_; }
  char peek() const { return p_ < end_ ? *p_ : '\0'; }
  bool consume(char c) {
    skip_ws();
    if (p_ < end_ && *p_ == c) {
      ++p_;
      return true;
    }
    return false;
  }
  void expect(char c, const char* what) {
    if (!consume(c)) fail(cat("expected ", what, ", found ", found()));
  }

  // What comes next, for messages.
  std::string found() const {
    if (p_ == end_) return "the end of the line";
    switch (*p_) {
      case '"':
        return "a string";
      case '{':
        return "an object";
      case '[':
        return "an array";
      case 't':
      case 'f':
        return "a boolean";
      case 'n':
        return "null";
      default:
        if (*p_ == '-' || (*p_ >= '0' && *p_ <= '9')) return "a number";
        return quoted(
            std::string_view(p_, static_cast<size_t>(std::min<std::ptrdiff_t>(end_ - p_, 20))));
    }
  }

  // A string's raw bytes between the quotes (escapes validated, not decoded).
  std::string_view string() {
    expect('"', "a string");
    const char* start = p_;
    while (p_ < end_ && *p_ != '"') {
      if (static_cast<unsigned char>(*p_) < 0x20) fail("control character in a string");
      if (*p_ == '\\') {
        ++p_;
        if (p_ == end_) break;
        if (*p_ == 'u') {
          for (int i = 0; i < 4; ++i) {
            ++p_;
            if (p_ == end_ || !std::isxdigit(static_cast<unsigned char>(*p_))) {
              fail("expected 4 hex digits after \\u");
            }
          }
        } else if (std::strchr("\"\\/bfnrt", *p_) == nullptr) {
          fail("invalid escape in a string");
        }
      }
      ++p_;
    }
    if (p_ == end_) fail("unterminated string");
    return std::string_view(start, static_cast<size_t>(p_++ - start));
  }

  struct Number {
    std::string_view text;
    bool integral = true;
    bool negative = false;
  };

  // A number as JSON writes it: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
  Number number() {
    skip_ws();
    Number n;
    const char* start = p_;
    auto digit = [&] { return p_ < end_ && *p_ >= '0' && *p_ <= '9'; };
    auto digits = [&] {
      if (!digit()) fail("malformed number");
      while (digit()) ++p_;
    };
    if (p_ < end_ && *p_ == '-') {
      n.negative = true;
      ++p_;
    }
    if (p_ < end_ && *p_ == '0') {
      ++p_;
    } else {
      digits();
    }
    if (p_ < end_ && *p_ == '.') {
      n.integral = false;
      ++p_;
      digits();
    }
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      n.integral = false;
      ++p_;
      if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      digits();
    }
    n.text = std::string_view(start, static_cast<size_t>(p_ - start));
    return n;
  }

  void skip_value(int depth = 0) {
    if (depth > 64) fail("nested too deeply");
    skip_ws();
    const char c = peek();
    if (c == '"') {
      string();
    } else if (c == '{' || c == '[') {
      const char close = c == '{' ? '}' : ']';
      ++p_;
      if (consume(close)) return;
      do {
        if (c == '{') {
          string();
          expect(':', "':'");
        }
        skip_value(depth + 1);
      } while (consume(','));
      expect(close, close == '}' ? "',' or '}'" : "',' or ']'");
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      number();
    } else if (!literal("true") && !literal("false") && !literal("null")) {
      fail(cat("expected a JSON value, found ", found()));
    }
  }

 private:
  bool literal(std::string_view word) {
    if (static_cast<size_t>(end_ - p_) < word.size() || std::string_view(p_, word.size()) != word) {
      return false;
    }
    p_ += word.size();
    return true;
  }

  const char* begin_;
  const char* p_;
  const char* end_;
  const std::string& path_;
  int64_t line_;
};

}  // namespace tinyserve
