// A guard in front of toml++: Debian's toml++ 3.3.0 reaches undefined behaviour
// (TOML_UNREACHABLE in is_non_ascii_horizontal_whitespace) when it meets certain non-ASCII
// characters where it expects syntax, e.g. U+00E9 or U+FEBF after a value (found by fuzzing).
// TOML allows non-ASCII only in strings, comments and quoted keys, so such input is refused here,
// with its line, before toml++ sees it.
#pragma once

#include <string>

namespace tinyserve {

// Throws InputError(path, line, ...) for a NUL byte anywhere, and for a non-ASCII byte outside
// strings and comments or right after a line-ending backslash in a multi-line string.
void check_toml_text(const std::string& text, const std::string& path);

}  // namespace tinyserve
