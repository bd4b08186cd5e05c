// A guard in front of toml++: Debian's toml++ 3.3.0 reaches undefined behaviour
// (TOML_UNREACHABLE in is_non_ascii_horizontal_whitespace) when it classifies certain non-ASCII
// characters (U+00A1-U+0499, U+2C6E-U+3067 but U+3000, U+FBC6-U+FEFE) as it scans syntax, also
// inside what would be a string in a well-formed file but is not where the file is malformed
// (`x = +"Ś`, found by fuzzing). So toml++ is only ever given ASCII: text with the same meaning,
// non-ASCII characters written as escapes.
// toml++ also recurses once per part of a dotted key or table header (and so does the tables'
// destruction): a key of 500,000 parts overflows the stack. Keys are refused past a limit first.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tinyserve {

// A key (a dotted key, a table header, a --set key) has at most this many parts and this many
// characters (as written, quotes included); scenario keys have at most four parts.
inline constexpr int32_t kMaxKeyParts = 16;
inline constexpr int32_t kMaxKeyChars = 256;

// "" when a key of `parts` parts written in `chars` characters is within the limits, else what is
// wrong with it, naming the key by its first characters.
std::string key_limit_error(std::string_view key, int64_t parts, int64_t chars);

// The ASCII form of a TOML text: non-ASCII characters in basic strings become \uXXXX or
// \UXXXXXXXX escapes, literal strings become basic strings (with \ and " escaped), non-ASCII
// characters in comments become spaces. Lines are kept, so toml++'s line numbers hold.
// A leading UTF-8 byte order mark is dropped.
// Throws InputError(path, line, ...) for a NUL byte, invalid UTF-8, a non-ASCII character outside
// strings and comments (TOML allows none there) or right after a backslash escape, and for a key
// past kMaxKeyParts or kMaxKeyChars.
std::string ascii_toml(const std::string& text, const std::string& path);

}  // namespace tinyserve
