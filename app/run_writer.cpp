#include "app/run_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>

#include "core/base/errors.h"

namespace tinyserve::app {

namespace fs = std::filesystem;

namespace {

void append_number(std::string& out, double v) {
  char buf[32];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, p);
}

void append_number(std::string& out, int64_t v) {
  char buf[24];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, p);
}

constexpr size_t kChunk = 1 << 20;  // bytes buffered per file between writes

}  // namespace

std::string event_json(const Event& e) {
  std::string s = "{\"step\":";
  append_number(s, e.step);
  s += ",\"time\":";
  append_number(s, e.time);
  s += ",\"kind\":\"";
  s += to_string(e.kind);
  s += "\",\"request\":";
  append_number(s, e.request);
  s += ",\"seq\":";
  append_number(s, static_cast<int64_t>(e.seq));
  s += ",\"a\":";
  append_number(s, e.a);
  s += ",\"b\":";
  append_number(s, e.b);
  s += "}\n";
  return s;
}

RunWriter::RunWriter(std::string dir, const std::string& holder, RunOutputs outputs)
    : dir_(std::move(dir)), lock_(dir_, holder) {
  files_[kMetrics].wanted = outputs.metrics;
  files_[kEvents].wanted = outputs.events;
  files_[kRequests].wanted = outputs.requests;
  files_[kReport].wanted = outputs.report;
  std::error_code ec;
  const fs::path absolute = fs::absolute(dir_, ec).lexically_normal();
  for (int i = 0; i < kNumOutputs; ++i) {
    const fs::path final_path = absolute / kNames[i];
    const fs::file_status status = fs::symlink_status(final_path, ec);
    if (fs::exists(status) && !fs::is_regular_file(status) && !fs::is_symlink(status)) {
      throw InputError(final_path.string(), 0,
                       "exists and is not a file (a folder?), so the run could not write its "
                       "output there; remove it or choose another --out");
    }
    files_[i].path = final_path.string() + ".partial";
  }
  for (File& f : files_) {
    if (!f.wanted) continue;
    f.fd = ::open(f.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (f.fd < 0) {
      const int error = errno;
      close_all(false);
      for (const File& g : files_) {
        if (&g == &f) break;
        if (g.wanted) ::unlink(g.path.c_str());
      }
      throw InputError(f.path, 0, std::string("cannot write: ") + std::strerror(error));
    }
  }
  selection_columns_ = outputs.selection_columns;
  files_[kMetrics].buffer = metrics_csv_header(selection_columns_) + "\n";
}

RunWriter::~RunWriter() {
  if (done_) return;
  if (steps_ == 0) {
    close_all(false);
    for (const File& f : files_) {
      if (f.wanted) ::unlink(f.path.c_str());
    }
    return;
  }
  // A failed run: keep what it wrote, best effort (the failure may be the disk's).
  for (File* f : {&files_[kMetrics], &files_[kEvents]}) {
    try {
      flush(*f);
    } catch (const OutputError&) {
    }
  }
  close_all(false);
  remove(kRequests);
  remove(kReport);
  remove(kSummary);
}

std::vector<std::string> RunWriter::partial_paths() const {
  std::vector<std::string> paths;
  for (const File& f : files_) {
    if (f.wanted) paths.push_back(f.path);
  }
  return paths;
}

void RunWriter::write_step(const StepMetrics& metrics, std::span<const Event> events) {
  if (files_[kMetrics].wanted)
    append_metrics_csv_row(metrics, files_[kMetrics].buffer, selection_columns_);
  ++steps_;
  write_events(events);
}

void RunWriter::write_events(std::span<const Event> events) {
  if (files_[kEvents].wanted) {
    for (const Event& e : events) files_[kEvents].buffer += event_json(e);
  }
  flush_full();
}

void RunWriter::flush_full() {
  for (File* f : {&files_[kMetrics], &files_[kEvents]}) {
    if (f->buffer.size() > kChunk) flush(*f);
  }
}

void RunWriter::flush(File& f) {
  if (!f.wanted) return;
  size_t done = 0;
  while (done < f.buffer.size()) {
    const ssize_t wrote = ::write(f.fd, f.buffer.data() + done, f.buffer.size() - done);
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote <= 0) {
      const int error = wrote < 0 ? errno : EIO;
      f.buffer.erase(0, done);
      throw OutputError("cannot write " + f.path + ": " + std::strerror(error));
    }
    done += static_cast<size_t>(wrote);
  }
  f.buffer.clear();
}

void RunWriter::close_all(bool check) {
  for (File& f : files_) {
    if (f.fd < 0) continue;
    const bool ok = ::close(f.fd) == 0;
    const int error = errno;
    f.fd = -1;
    if (check && !ok) throw OutputError("cannot write " + f.path + ": " + std::strerror(error));
  }
}

void RunWriter::remove(Output output) {
  if (files_[output].wanted) ::unlink(files_[output].path.c_str());
}

void RunWriter::finish(const std::string& summary_json, const std::string& requests_csv,
                       const std::string& report_html) {
  files_[kRequests].buffer = requests_csv;
  files_[kReport].buffer = report_html;
  files_[kSummary].buffer = summary_json;
  for (File& f : files_) flush(f);
  close_all(true);
  done_ = true;
  // Renamed in order, summary.json last: a folder whose summary is new holds the new rows. An
  // output left out loses the file an earlier run left there.
  for (const File& f : files_) {
    const std::string final_path = f.path.substr(0, f.path.size() - std::strlen(".partial"));
    if (!f.wanted) {
      ::unlink(final_path.c_str());
      continue;
    }
    if (::rename(f.path.c_str(), final_path.c_str()) != 0) {
      throw OutputError("cannot rename " + f.path + " to " + final_path + ": " +
                        std::strerror(errno));
    }
  }
}

void RunWriter::stop() {
  flush(files_[kMetrics]);
  flush(files_[kEvents]);
  close_all(true);
  done_ = true;
  remove(kRequests);
  remove(kReport);
  remove(kSummary);
}

}  // namespace tinyserve::app
