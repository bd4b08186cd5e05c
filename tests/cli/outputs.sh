#!/usr/bin/env bash
# What a run leaves in its output folder when things go wrong around it:
#   outputs.sh CASE TINYSERVE DATA_DIR SCRATCH_DIR
# CASE is one of: lock, sigint, sigterm, early_signal, keeps_previous, name_escape, folder_in_the_way,
# file_too_large, stdout_full, bench_private.
set -u
case_name=$1 tinyserve=$2 data=$3 scratch=$4
rm -rf "$scratch"
mkdir -p "$scratch"
cd "$scratch" || exit 1
base=$data/base.toml
# A run of several seconds: 200,000 Poisson arrivals through a small pool.
long=(--set workload.num_requests=200000 --set workload.arrival.process=poisson
      --set workload.arrival.rate=20)

fail() { echo "FAIL ($case_name): $*"; exit 1; }
one_line() {  # one_line FILE: the file holds exactly one line
  [ "$(grep -c '' "$1")" -eq 1 ] || fail "expected one line on stderr, got: $(cat "$1")"
}
wait_for_rows() {  # wait_for_rows DIR PID: until the run has flushed rows (its first steps are done)
  for _ in $(seq 600); do
    [ -s "$1/metrics.csv.partial" ] && return 0
    kill -0 "$2" 2>/dev/null || fail "the run ended before writing rows"
    sleep 0.05
  done
  fail "no rows after 30 s"
}
# Every line of a CSV has the header's number of fields, and the file ends with a newline.
complete_rows() {
  local fields
  fields=$(head -1 "$1" | tr -cd ',' | wc -c)
  awk -F, -v n=$((fields + 1)) 'NF != n { bad = 1 } END { exit bad }' "$1" || fail "$1 holds a cut row"
  [ "$(tail -c 1 "$1" | od -An -c | tr -d ' ')" = '\n' ] || fail "$1 does not end with a newline"
}
stop_test() {  # stop_test SIGNAL CODE NAME
  "$tinyserve" run "$base" "${long[@]}" --out out --no-progress >/dev/null 2>err &
  local pid=$!
  wait_for_rows out $pid
  kill -"$1" $pid
  wait $pid
  local status=$?
  [ $status -eq "$2" ] || fail "exit $status, expected $2"
  one_line err
  grep -Eq "^tinyserve: stopped by $3 after step [0-9]+; its complete rows are in out/metrics.csv.partial and events.jsonl.partial$" err ||
    fail "message: $(cat err)"
  local steps
  steps=$(sed -E 's/.*after step ([0-9]+);.*/\1/' err)
  [ "$(wc -l < out/metrics.csv.partial)" -eq $((steps + 1)) ] ||
    fail "metrics.csv.partial holds $(wc -l < out/metrics.csv.partial) lines for $steps steps and a header"
  complete_rows out/metrics.csv.partial
  [ "$(tail -c 1 out/events.jsonl.partial | od -An -c | tr -d ' ')" = '\n' ] || fail "events.jsonl.partial is cut"
  for f in metrics.csv events.jsonl requests.csv summary.json requests.csv.partial summary.json.partial; do
    [ ! -e "out/$f" ] || fail "left out/$f"
  done
}

