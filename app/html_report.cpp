#include "app/html_report.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace tinyserve::app {

namespace {

constexpr const char* kStyle = R"(
body { font-family: sans-serif; color: #222; background: #fafafa; margin: 24px; }
h1 { font-size: 22px; margin: 0 0 6px 0; }
h2 { font-size: 17px; margin: 28px 0 8px 0; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
p { max-width: 60em; line-height: 1.4; }
.note { color: #666; font-size: 13px; }
table { border-collapse: collapse; font-size: 13px; background: #fff; }
th, td { border: 1px solid #ddd; padding: 3px 8px; }
th { background: #f0f0f0; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.best td { background: #e6f3e6; font-weight: bold; }
table.facts td:first-child { color: #555; }
.charts { display: flex; flex-wrap: wrap; gap: 14px; }
.chart { background: #fff; border: 1px solid #ddd; }
.scroll { max-height: 520px; overflow: auto; display: inline-block; }
)";

bool looks_numeric(const std::string& s) {
  if (s.empty()) return false;
  size_t digits = 0;
  for (char c : s) {
    if (c >= '0' && c <= '9') {
      ++digits;
    } else if (!(c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E' || c == '%' ||
                 c == ',')) {
      return false;
    }
  }
  return digits > 0;
}

}  // namespace

std::string format_number(double v, int sig) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*g", sig, v);
  return buf;
}

HtmlReport::HtmlReport(std::string title) : title_(std::move(title)) {
  body_ += "<h1>" + xml_escape(title_) + "</h1>\n";
}

void HtmlReport::heading(const std::string& text) {
  body_ += "<h2>" + xml_escape(text) + "</h2>\n";
}

void HtmlReport::paragraph(const std::string& text) {
  body_ += "<p>" + xml_escape(text) + "</p>\n";
}

void HtmlReport::note(const std::string& text) {
  body_ += "<p class=\"note\">" + xml_escape(text) + "</p>\n";
}

void HtmlReport::facts(const std::vector<std::pair<std::string, std::string>>& rows) {
  body_ += "<table class=\"facts\">\n";
  for (const auto& [k, v] : rows) {
    body_ += "<tr><td>" + xml_escape(k) + "</td><td>" + xml_escape(v) + "</td></tr>\n";
  }
  body_ += "</table>\n";
}

void HtmlReport::table(const std::vector<std::string>& header,
                       const std::vector<std::vector<std::string>>& rows, int highlight) {
  body_ += "<div class=\"scroll\"><table>\n<tr>";
  for (const std::string& h : header) body_ += "<th>" + xml_escape(h) + "</th>";
  body_ += "</tr>\n";
  for (size_t r = 0; r < rows.size(); ++r) {
    body_ += static_cast<int>(r) == highlight ? "<tr class=\"best\">" : "<tr>";
    for (const std::string& cell : rows[r]) {
      body_ += looks_numeric(cell) ? "<td class=\"num\">" : "<td>";
      body_ += xml_escape(cell) + "</td>";
    }
    body_ += "</tr>\n";
  }
  body_ += "</table></div>\n";
}

void HtmlReport::chart(const LineChart& chart) {
  body_ += svg_line_chart(chart);
}

void HtmlReport::begin_charts() {
  body_ += "<div class=\"charts\">\n";
}

void HtmlReport::end_charts() {
  body_ += "</div>\n";
}

std::string HtmlReport::html() const {
  return "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" +
         xml_escape(title_) + "</title>\n<style>" + kStyle + "</style>\n</head>\n<body>\n" + body_ +
         "</body>\n</html>\n";
}

void HtmlReport::write(const std::string& path) const {
  const std::string partial = path + ".partial";
  std::FILE* f = std::fopen(partial.c_str(), "wb");
  if (!f) throw std::runtime_error("cannot write " + partial + ": " + std::strerror(errno));
  const std::string text = html();
  const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  if (std::fclose(f) != 0 || !ok) {
    throw std::runtime_error("cannot write " + partial + ": " + std::strerror(errno));
  }
  std::filesystem::rename(partial, path);
}

}  // namespace tinyserve::app
