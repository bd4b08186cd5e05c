#include "app/process_pool.h"

#include <fcntl.h>
#include <sched.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace tinyserve::app {

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

std::string ProcessResult::describe() const {
  if (signal > 0) {
    return "killed by signal " + std::to_string(signal) + " (" + strsignal(signal) + ")";
  }
  return exit_code == 0 ? "" : "exit status " + std::to_string(exit_code);
}

int32_t available_cores() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  const long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int32_t>(n) : 1;
}

CpuTimes cpu_times() {
  const auto seconds = [](const rusage& u) {
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
  };
  rusage self{}, children{};
  getrusage(RUSAGE_SELF, &self);
  getrusage(RUSAGE_CHILDREN, &children);
  return {seconds(self), seconds(children)};
}

ProcessPool::ProcessPool(int32_t slots) : slots_(std::max(slots, 1)) {}

ProcessPool::~ProcessPool() {
  for (const Child& c : children_) kill(c.pid, SIGTERM);
  for (const Child& c : children_) {
    int status = 0;
    while (waitpid(c.pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
}

void ProcessPool::start(const ProcessJob& job) {
  if (!has_free_slot()) throw std::logic_error("ProcessPool::start without a free slot");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, job.log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<char*> argv;
  for (const std::string& a : job.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int err = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (err != 0) {
    // Could not start (no such program, no log folder...): a child that exits 127 at once, with
    // the reason in its log where the log can be written.
    if (std::FILE* log = std::fopen(job.log_path.c_str(), "wb")) {
      std::fprintf(log, "tinyserve: cannot start %s: %s\n", argv[0], std::strerror(err));
      std::fclose(log);
    }
    pid = fork();
    if (pid == 0) _exit(127);
    if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  }
  children_.push_back({pid, job.tag, now_s()});
}

bool ProcessPool::wait(double timeout_s, ProcessResult& result) {
  const double deadline = now_s() + timeout_s;
  while (!children_.empty()) {
    for (size_t i = 0; i < children_.size(); ++i) {
      int status = 0;
      const pid_t r = waitpid(children_[i].pid, &status, WNOHANG);
      if (r != children_[i].pid) continue;
      result = {};
      result.tag = children_[i].tag;
      result.wall_s = now_s() - children_[i].start_s;
      if (WIFSIGNALED(status)) {
        result.signal = WTERMSIG(status);
      } else {
        result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
      }
      children_.erase(children_.begin() + static_cast<std::ptrdiff_t>(i));
      return true;
    }
    if (now_s() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

}  // namespace tinyserve::app
