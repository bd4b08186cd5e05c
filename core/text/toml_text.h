// A guard in front of toml++: Debian's toml++ 3.3.0 reaches undefined behaviour
// (TOML_UNREACHABLE in is_non_ascii_horizontal_whitespace) when it classifies certain non-ASCII
// characters (U+00A1-U+0499, U+2C6E-U+3067 but U+3000, U+FBC6-U+FEFE) as it scans syntax, also
// inside what would be a string in a well-formed file but is not where the file is malformed
// (`x = +"Ś`, found by fuzzing). So toml++ is only ever given ASCII: text with the same meaning,
// non-ASCII characters written as escapes.
#pragma once

#include <string>

namespace tinyserve {

// The ASCII form of a TOML text: non-ASCII characters in basic strings become \uXXXX or
// \UXXXXXXXX escapes, literal strings become basic strings (with \ and " escaped), non-ASCII
// characters in comments become spaces. Lines are kept, so toml++'s line numbers hold.
// Throws InputError(path, line, ...) for a NUL byte, invalid UTF-8, a non-ASCII character outside
// strings and comments (TOML allows none there) or right after a backslash escape.
std::string ascii_toml(const std::string& text, const std::string& path);

}  // namespace tinyserve
