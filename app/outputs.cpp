#include "app/outputs.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <vector>

#include "core/base/errors.h"

namespace tinyserve::app {

namespace fs = std::filesystem;

std::string path_component(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_' || (c == '.' && !out.empty());
    out += keep ? c : '_';
  }
  return out.empty() ? "_" : out;
}

FolderLock::FolderLock(const std::string& dir, const std::string& holder) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw InputError(dir, 0, "cannot create the output folder: " + ec.message());
  if (!fs::is_directory(dir, ec))
    throw InputError(dir, 0, "is not a folder, expected an output folder");
  const std::string path = (fs::path(dir) / ".tinyserve.lock").string();
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw InputError(path, 0, std::string("cannot create: ") + std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    std::string other(256, '\0');
    const ssize_t got = ::pread(fd_, other.data(), other.size(), 0);
    other.resize(got > 0 ? static_cast<size_t>(got) : 0);
    while (!other.empty() && (other.back() == '\n' || other.back() == '\0')) other.pop_back();
    ::close(fd_);
    fd_ = -1;
    if (error != EWOULDBLOCK) {
      throw InputError(path, 0, std::string("cannot lock: ") + std::strerror(error));
    }
    throw InputError(dir, 0,
                     "in use by another run (" + (other.empty() ? std::string("starting") : other) +
                         "); wait for it to end or choose another --out");
  }
  const std::string text = holder + "\n";
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, text.data(), text.size(), 0) < 0) {
    // The lock holds without its description; a second run then says "starting".
  }
}

FolderLock::~FolderLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the lock; the file stays for the next run
}

FolderLock::FolderLock(FolderLock&& other) noexcept : fd_(other.fd_) {
  other.fd_ = -1;
}

FolderLock& FolderLock::operator=(FolderLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

std::string private_temp_dir(const std::string& prefix) {
  std::error_code ec;
  const fs::path base = fs::temp_directory_path(ec);
  std::string pattern = ((ec ? fs::path("/tmp") : base) / (prefix + "-XXXXXX")).string();
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  if (::mkdtemp(buffer.data()) == nullptr) {
    throw OutputError("cannot create a temporary folder " + pattern + ": " + std::strerror(errno));
  }
  return buffer.data();
}

void flush_stdout() {
  errno = 0;
  const bool flushed = std::fflush(stdout) == 0;
  if (!flushed || std::ferror(stdout)) {
    const int error = errno;
    std::clearerr(stdout);
    throw OutputError(std::string("cannot write to standard output: ") +
                      (error != 0 ? std::strerror(error) : "a write failed"));
  }
}

}  // namespace tinyserve::app
