#include <doctest/doctest.h>

#include <numeric>
#include <string>
#include <vector>

#include "app/gui/text_fit.h"

using namespace tinyserve::app;

namespace {

// 7 pixels a character (a UTF-8 continuation byte adds nothing).
float measure(std::string_view text) {
  float w = 0;
  for (char c : text) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) w += 7;
  }
  return w;
}

float line_width(const std::vector<float>& widths, float gap) {
  float sum = 0;
  int kept = 0;
  for (float w : widths) {
    if (w <= 0) continue;
    sum += w;
    ++kept;
  }
  return sum + gap * static_cast<float>(std::max(kept - 1, 0));
}

}  // namespace

TEST_CASE("elided text fits its width and keeps as much of the text as fits") {
  const std::string text = "a scenario with a very long name indeed";
  CHECK(elide(text, 1000, measure) == text);
  for (float width = 0; width < 300; width += 3) {
    const std::string e = elide(text, width, measure);
    CHECK(measure(e) <= width);
    if (!e.empty() && e != text) {
      CHECK(e.ends_with("..."));
      // One more character would not fit.
      CHECK(measure(e) + 7 > width);
    }
  }
  CHECK(elide(text, 20, measure).empty());  // not even "..." fits
}

TEST_CASE("elided text never cuts a UTF-8 character in two") {
  const std::string text = "caf\xc3\xa9 \xc2\xb7 na\xc3\xafve";  // café · naïve
  for (float width = 21; width < 120; width += 1) {
    const std::string e = elide(text, width, measure);
    REQUIRE(e.size() >= 3);
    const std::string kept = e.substr(0, e.size() - (e.ends_with("...") ? 3 : 0));
    if (!kept.empty()) {
      const auto last = static_cast<unsigned char>(kept.back());
      // The prefix ends on a whole character: not a lead byte of a multi-byte character.
      CHECK(last < 0xC0);
    }
  }
}

TEST_CASE("a status line's pieces never overlap, however narrow the window") {
  // tag, backend description, scenario, mode, notice, frame figures
  const std::vector<LinePiece> pieces = {{21, 21, 9}, {700, 0, 0},  {400, 77, 6},
                                         {42, 42, 8}, {300, 77, 5}, {330, 0, 1}};
  const float gap = 24;
  for (float room = 0; room < 2200; room += 17) {
    const std::vector<float> w = fit_line(pieces, room, gap);
    REQUIRE(w.size() == pieces.size());
    CHECK(line_width(w, gap) <= room + 1e-3f);
    for (size_t i = 0; i < w.size(); ++i) {
      CHECK(w[i] <= pieces[i].natural);
      // A piece is whole, elided no further than its minimum, or dropped.
      CHECK((w[i] == 0 || w[i] >= std::min(pieces[i].min, pieces[i].natural) - 1e-3f));
    }
  }
}

TEST_CASE("a status line gives way lowest priority first") {
  // tag, backend description, scenario, mode, frame figures (whole or nothing)
  const std::vector<LinePiece> pieces = {
      {21, 21, 9}, {700, 0, 0}, {400, 120, 4}, {42, 42, 8}, {330, 330, 3}};
  const float gap = 24;
  const float natural = 21 + 700 + 400 + 42 + 330 + 4 * gap;
  SUBCASE("everything fits") {
    const std::vector<float> w = fit_line(pieces, natural, gap);
    for (size_t i = 0; i < w.size(); ++i) CHECK(w[i] == pieces[i].natural);
  }
  SUBCASE("the description shrinks first") {
    const std::vector<float> w = fit_line(pieces, natural - 200, gap);
    CHECK(w[1] == 500);
    CHECK(w[2] == 400);
    CHECK(w[4] == 330);
  }
  SUBCASE("then the scenario name, down to its minimum, keeping the frame figures") {
    const std::vector<float> w = fit_line(pieces, 21 + 200 + 42 + 330 + 3 * gap, gap);
    CHECK(w[1] == 0);
    CHECK(w[2] == 200);
    CHECK(w[4] == 330);
  }
  SUBCASE("then the frame figures go, and the scenario name takes back their room") {
    const std::vector<float> w = fit_line(pieces, 21 + 250 + 42 + 2 * gap, gap);
    CHECK(w[0] == 21);
    CHECK(w[1] == 0);
    CHECK(w[2] == 250);
    CHECK(w[3] == 42);
    CHECK(w[4] == 0);
  }
}
