#include "app/run_writer.h"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>

#include "core/base/errors.h"

namespace tinyserve::app {

namespace fs = std::filesystem;

namespace {

std::FILE* open_partial(const std::string& dir, const char* name) {
  const std::string path = dir + "/" + name + ".partial";
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) throw InputError(path, 0, std::string("cannot write: ") + std::strerror(errno));
  return f;
}

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

void write_all(std::FILE* f, const std::string& data, const std::string& what) {
  if (!data.empty() && std::fwrite(data.data(), 1, data.size(), f) != data.size()) {
    throw std::runtime_error("cannot write " + what + ": " + std::strerror(errno));
  }
}

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

RunWriter::RunWriter(std::string dir) : dir_(std::move(dir)) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) throw InputError(dir_, 0, "cannot create the output directory: " + ec.message());
  if (!fs::is_directory(dir_, ec)) throw InputError(dir_, 0, "is not a directory");
  for (const char* name : {"metrics.csv", "summary.json", "events.jsonl", "requests.csv"}) {
    fs::remove(dir_ + "/" + name, ec);  // a stale complete file must not outlive this run
  }
  metrics_ = open_partial(dir_, "metrics.csv");
  events_ = open_partial(dir_, "events.jsonl");
  metrics_buffer_ = metrics_csv_header() + "\n";
}

RunWriter::~RunWriter() {
  if (metrics_) std::fclose(metrics_);
  if (events_) std::fclose(events_);
}

void RunWriter::write_step(const StepMetrics& metrics, std::span<const Event> events) {
  append_metrics_csv_row(metrics, metrics_buffer_);
  for (const Event& e : events) events_buffer_ += event_json(e);
  flush(false);
}

void RunWriter::write_events(std::span<const Event> events) {
  for (const Event& e : events) events_buffer_ += event_json(e);
  flush(false);
}

void RunWriter::flush(bool force) {
  constexpr size_t kChunk = 1 << 20;
  if (force || metrics_buffer_.size() > kChunk) {
    write_all(metrics_, metrics_buffer_, "metrics.csv");
    metrics_buffer_.clear();
  }
  if (force || events_buffer_.size() > kChunk) {
    write_all(events_, events_buffer_, "events.jsonl");
    events_buffer_.clear();
  }
}

void RunWriter::finish(const std::string& summary_json, const std::string& requests_csv) {
  flush(true);
  std::FILE* requests = open_partial(dir_, "requests.csv");
  write_all(requests, requests_csv, "requests.csv");
  std::FILE* summary = open_partial(dir_, "summary.json");
  write_all(summary, summary_json, "summary.json");
  const bool ok = std::fclose(requests) == 0 && std::fclose(summary) == 0 &&
                  std::fclose(metrics_) == 0 && std::fclose(events_) == 0;
  metrics_ = events_ = nullptr;
  if (!ok) throw std::runtime_error("cannot close the outputs in " + dir_ + ": " + std::strerror(errno));
  for (const char* name : {"metrics.csv", "events.jsonl", "requests.csv", "summary.json"}) {
    const std::string path = dir_ + "/" + name;
    fs::rename(path + ".partial", path);
  }
}

}  // namespace tinyserve::app
