#include "core/text/toml_text.h"

#include <cstdint>
#include <cstdio>
#include <cstring>

#include "core/base/errors.h"
#include "core/text/text_file.h"

namespace tinyserve {

namespace {

// Follows the lexical state of a TOML text (syntax, comment, the four kinds of string) and
// writes its ASCII form.
class AsciiToml {
 public:
  AsciiToml(const std::string& text, const std::string& path) : text_(text), path_(path) {
    out_.reserve(text.size() + text.size() / 8);
  }

  std::string run() {
    const size_t n = text_.size();
    i_ = text_.starts_with("\xEF\xBB\xBF") ? 3 : 0;  // a UTF-8 byte order mark
    for (; i_ < n; ++i_) {
      const auto c = byte(i_);
      if (c == '\0') fail("unexpected NUL byte, expected UTF-8 text");
      if (c == '\n') ++line_;
      switch (state_) {
        case State::kSyntax:
          syntax(c);
          break;
        case State::kComment:
          if (c == '\n') {
            state_ = State::kSyntax;
            end_line();
          }
          if (c >= 0x80) {
            decode();  // validated, then dropped: comments carry no meaning
            out_ += ' ';
          } else {
            out_ += static_cast<char>(c);
          }
          break;
        case State::kBasic:
        case State::kMultiBasic:
          basic(c);
          break;
        case State::kLiteral:
        case State::kMultiLiteral:
          literal(c);
          break;
      }
      if (state_ == State::kSyntax && chain_active_ && chain_end_ <= i_) {
        if (c == '"' || c == '\'') chain_end_ = i_ + 1;  // a quoted key part just closed
      }
    }
    end_chain(false);
    return std::move(out_);
  }

 private:
  enum class State { kSyntax, kComment, kBasic, kLiteral, kMultiBasic, kMultiLiteral };

  unsigned char byte(size_t i) const { return static_cast<unsigned char>(text_[i]); }
  bool at(size_t i, const char* token) const {
    return text_.compare(i, std::strlen(token), token) == 0;
  }
  [[noreturn]] void fail(const char* what) const { throw InputError(path_, line_, what); }

  static bool is_key_char(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '+' || c == ':';
  }

  // Keys are followed as chains: parts (bare words, quoted strings) joined by dots, with blanks
  // around the dots. A chain ended by '=' is a key, one ended by ']' after a header's '[' a table
  // header. Values form chains too, of at most one dot (a float, a time) where they are valid.
  void follow_keys(unsigned char c) {
    const bool quote = c == '"' || c == '\'';
    if (is_key_char(c) || c == '.' || quote) {
      if (!chain_active_) {
        chain_active_ = true;
        chain_start_ = i_;
        chain_line_ = line_;
        chain_parts_ = 1;
        chain_header_ = header_open_;
      }
      chain_end_ = i_ + 1;
      if (c == '.' && ++chain_parts_ > kMaxKeyParts) {
        const std::string shown = text_.substr(chain_start_, i_ - chain_start_) + "...";
        throw InputError(path_, chain_line_, key_limit_error(shown, chain_parts_, 0));
      }
      line_start_ = false;
      return;
    }
    if (c == ' ' || c == '\t') return;
    end_chain(c == '=' || (c == ']' && chain_header_));
    if (c == '\n') {
      end_line();
      return;
    }
    if (c == '[' && !in_value_ && (line_start_ || header_open_)) {
      header_open_ = true;  // [table] or [[array of tables]]
    } else {
      header_open_ = false;
    }
    line_start_ = false;
    if (c == '=') in_value_ = true;
    if (in_value_ && (c == '[' || c == '{')) ++value_depth_;
    if (in_value_ && (c == ']' || c == '}') && value_depth_ > 0) --value_depth_;
  }

  void end_chain(bool is_key) {
    if (chain_active_ && is_key) {
      if (const std::string e = key_limit_error(chain_text(), chain_parts_,
                                                static_cast<int64_t>(chain_end_ - chain_start_));
          !e.empty()) {
        throw InputError(path_, chain_line_, e);
      }
    }
    chain_active_ = false;
  }

  void end_line() {
    end_chain(false);
    line_start_ = true;
    header_open_ = false;
    if (value_depth_ == 0) in_value_ = false;
  }

  std::string_view chain_text() const {
    return std::string_view(text_).substr(chain_start_, chain_end_ - chain_start_);
  }

  void syntax(unsigned char c) {
    if (c >= 0x80) fail("non-ASCII character outside a string or comment, expected TOML syntax");
    follow_keys(c);
    if (c == '#') {
      state_ = State::kComment;
    } else if (at(i_, "\"\"\"")) {
      state_ = State::kMultiBasic;
      out_ += "\"\"";
      i_ += 2;
    } else if (at(i_, "'''")) {
      state_ = State::kMultiLiteral;
      out_ += "\"\"\"";
      i_ += 2;
      return;
    } else if (c == '"') {
      state_ = State::kBasic;
    } else if (c == '\'') {
      state_ = State::kLiteral;
      out_ += '"';
      return;
    }
    out_ += static_cast<char>(c);
  }

