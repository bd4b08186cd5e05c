// The desktop app's view of a finished sweep folder (tinyserve sweep): its configurations as a
// sortable table of grid values and summary metrics, and the overrides that run one of them (or
// compare two) in the app. Runs are deterministic, so a row opened here replays exactly the run
// the sweep made, with every view of the app on it. No ImGui here (tested with the core).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "app/gui/session.h"
#include "app/sweep_plan.h"

namespace tinyserve::app {

class SweepBrowser {
 public:
  // Reads DIR/sweep.json and every run folder; "" or the error (the browser stays as it was).
  std::string open(const std::string& dir);
  bool is_open() const { return !plan_.runs.empty(); }
  const SweepPlan& plan() const { return plan_; }
  const SweepTable& table() const { return table_; }

  // Columns: the grid keys, status, then the metrics of report_metrics() present in the sweep.
  size_t num_columns() const { return headers_.size(); }
  const std::string& header(size_t column) const { return headers_[column]; }
  std::string cell(size_t row, size_t column) const;
  // Row indices in display order; sort by a column (numbers as numbers, empty cells last).
  const std::vector<size_t>& order() const { return order_; }
  void sort(size_t column, bool ascending);

  // The --set overrides that reproduce row r: the sweep's sets, then its grid values.
  std::vector<std::string> overrides(size_t row) const;
  // Two rows as a comparison: base gets the overrides they share, the setup the ones that differ
  // (one a line on each side).
  CompareSetup compare_setup(size_t a, size_t b, std::vector<std::string>& base) const;
  std::string row_name(size_t row) const;  // "block_size=16, max_num_seqs=64"

  // View state: the window shown, the rows picked (-1 none; second for a comparison), the
  // folder dialog and the last error.
  bool visible = false;
  int64_t selected = -1;
  int64_t second = -1;
  bool ask_folder = false;
  char folder[512] = "";
  std::string error;

 private:
  SweepPlan plan_;
  SweepTable table_;
  std::vector<std::string> headers_;
  std::vector<std::string> metric_paths_;  // per metric column
  std::vector<bool> metric_percent_;
  std::vector<size_t> order_;
};

}  // namespace tinyserve::app
