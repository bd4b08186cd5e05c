#!/usr/bin/env bash
# report.html of a run, a sweep and a search, in a real browser (headless Chromium):
#   report_browser.sh TINYSERVE CHECK_SCREENSHOT CHROMIUM DATA_DIR SCRATCH_DIR
# Each page must be self-contained (no script, no external reference), load without a console
# message, and give a screenshot with many colours (charts, not a blank page). A control page
# with a console error proves the console check sees errors. Screenshots stay in SCRATCH_DIR.
set -u
tinyserve=$1 checker=$2 chromium=$3 data=$4 out=$5
rm -rf "$out"
mkdir -p "$out"
fail() { echo "FAIL: $*"; exit 1; }
width=1300 height=2400

shoot() {  # shoot HTML PNG: screenshot, console messages to PNG.log
  timeout 120 "$chromium" --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
    --user-data-dir="$out/profile" --enable-logging=stderr --v=0 \
    --window-size=$width,$height --screenshot="$2" "file://$1" > "$2.log" 2>&1
}

# The control: a console error must be seen.
printf '<!DOCTYPE html><html><body><p>control</p><script>console.error("control error")</script></body></html>\n' \
  > "$out/control.html"
shoot "$out/control.html" "$out/control.png"
grep -q ':CONSOLE' "$out/control.png.log" || fail "the console check is blind: no CONSOLE line for the control page"

"$tinyserve" run "$data/base.toml" --out "$out/run" --no-progress > /dev/null || fail "run failed"
"$tinyserve" sweep "$data/base.toml" --grid cache.block_size=16,32,64 --grid scheduler.max_num_seqs=4,16 \
  --out "$out/sweep" --no-progress > /dev/null || fail "sweep failed"
"$tinyserve" search "$data/two_requests.toml" --slo ttft_max=2s,tpot_p99=150ms --range 1,100 \
  --out "$out/search" --no-progress > /dev/null || fail "search failed"

for kind in run sweep search; do
  page=$out/$kind/report.html
  [ -s "$page" ] || fail "$kind: no report.html"
  if grep -Eiq '<script|<link|<img|<iframe|src=|href=|@import|https?:' "$page"; then
    fail "$kind: report.html refers to something outside itself: $(grep -Eio '<script|<link|<img|<iframe|src=|href=|@import|https?:[^"]*' "$page" | head -3)"
  fi
  [ "$(grep -c '<svg' "$page")" -eq "$(grep -c '</svg>' "$page")" ] || fail "$kind: unbalanced <svg>"
  [ "$(grep -c '<svg' "$page")" -ge 1 ] || fail "$kind: no chart"
  shoot "$page" "$out/$kind.png"
  [ -s "$out/$kind.png" ] || fail "$kind: no screenshot ($(tail -3 "$out/$kind.png.log"))"
  if grep -q ':CONSOLE' "$out/$kind.png.log"; then
    fail "$kind: console messages: $(grep ':CONSOLE' "$out/$kind.png.log" | head -3)"
  fi
  "$checker" "$out/$kind.png" $width $height 200 || fail "$kind: the screenshot looks blank"
done
echo "ok: run, sweep and search reports render without console messages ($out/*.png)"