case $case_name in
  lock)  # a second run into a folder in use is refused, naming the first
    "$tinyserve" run "$base" "${long[@]}" --out out --no-progress >/dev/null 2>first &
    pid=$!
    wait_for_rows out $pid
    "$tinyserve" run "$base" --out out --no-progress >/dev/null 2>second
    status=$?
    kill -INT $pid
    wait $pid
    [ $status -eq 2 ] || fail "the second run exited $status, expected 2"
    one_line second
    grep -q "^tinyserve: out: in use by another run (pid $pid: tinyserve run $base, since " second ||
      fail "message: $(cat second)"
    ;;
  sigint) stop_test INT 130 SIGINT ;;
  sigterm) stop_test TERM 143 SIGTERM ;;
  early_signal)  # while 500,000 requests are generated and admitted: at once, nothing left
    "$tinyserve" run "$base" --set workload.num_requests=500000 --out out --no-progress >/dev/null 2>err &
    pid=$!
    sleep 1
    start=$(date +%s%N)
    kill -INT $pid
    wait $pid
    status=$?
    elapsed_ms=$((($(date +%s%N) - start) / 1000000))
    [ $status -eq 130 ] || fail "exit $status, expected 130"
    [ $elapsed_ms -lt 2000 ] || fail "took $elapsed_ms ms to stop"
    one_line err
    grep -q "^tinyserve: interrupted before the first step completed; no output written$" err ||
      fail "message: $(cat err)"
    ! ls out/*.partial out/metrics.csv >/dev/null 2>&1 || fail "left $(ls out)"
    ;;
  keeps_previous)  # an interrupted rerun leaves the previous complete result as it was
    "$tinyserve" run "$base" --out out --no-progress >/dev/null 2>&1 || fail "the first run failed"
    before=$(cat out/metrics.csv out/events.jsonl out/requests.csv out/summary.json | md5sum)
    "$tinyserve" run "$base" "${long[@]}" --out out --no-progress >/dev/null 2>err &
    pid=$!
    wait_for_rows out $pid
    kill -INT $pid
    wait $pid
    [ "$(cat out/metrics.csv out/events.jsonl out/requests.csv out/summary.json | md5sum)" = "$before" ] ||
      fail "the previous result changed"
    [ -s out/metrics.csv.partial ] || fail "no metrics.csv.partial"
    ;;
  name_escape)  # a scenario's name never leaves ./out
    mkdir -p a/b/c
    cd a/b/c || exit 1
    "$tinyserve" run "$base" --set 'name=../../../escaped' --no-progress >/dev/null 2>err ||
      fail "exit $?: $(cat err)"
    cd "$scratch" || exit 1
    [ ! -e escaped ] && [ ! -e a/escaped ] || fail "wrote outside ./out"
    [ -s a/b/c/out/_._.._.._escaped/metrics.csv ] || fail "no output in out/: $(ls -R a)"
    ;;
  folder_in_the_way)  # a folder named metrics.csv: refused before the run
    mkdir -p out/metrics.csv/kept
    "$tinyserve" run "$base" --out out --no-progress >/dev/null 2>err
    status=$?
    [ $status -eq 2 ] || fail "exit $status, expected 2"
    one_line err
    grep -q "^tinyserve: $scratch/out/metrics.csv: exists and is not a file" err || fail "message: $(cat err)"
    ! ls out/*.partial >/dev/null 2>&1 || fail "the run started: $(ls out)"
    ;;
  file_too_large)  # a write that fails names the file and the cause, not an internal error
    (ulimit -f 16; "$tinyserve" run "$base" --set workload.num_requests=2000 --out out --no-progress >/dev/null 2>err)
    status=$?
    [ $status -eq 1 ] || fail "exit $status, expected 1"
    one_line err
    grep -q "^tinyserve: cannot write $scratch/out/metrics.csv.partial: File too large$" err ||
      fail "message: $(cat err)"
    [ ! -e out/metrics.csv ] || fail "left out/metrics.csv"
    ;;
  stdout_full)  # a result lost on standard output is an error
    "$tinyserve" concurrency --budget-gb 2 >/dev/full 2>err
    status=$?
    [ $status -eq 1 ] || fail "concurrency exited $status, expected 1"
    one_line err
    grep -q "^tinyserve: cannot write to standard output: No space left on device$" err || fail "message: $(cat err)"
    "$tinyserve" run "$base" --out out --no-progress >/dev/full 2>err
    status=$?
    [ $status -eq 1 ] || fail "run exited $status, expected 1"
    grep -q "^tinyserve: cannot write to standard output" err || fail "message: $(cat err)"
    ;;
  bench_private)  # two engine benchmarks at once, each in a temporary folder of its own, removed
    "$tinyserve" bench engine --scenario "$base" --repetitions 2 >one 2>&1 &
    pid=$!
    "$tinyserve" bench engine --scenario "$base" --repetitions 2 >two 2>&1 || fail "$(cat two)"
    wait $pid || fail "$(cat one)"
    dir_one=$(sed -nE 's/.*outputs in (.*), [0-9]+ runs$/\1/p' one)
    dir_two=$(sed -nE 's/.*outputs in (.*), [0-9]+ runs$/\1/p' two)
    [ -n "$dir_one" ] && [ "$dir_one" != "$dir_two" ] || fail "both wrote to '$dir_one'"
    [ ! -e "$dir_one" ] && [ ! -e "$dir_two" ] || fail "left $dir_one or $dir_two behind"
    ;;
  *) fail "unknown case" ;;
esac
echo "ok: $case_name"