  // Basic strings keep their text; only non-ASCII characters become escapes.
  void basic(unsigned char c) {
    const bool multi = state_ == State::kMultiBasic;
    if (c >= 0x80) {
      escape(decode());
      return;
    }
    out_ += static_cast<char>(c);
    if (c == '\\') {
      size_t j = i_ + 1;
      if (multi) {  // a line-ending backslash: the whitespace up to the next text is trimmed
        while (j < text_.size() && (byte(j) == ' ' || byte(j) == '\t' || byte(j) == '\r')) ++j;
        if (j < text_.size() && byte(j) == '\n') return;
        j = i_ + 1;
      }
      if (j < text_.size() && byte(j) != '\n') {
        if (byte(j) >= 0x80)
          fail("non-ASCII character after a backslash, expected an escape sequence");
        if (byte(j) == '\0') fail("unexpected NUL byte, expected UTF-8 text");
        out_ += text_[j];
        i_ = j;
      }
    } else if (!multi && (c == '"' || c == '\n')) {
      state_ = State::kSyntax;
    } else if (multi && at(i_, "\"\"\"")) {
      // A closing """ may take up to two more quotes as content: copied as they are.
      out_ += "\"\"";
      i_ += 2;
      for (int extra = 0; extra < 2 && i_ + 1 < text_.size() && byte(i_ + 1) == '"'; ++extra) {
        out_ += '"';
        ++i_;
      }
      state_ = State::kSyntax;
    }
  }

  // Literal strings become basic strings: the same text with \ and " escaped.
  void literal(unsigned char c) {
    const bool multi = state_ == State::kMultiLiteral;
    if (c >= 0x80) {
      escape(decode());
    } else if (c == '\\') {
      out_ += "\\\\";
    } else if (c == '"') {
      out_ += "\\\"";
    } else if (!multi && c == '\'') {
      out_ += '"';
      state_ = State::kSyntax;
    } else if (!multi && c == '\n') {
      out_ += '\n';  // unterminated: toml++ reports it
      state_ = State::kSyntax;
    } else if (multi && at(i_, "'''")) {
      // A closing ''' may take up to two more quotes, which are content.
      i_ += 2;
      for (int extra = 0; extra < 2 && i_ + 1 < text_.size() && byte(i_ + 1) == '\''; ++extra) {
        out_ += '\'';
        ++i_;
      }
      out_ += "\"\"\"";
      state_ = State::kSyntax;
    } else {
      out_ += static_cast<char>(c);
    }
  }

  // The code point of the UTF-8 sequence at i_ (i_ moves to its last byte).
  char32_t decode() {
    const auto c = byte(i_);
    int extra = 0;
    char32_t cp = 0;
    char32_t lo = 0x80;  // the first continuation byte's range, which rules out overlong
    char32_t hi = 0xBF;  // forms, surrogates and code points past U+10FFFF
    if (c >= 0xC2 && c <= 0xDF) {
      extra = 1;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      extra = 2;
      cp = c & 0x0F;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      extra = 3;
      cp = c & 0x07;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      fail("invalid UTF-8, expected UTF-8 text");
    }
    for (int k = 1; k <= extra; ++k) {
      if (i_ + k >= text_.size()) fail("invalid UTF-8, expected UTF-8 text");
      const auto b = byte(i_ + k);
      if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF)) {
        fail("invalid UTF-8, expected UTF-8 text");
      }
      cp = (cp << 6) | (b & 0x3F);
    }
    i_ += extra;
    return cp;
  }

  void escape(char32_t cp) {
    char buf[16];
    if (cp <= 0xFFFF) {
      std::snprintf(buf, sizeof buf, "\\u%04X", static_cast<unsigned>(cp));
    } else {
      std::snprintf(buf, sizeof buf, "\\U%08X", static_cast<unsigned>(cp));
    }
    out_ += buf;
  }

  const std::string& text_;
  const std::string& path_;
  std::string out_;
  State state_ = State::kSyntax;
  size_t i_ = 0;
  int64_t line_ = 1;
  // Key chains (follow_keys).
  bool chain_active_ = false;
  bool chain_header_ = false;
  size_t chain_start_ = 0, chain_end_ = 0;
  int64_t chain_line_ = 0;
  int64_t chain_parts_ = 0;
  bool header_open_ = false;  // after the '[' of a table header, before its key
  bool line_start_ = true;    // nothing but blanks yet on this line
  bool in_value_ = false;     // after '=', until the line ends outside brackets
  int64_t value_depth_ = 0;   // open '[' and '{' of the value
};

}  // namespace

std::string key_limit_error(std::string_view key, int64_t parts, int64_t chars) {
  const char* expected = "expected at most 16 parts and 256 characters";
  static_assert(kMaxKeyParts == 16 && kMaxKeyChars == 256, "the message states the limits");
  if (parts > kMaxKeyParts) {
    return std::string("key ") + quoted(key, 64) + " has more than 16 parts, " + expected;
  }
  if (chars > kMaxKeyChars) {
    return std::string("key ") + quoted(key, 64) + " is longer than 256 characters, " + expected;
  }
  return "";
}

std::string ascii_toml(const std::string& text, const std::string& path) {
  return AsciiToml(text, path).run();
}

}  // namespace tinyserve
