#!/usr/bin/env bash
# tinyserve sweep on a 3 x 2 grid where block_size 0 is invalid:
#   sweep.sh TINYSERVE DATA_DIR SCRATCH_DIR
# - the two failing configurations are rows with their error, the four others complete;
# - a rerun resumes: the complete runs are not run again, the failed ones are;
# - --collect is idempotent and gives the sweep's own sweep.csv;
# - the --emit-jobs commands run by xargs -P, then --collect, give the same sweep.csv;
# - another --set makes every folder stale: all run again.
set -u
tinyserve=$1 data=$2 out=$3
rm -rf "$out"
mkdir -p "$out"
fail() { echo "FAIL: $*"; exit 1; }
grid=(--grid cache.block_size=16,32,0 --grid scheduler.max_num_seqs=4,16)

"$tinyserve" sweep "$data/base.toml" "${grid[@]}" --jobs 2 --out "$out/a" --no-progress \
  > "$out/a.stdout" 2> "$out/a.stderr"
status=$?
cat "$out/a.stdout" "$out/a.stderr"
[ $status -eq 1 ] || fail "expected exit code 1 when runs fail, got $status"
csv=$out/a/sweep.csv
[ "$(wc -l < "$csv")" -eq 7 ] || fail "expected a header and 6 rows in $csv"
head -1 "$csv" | grep -q '^cache.block_size,scheduler.max_num_seqs,run,status,error,' || fail "header: $(head -1 "$csv")"
for column in ttft_s.p99 tpot_s.p99 throughput_tok_s kv_cache_usage.peak peak_running_seqs preemptions; do
  head -1 "$csv" | tr ',' '\n' | grep -qx "$column" || fail "no $column column"
done
[ "$(grep -c '^[0-9]*,[0-9]*,[^,]*,ok,,' "$csv")" -eq 4 ] || fail "expected 4 ok rows"
[ "$(grep -c '^0,[0-9]*,[^,]*,failed,.*expected an integer in \[1, 1024\], found 0 (exit status 2)' "$csv")" -eq 2 ] \
  || fail "expected 2 failed rows with the run's error"
for run in block_size-16_max_num_seqs-4 block_size-32_max_num_seqs-16; do
  for f in summary.json report.html config.txt run.log; do
    [ -s "$out/a/runs/$run/$f" ] || fail "runs/$run/$f missing"
  done
  [ ! -e "$out/a/runs/$run/metrics.csv" ] || fail "metrics.csv written though not asked for"
done
[ ! -e "$out/a/runs/block_size-0_max_num_seqs-4/summary.json" ] || fail "a failed run left summary.json"
[ -s "$out/a/report.html" ] || fail "no report.html"

# Resume: the 4 complete runs are skipped (their summary.json untouched), the 2 failed ones rerun.
stamp=$(stat -c %Y.%i "$out"/a/runs/*/summary.json)
sleep 1
"$tinyserve" sweep "$data/base.toml" "${grid[@]}" --jobs 2 --out "$out/a" > /dev/null 2> "$out/resume.stderr"
grep -q '2 to run (4 complete already)' "$out/resume.stderr" || fail "resume: $(cat "$out/resume.stderr")"
[ "$(stat -c %Y.%i "$out"/a/runs/*/summary.json)" = "$stamp" ] || fail "resume ran complete runs again"

# --collect: idempotent, and the same file as the sweep wrote.
cp "$csv" "$out/sweep.first.csv"
"$tinyserve" sweep --collect "$out/a" > /dev/null 2>&1
cmp "$csv" "$out/sweep.first.csv" || fail "collect changed sweep.csv"
"$tinyserve" sweep --collect "$out/a" > /dev/null 2>&1
cmp "$csv" "$out/sweep.first.csv" || fail "a second collect changed sweep.csv"

# --emit-jobs: one self-contained shell command a configuration, run here by xargs -P 2.
"$tinyserve" sweep "$data/base.toml" "${grid[@]}" --out "$out/b" --emit-jobs "$out/jobs.txt" > /dev/null \
  || fail "emit-jobs failed"
[ "$(wc -l < "$out/jobs.txt")" -eq 6 ] || fail "expected 6 commands"
[ ! -e "$out/b/runs" ] || fail "emit-jobs ran something"
(cd / && tr '\n' '\0' < "$out/jobs.txt" | xargs -0 -P 2 -n 1 sh -c) > /dev/null 2>&1
"$tinyserve" sweep --collect "$out/b" > /dev/null 2>&1
cmp "$out/b/sweep.csv" "$csv" || fail "the jobs' sweep.csv differs from the local sweep's"

# A different --set: every folder holds another configuration now, so every run runs again.
"$tinyserve" sweep "$data/base.toml" "${grid[@]}" --set workload.num_requests=10 --out "$out/a" \
  > /dev/null 2> "$out/stale.stderr"
grep -q '6 to run (0 complete already)' "$out/stale.stderr" || fail "stale: $(cat "$out/stale.stderr")"
echo "ok: failing rows, resume, collect and emitted jobs agree"
