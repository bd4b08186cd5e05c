#!/usr/bin/env bash
# Keys that overflowed toml++'s stack (a dotted key of 500,000 parts, a table header of 2,000,000
# parts, a --set key of 65,000 parts) are refused with exit code 2, one line, the file and the line,
# on every path that reads a scenario: run, bench engine --scenario, gui.
#   deep_keys.sh TINYSERVE DATA_DIR SCRATCH_DIR
set -u
tinyserve=$1 data=$2 scratch=$3
rm -rf "$scratch"
mkdir -p "$scratch"
cd "$scratch" || exit 1
fail() { echo "FAIL: $*"; exit 1; }

parts() { yes a | head -n "$1" | paste -sd.; }  # a.a.a... of $1 parts
{ cat "$data/base.toml"; echo "$(parts 500000) = 1"; } >deep_key.toml
{ cat "$data/base.toml"; echo "[$(parts 2000000)]"; } >deep_header.toml
{ cat "$data/base.toml"; echo "\"$(head -c 300 /dev/zero | tr '\0' k)\" = 1"; } >long_key.toml
line=$(($(wc -l < "$data/base.toml") + 1))
too_deep='key "a\.a\.a\.a\.a\.a\.a\.a\.a\.a\.a\.a\.a\.a\.a\.a\.\.\." has more than 16 parts, expected at most 16 parts and 256 characters$'

expect() {  # expect REGEX COMMAND...: exit 2, one line on stderr matching REGEX
  local regex=$1
  shift
  "$@" >/dev/null 2>err
  local status=$?
  [ $status -eq 2 ] || fail "exit $status from ${*:1:3}...: $(head -c 300 err)"
  [ "$(grep -c '' err)" -eq 1 ] || fail "expected one line from ${*:1:3}..., got $(grep -c '' err)"
  grep -Eq -- "$regex" err || fail "${*:1:3}...: stderr does not match $regex: $(head -c 300 err)"
  echo "ok: ${*:1:3}...: $(head -c 200 err)"
}
for file in deep_key deep_header; do
  expect "^tinyserve: $file\.toml:$line: $too_deep" "$tinyserve" run $file.toml --out out --no-progress
  expect "^tinyserve: $file\.toml:$line: $too_deep" "$tinyserve" bench engine --scenario $file.toml
  "$tinyserve" gui $file.toml >/dev/null 2>err
  if ! grep -q "built without the desktop app" err; then
    expect "^tinyserve: $file\.toml:$line: $too_deep" env -u DISPLAY -u WAYLAND_DISPLAY "$tinyserve" gui $file.toml
  fi
done
expect "^tinyserve: long_key\.toml:$line: key \"\\\\\"kkkk.*\.\.\.\" is longer than 256 characters" \
  "$tinyserve" run long_key.toml --out out --no-progress
expect "^tinyserve: --set a\.a\.a.*\.\.\.: key \"a\.a.*\" has more than 16 parts" \
  "$tinyserve" run "$data/base.toml" --set "$(parts 65000)=1" --out out --no-progress
[ ! -e out/metrics.csv ] || fail "left out/metrics.csv"
