// Writes a run's outputs: metrics.csv (one row per step), events.jsonl (one event per line),
// requests.csv (one row per request), report.html (charts) and summary.json; any but the summary
// may be left out. The folder is locked for the run (a second
// run into it is refused); every output is checked writable before the run; everything is written
// under NAME.partial and renamed only when the run completes, so the previous complete result stays
// until the new one replaces it, and an interrupted run never leaves a file that looks complete.
#pragma once

#include <array>
#include <span>
#include <string>
#include <vector>

#include "app/outputs.h"
#include "core/engine/step_metrics.h"
#include "core/scheduling/events.h"

namespace tinyserve::app {

// Which files a run writes besides summary.json (always written, last).
struct RunOutputs {
  bool metrics = true;
  bool events = true;
  bool requests = true;
  bool report = true;
  bool selection_columns = false;  // metrics.csv's selection columns (attention.selection on)
};

class RunWriter {
 public:
  // Takes dir's lock (holder describes this run to a second one) and creates the NAME.partial
  // files. InputError when another run holds dir, or an output cannot be written (a folder where
  // a file must go, no permission).
  RunWriter(std::string dir, const std::string& holder, RunOutputs outputs = {});
  // Without finish() or stop(): a run that wrote no row removes its .partial files; one that did
  // (it failed) leaves metrics.csv.partial and events.jsonl.partial with the complete rows it had.
  ~RunWriter();
  RunWriter(const RunWriter&) = delete;
  RunWriter& operator=(const RunWriter&) = delete;

  void write_step(const StepMetrics& metrics, std::span<const Event> events);
  void write_events(std::span<const Event> events);
  // Writes requests.csv, report.html and summary.json (those wanted), flushes and renames the
  // files into place, summary.json last; removes the files of outputs left out that an earlier
  // run left, so the folder holds one run. OutputError on failure.
  void finish(const std::string& summary_json, const std::string& requests_csv,
              const std::string& report_html = {});
  // An interrupted run: writes every complete row, closes the files and leaves metrics.csv.partial
  // and events.jsonl.partial (no requests.csv, no summary). OutputError on failure.
  void stop();

  const std::string& dir() const { return dir_; }
  // The .partial files' paths, for a signal handler to remove before the first step.
  std::vector<std::string> partial_paths() const;

 private:
  struct File {
    std::string path;  // absolute path of NAME.partial
    int fd = -1;       // -1: not open (or an output left out)
    bool wanted = true;
    std::string buffer;
  };
  enum Output { kMetrics, kEvents, kRequests, kReport, kSummary, kNumOutputs };
  static constexpr std::array<const char*, kNumOutputs> kNames = {
      "metrics.csv", "events.jsonl", "requests.csv", "report.html", "summary.json"};
  void flush(File& file);
  void flush_full();
  void close_all(bool check);
  void remove(Output output);

  std::string dir_;
  FolderLock lock_;
  std::array<File, kNumOutputs> files_;
  int64_t steps_ = 0;
  bool selection_columns_ = false;
  bool done_ = false;
};

std::string event_json(const Event& e);

}  // namespace tinyserve::app
