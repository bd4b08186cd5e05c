// Reading a whole input file (a trace, a model config) into memory, with the errors a user can act
// on: no such file, a directory, not a regular file, unreadable.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tinyserve {

// Throws InputError(file, line, message). Defined out of line: GCC 12 reports a false -Wrestrict
// (GCC bug 105329) wherever InputError's message concatenation is inlined at -O2.
[[noreturn]] void throw_input_error(const std::string& file, int64_t line,
                                    const std::string& message);

// The file's bytes; InputError naming the path when it cannot be read. Non-regular files (FIFOs,
// devices) are refused so that reading never blocks or runs forever.
std::string read_text_file(const std::string& path);

// text without a leading UTF-8 byte order mark (which editors on Windows write).
std::string_view without_bom(std::string_view text);

// 1-based line of the byte at offset (clamped to the text).
int64_t line_of_offset(std::string_view text, size_t offset);

// ASCII lower case (names are compared case-insensitively).
std::string ascii_lower(std::string_view text);

// A fragment of untrusted input fit for a one-line message: quoted, control bytes escaped,
// truncated to max_chars.
std::string quoted(std::string_view text, size_t max_chars = 40);

}  // namespace tinyserve
