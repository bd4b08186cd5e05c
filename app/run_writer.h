// Writes a run's outputs: metrics.csv (one row per step), events.jsonl (one event per line),
// requests.csv (one row per request) and summary.json. Everything is written under NAME.partial and renamed only when the run completes,
// so an interrupted run never leaves a file that looks complete.
#pragma once

#include <cstdio>
#include <span>
#include <string>

#include "core/scheduling/events.h"
#include "core/engine/step_metrics.h"

namespace tinyserve::app {

class RunWriter {
 public:
  // Creates dir if needed; throws InputError when it cannot be written.
  explicit RunWriter(std::string dir);
  ~RunWriter();
  RunWriter(const RunWriter&) = delete;
  RunWriter& operator=(const RunWriter&) = delete;

  void write_step(const StepMetrics& metrics, std::span<const Event> events);
  void write_events(std::span<const Event> events);
  // Writes requests.csv and summary.json, flushes and renames the four files into place.
  void finish(const std::string& summary_json, const std::string& requests_csv);
  const std::string& dir() const { return dir_; }

 private:
  void flush(bool force);

  std::string dir_;
  std::FILE* metrics_ = nullptr;
  std::FILE* events_ = nullptr;
  std::string metrics_buffer_, events_buffer_;
};

std::string event_json(const Event& e);

}  // namespace tinyserve::app
