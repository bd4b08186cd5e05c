#!/usr/bin/env bash
# Two runs of one scenario, one with vLLM's --max-num-seqs flag: the flag reaches the scenario key,
# requests.csv holds one row per request with its latencies, and `tinyserve compare` prints both
# summaries side by side with the differences.
#   compare.sh TINYSERVE SCENARIO SCRATCH_DIR
set -eu
tinyserve=$1 scenario=$2 dir=$3
rm -rf "$dir"
"$tinyserve" run "$scenario" --out "$dir/a" --no-progress > /dev/null
"$tinyserve" run "$scenario" --out "$dir/b" --no-progress --max-num-seqs 2 --seed 5 > /dev/null
fail() { echo "FAIL: $*"; exit 1; }
grep -q '"max_num_seqs": 2,' "$dir/b/summary.json" || fail "--max-num-seqs did not set scheduler.max_num_seqs"
grep -q '"seed": 5' "$dir/b/summary.json" || fail "--seed did not set the seed"
head -1 "$dir/a/requests.csv" | grep -q '^request,status,arrival_s,first_token_s,finish_s,ttft_s,tpot_s,latency_s,' ||
  fail "requests.csv has no header"
rows=$(($(wc -l < "$dir/a/requests.csv") - 1))
total=$(grep -A1 '"requests"' "$dir/a/summary.json" | grep -o '"total": [0-9]*' | grep -o '[0-9]*$')
[ "$rows" -eq "$total" ] || fail "requests.csv has $rows rows for $total requests"
out=$("$tinyserve" compare "$dir/a" "$dir/b")
echo "$out" | grep -Eq '^scheduler.max_num_seqs +256 +2 +-254 +-99.2%' || fail "compare: $out"
echo "$out" | grep -Eq '^ttft_s.p99 ' || fail "compare lacks ttft_s.p99"
echo "ok: $rows requests, compare printed $(echo "$out" | wc -l) lines"
