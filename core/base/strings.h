// Small string helpers (GCC 12's standard library has no <format>).
#pragma once

#include <charconv>
#include <sstream>
#include <string>
#include <string_view>

namespace tinyserve {

// Concatenates the arguments as an ostream would print them.
template <typename... Args>
std::string cat(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}

// Parses a whole string as a number; false on trailing characters, overflow or empty input.
template <typename T>
bool parse_number(std::string_view text, T& value) {
  const char* first = text.data();
  const char* last = first + text.size();
  if (first != last && *first == '+') ++first;
  auto [ptr, ec] = std::from_chars(first, last, value);
  return ec == std::errc() && ptr == last && first != last;
}

}  // namespace tinyserve
