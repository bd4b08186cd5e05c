// The compare table: two runs' key metrics at one simulated time, each metric with the direction
// that is better, or none (then it is not coloured). Built each frame from the runs' histories,
// so it always shows the current state. No ImGui: view_compare.cpp draws it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "app/gui/session.h"

namespace tinyserve::app {

enum class Better : uint8_t { kHigher, kLower, kNeither };
// B against A, as the table colours it.
enum class Verdict : uint8_t { kEqual, kBetter, kWorse, kNotColoured };

struct CompareRow {
  const char* name = "";
  const char* help = "";  // what it measures, and which direction is better or why neither is
  Better better = Better::kNeither;
  double a = 0, b = 0;
  const char* format = "%.0f";  // printf format of one value
  bool percent = false;         // differences in percentage points
};

struct CompareTable {
  double time_s = 0;                 // the simulated time both runs are read at
  int64_t steps_a = 0, steps_b = 0;  // the steps each run took to reach it
  std::vector<CompareRow> rows;
};

// The latest simulated time both runs have reached (a finished run keeps its last state).
double common_time(const Run& a, const Run& b);
// Both runs at common_time(a, b): each read at its last step ending at or before that time.
CompareTable compare_at_equal_time(const Run& a, const Run& b);

std::string format_value(const CompareRow& row, double value);
// Equal when both values read the same as shown.
Verdict verdict(const CompareRow& row);
// "+0.3 pt", "-68%", "+4"; "=" when equal as shown.
std::string difference(const CompareRow& row);
const char* better_label(Better better);  // "higher is better", ...

}  // namespace tinyserve::app
