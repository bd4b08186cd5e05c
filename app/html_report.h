// report.html: one self-contained page (inline CSS and SVG; no script, no font, no network)
// built from headings, paragraphs, tables and charts, written under NAME.partial and renamed.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "app/svg_chart.h"

namespace tinyserve::app {

// v with sig significant digits ("%.*g"), e.g. for table cells.
std::string format_number(double v, int sig = 4);

class HtmlReport {
 public:
  explicit HtmlReport(std::string title);

  void heading(const std::string& text);    // a section title
  void paragraph(const std::string& text);  // plain text, escaped
  void note(const std::string& text);       // small grey text, escaped
  // Rows of label: value pairs.
  void facts(const std::vector<std::pair<std::string, std::string>>& rows);
  // A table; numeric-looking cells are right-aligned. highlight: a row to mark (-1 none).
  void table(const std::vector<std::string>& header,
             const std::vector<std::vector<std::string>>& rows, int highlight = -1);
  void chart(const LineChart& chart);
  // Charts placed next to each other while the page is wide enough.
  void begin_charts();
  void end_charts();

  std::string html() const;
  // Writes path.partial, then renames it to path; throws std::runtime_error on failure.
  void write(const std::string& path) const;

 private:
  std::string title_;
  std::string body_;
};

}  // namespace tinyserve::app
