// Test helpers for readers of files: a temporary folder to write inputs into, and the InputError a
// call throws.
#pragma once

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <string>

#include "core/base/errors.h"

namespace tinyserve::testing {

// A fresh folder under the system's temporary folder, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("tinyserve_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // Writes content (bytes as given) to name inside the folder; returns the file's path.
  std::string write(const std::string& name, const std::string& content) const {
    const std::filesystem::path file = path_ / name;
    std::ofstream out(file, std::ios::binary);
    out << content;
    return file.string();
  }
  std::string path(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// The InputError that call throws, or nothing when it returns or throws something else.
inline std::optional<InputError> input_error(const std::function<void()>& call) {
  try {
    call();
  } catch (const InputError& e) {
    return e;
  } catch (...) {
  }
  return std::nullopt;
}

inline std::string source_path(const std::string& relative) {
  return std::string(TINYSERVE_SOURCE_DIR) + "/" + relative;
}

}  // namespace tinyserve::testing
