#!/usr/bin/env bash
# Runs one tinyserve command and checks how it ends:
#   expect.sh CODE REGEX OUTDIR -- COMMAND ARGS...
# CODE   the exit code it must return;
# REGEX  an extended regex that its stderr must match; for a non-zero CODE stderr must also be
#        exactly one line ("" skips the check);
# OUTDIR a scratch directory, substituted for @OUT@ in the arguments; after a failure it must hold
#        no metrics.csv, summary.json or events.jsonl (no result that looks complete).
set -u
code=$1 regex=$2 out=$3
shift 3
[ "$1" = "--" ] && shift
rm -rf "$out"
args=()
for a in "$@"; do args+=("${a//@OUT@/$out}"); done
stderr_file=$(mktemp)
"${args[@]}" >/dev/null 2>"$stderr_file"
status=$?
stderr=$(cat "$stderr_file")
rm -f "$stderr_file"
fail() { echo "FAIL: $*"; echo "command: ${args[*]}"; echo "exit: $status"; echo "stderr:"; echo "$stderr"; exit 1; }
[ "$status" -eq "$code" ] || fail "expected exit code $code"
if [ -n "$regex" ]; then
  echo "$stderr" | grep -Eq -- "$regex" || fail "stderr does not match: $regex"
fi
if [ "$code" -ne 0 ]; then
  lines=$(printf '%s' "$stderr" | grep -c '')
  [ "$lines" -eq 1 ] || fail "expected a one-line error, got $lines lines"
  for f in metrics.csv summary.json events.jsonl; do
    [ ! -e "$out/$f" ] || fail "left $out/$f behind"
  done
fi
echo "ok: exit $status: $stderr"
