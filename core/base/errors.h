// Bad input (a scenario file, a trace, a model config, a command-line value): which file, which
// line, and what was expected. Callers print what() on one line and exit with code 2.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace tinyserve {

class InputError : public std::runtime_error {
 public:
  // line 0: the error is about the file as a whole (or there is no line, e.g. a --set value).
  InputError(std::string file, int64_t line, const std::string& message)
      : std::runtime_error(format(file, line, message)), file_(std::move(file)), line_(line) {}

  const std::string& file() const { return file_; }
  int64_t line() const { return line_; }

 private:
  static std::string format(const std::string& file, int64_t line, const std::string& message) {
    std::string out = file;
    if (line > 0) {
      out.push_back(':');
      out.append(std::to_string(line));
    }
    if (!out.empty()) out.append(": ");
    out.append(message);
    return out;
  }
  std::string file_;
  int64_t line_;
};

}  // namespace tinyserve
