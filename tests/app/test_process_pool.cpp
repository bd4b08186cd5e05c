#include <doctest/doctest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "app/process_pool.h"

using namespace tinyserve::app;
namespace fs = std::filesystem;

namespace {

std::string read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

ProcessResult wait_one(ProcessPool& pool) {
  ProcessResult r;
  REQUIRE(pool.wait(30, r));
  return r;
}

}  // namespace

TEST_CASE("a child's exit status, crash and output are its own result") {
  const fs::path dir = fs::temp_directory_path() / "tinyserve-test-pool";
  fs::remove_all(dir);
  fs::create_directories(dir);
  ProcessPool pool(1);
  pool.start({{"/bin/sh", "-c", "echo out; echo err >&2; exit 3"}, (dir / "a.log").string(), 7});
  CHECK(!pool.has_free_slot());
  ProcessResult r = wait_one(pool);
  CHECK(r.tag == 7);
  CHECK(r.exit_code == 3);
  CHECK(!r.ok());
  CHECK(r.describe() == "exit status 3");
  CHECK(read(dir / "a.log") == "out\nerr\n");

  pool.start({{"/bin/sh", "-c", "kill -SEGV $$"}, (dir / "b.log").string(), 8});
  r = wait_one(pool);
  CHECK(r.signal == SIGSEGV);
  CHECK(r.describe().starts_with("killed by signal 11"));

  pool.start({{"/nonexistent/program"}, (dir / "c.log").string(), 9});
  r = wait_one(pool);
  CHECK(r.exit_code == 127);
  CHECK(read(dir / "c.log").find("cannot start /nonexistent/program") != std::string::npos);
  CHECK(!pool.wait(0.01, r));  // nothing left
  fs::remove_all(dir);
}

TEST_CASE("the pool runs up to its slots at once and reports every child once") {
  const fs::path dir = fs::temp_directory_path() / "tinyserve-test-pool-slots";
  fs::remove_all(dir);
  fs::create_directories(dir);
  ProcessPool pool(3);
  std::set<size_t> seen;
  size_t next = 0;
  while (seen.size() < 10) {
    while (next < 10 && pool.has_free_slot()) {
      pool.start(
          {{"/bin/sh", "-c", "exit 0"}, (dir / (std::to_string(next) + ".log")).string(), next});
      ++next;
      CHECK(pool.running() <= 3);
    }
    ProcessResult r;
    if (pool.wait(5, r)) {
      CHECK(r.ok());
      CHECK(seen.insert(r.tag).second);
    }
  }
  CHECK(pool.running() == 0);
  fs::remove_all(dir);
}
