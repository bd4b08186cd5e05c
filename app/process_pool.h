// Runs commands as child processes, at most `slots` at a time, each with stdout and stderr sent
// to its own log file. A child that fails or crashes is a result, never the caller's failure.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace tinyserve::app {

struct ProcessJob {
  std::vector<std::string> argv;  // argv[0]: the program's path
  std::string log_path;           // stdout and stderr, truncated at start
  size_t tag = 0;                 // the caller's
};

struct ProcessResult {
  size_t tag = 0;
  int exit_code = 0;  // valid when signal == 0
  int signal = 0;     // > 0: killed by this signal
  double wall_s = 0;
  bool ok() const { return signal == 0 && exit_code == 0; }
  // "exit status 2", "killed by signal 11 (Segmentation fault)", "" when ok.
  std::string describe() const;
};

class ProcessPool {
 public:
  explicit ProcessPool(int32_t slots);
  ~ProcessPool();  // waits for the children still running
  ProcessPool(const ProcessPool&) = delete;
  ProcessPool& operator=(const ProcessPool&) = delete;

  int32_t slots() const { return slots_; }
  size_t running() const { return children_.size(); }
  bool has_free_slot() const { return static_cast<int32_t>(children_.size()) < slots_; }
  // Starts a child; precondition has_free_slot(). A program that cannot be started is reported
  // by wait() as exit status 127 with the reason in its log.
  void start(const ProcessJob& job);
  // Waits up to timeout_s for a child to end; false when none ended in that time (or none runs).
  bool wait(double timeout_s, ProcessResult& result);

 private:
  struct Child {
    pid_t pid;
    size_t tag;
    double start_s;
  };
  int32_t slots_;
  std::vector<Child> children_;
};

// The number of processors this process may run on (at least 1).
int32_t available_cores();

// CPU time (user + system) of this process, and of its children that ended and were waited for.
struct CpuTimes {
  double self_s = 0, children_s = 0;
};
CpuTimes cpu_times();

}  // namespace tinyserve::app
