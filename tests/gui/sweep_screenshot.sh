#!/usr/bin/env bash
# The sweep browser under Xvfb: a small sweep, then the app opened on it comparing two rows
# (scripted), its screenshot checked for size and colours and its stderr for GL errors; a row
# that does not exist is bad input.
#   sweep_screenshot.sh TINYSERVE CHECK_SCREENSHOT XVFB_RUN DATA_DIR SCRATCH_DIR
set -u
tinyserve=$1 checker=$2 xvfb=$3 data=$4 out=$5
rm -rf "$out"
mkdir -p "$out"
fail() { echo "FAIL: $*"; exit 1; }
"$tinyserve" sweep "$data/base.toml" --grid cache.block_size=16,32 --grid scheduler.max_num_seqs=4,16 \
  --out "$out/sweep" --no-progress > /dev/null || fail "the sweep failed"
w=1400 h=900
"$xvfb" -a -s "-screen 0 ${w}x${h}x24" "$tinyserve" gui --sweep "$out/sweep" --sweep-open 0,3 \
  --frames 20 --steps-per-frame 100 --size ${w}x$h --screenshot "$out/compare.png" \
  > "$out/stdout" 2> "$out/stderr"
status=$?
cat "$out/stdout"
[ $status -eq 0 ] || fail "exit $status: $(cat "$out/stderr")"
if tr 'A-Z' 'a-z' < "$out/stderr" | grep -Eq 'error|shader|glsl|opengl|glfw'; then
  fail "stderr: $(cat "$out/stderr")"
fi
"$checker" "$out/compare.png" $w $h 50 || fail "the screenshot looks blank"
"$xvfb" -a -s "-screen 0 ${w}x${h}x24" "$tinyserve" gui --sweep "$out/sweep" --sweep-open 9 \
  --frames 2 --size ${w}x$h > /dev/null 2> "$out/bad.stderr"
[ $? -eq 2 ] || fail "row 9 of 4 was not refused"
grep -q 'row 9: the sweep has 4' "$out/bad.stderr" || fail "bad row: $(cat "$out/bad.stderr")"
echo "ok: the sweep browser compares two rows ($out/compare.png)"
