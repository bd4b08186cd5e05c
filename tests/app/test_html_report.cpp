#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "app/html_report.h"

using namespace tinyserve::app;
namespace fs = std::filesystem;

namespace {

// The element names of the page's tags are balanced (void elements aside): "" or the first
// mismatch.
std::string unbalanced(const std::string& html) {
  std::vector<std::string> open;
  for (size_t at = html.find('<'); at != std::string::npos; at = html.find('<', at + 1)) {
    if (html.compare(at, 2, "<!") == 0) continue;
    const size_t end = html.find('>', at);
    if (end == std::string::npos) return "an unclosed tag";
    std::string tag = html.substr(at + 1, end - at - 1);
    const bool closing = tag.starts_with("/");
    const bool self_closing = tag.ends_with("/");
    std::string name = tag.substr(closing ? 1 : 0);
    name = name.substr(0, name.find_first_of(" /\n"));
    if (self_closing || name == "meta") continue;
    if (!closing) {
      open.push_back(name);
    } else if (open.empty() || open.back() != name) {
      return "</" + name + "> closes " + (open.empty() ? "nothing" : "<" + open.back() + ">");
    } else {
      open.pop_back();
    }
  }
  return open.empty() ? "" : "<" + open.back() + "> left open";
}

}  // namespace

TEST_CASE("a report is one balanced page with escaped text, tables and charts") {
  HtmlReport page("a <title> & more");
  page.paragraph("x < y");
  page.facts({{"model", "Llama \"3\""}});
  page.table({"key", "value"}, {{"a", "1.5"}, {"b", "text"}}, 1);
  page.begin_charts();
  LineChart c;
  c.title = "chart";
  c.series = {{"s", {0, 1}, {0, 1}}};
  page.chart(c);
  page.end_charts();
  const std::string html = page.html();
  CHECK(html.starts_with("<!DOCTYPE html>"));
  CHECK(unbalanced(html) == "");
  CHECK(html.find("a &lt;title&gt; &amp; more") != std::string::npos);
  CHECK(html.find("x &lt; y") != std::string::npos);
  CHECK(html.find("Llama &quot;3&quot;") != std::string::npos);
  CHECK(html.find("<td class=\"num\">1.5</td>") != std::string::npos);
  CHECK(html.find("<tr class=\"best\">") != std::string::npos);
  for (const char* outside : {"<script", "src=", "href=", "http:", "https:", "@import"}) {
    CHECK_MESSAGE(html.find(outside) == std::string::npos, outside);
  }
}

TEST_CASE("write puts the page in place through a partial file") {
  const fs::path dir = fs::temp_directory_path() / "tinyserve-test-report";
  fs::create_directories(dir);
  const std::string path = (dir / "report.html").string();
  HtmlReport page("t");
  page.write(path);
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  CHECK(ss.str() == page.html());
  CHECK(!fs::exists(path + ".partial"));
  fs::remove_all(dir);
}
