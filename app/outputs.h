// Where outputs go and what can go wrong there: an output folder locked by the run that writes it,
// file names made from untrusted text, private temporary folders, and failures of the
// environment (a full disk, a closed or full standard output), which are not bad input and not
// internal errors.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace tinyserve::app {

// The environment failed us: a write to a file or to standard output did not happen. The
// message names the full path and the cause; the exit code is 1.
class OutputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// text as one path component: letters, digits, '-', '_' and '.' are kept, every other byte
// becomes '_', a leading '.' becomes '_' (no "..", no hidden file), and an empty result is "_".
std::string path_component(std::string_view text);

// An exclusive lock on an output folder, held while the process lives (flock on
// DIR/.tinyserve.lock, released by the kernel however the process ends). The lock file holds the
// holder's description.
class FolderLock {
 public:
  FolderLock() = default;
  // Creates dir if needed. InputError when dir cannot be created or is not a folder, or when
  // another process holds the lock (naming it by the description it left).
  FolderLock(const std::string& dir, const std::string& holder);
  ~FolderLock();
  FolderLock(FolderLock&& other) noexcept;
  FolderLock& operator=(FolderLock&& other) noexcept;

 private:
  int fd_ = -1;
};

// A new folder of its own under the system's temporary folder, named prefix-XXXXXX.
std::string private_temp_dir(const std::string& prefix);

// Flushes standard output; OutputError when anything written to it was lost (a full disk, a
// closed pipe).
void flush_stdout();

}  // namespace tinyserve::app
