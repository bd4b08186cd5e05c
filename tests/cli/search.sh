#!/usr/bin/env bash
# tinyserve search on two_requests.toml, whose answer is derived in its comments: ttft_max <= 2 s
# holds exactly while rate_scale <= 10 (less a few parts per million: the roofline's nanoseconds).
#   search.sh TINYSERVE DATA_DIR SCRATCH_DIR
set -u
tinyserve=$1 data=$2 out=$3
rm -rf "$out"
mkdir -p "$out"
fail() { echo "FAIL: $*"; exit 1; }
scenario=$data/two_requests.toml
field() {  # field FILE COLUMN: the column of the first data row
  awk -F, -v name="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i } NR == 2 { print $c }' "$1"
}

# Bisection to 1% in [1, 100].
"$tinyserve" search "$scenario" --slo ttft_max=2s --range 1,100 --precision 0.01 --out "$out/a" \
  --no-progress > "$out/a.stdout" || fail "search failed: $(cat "$out/a.stdout")"
cat "$out/a.stdout"
csv=$out/a/search.csv
[ "$(field "$csv" status)" = "found" ] || fail "status $(field "$csv" status)"
answer=$(field "$csv" rate_scale)
upper=$(field "$csv" rate_scale_fails_at)
awk -v a="$answer" -v u="$upper" 'BEGIN { exit !(a >= 10 / 1.01 && a < 10 && u >= 10 * (1 - 1e-4) && u <= a * 1.01 * (1 + 1e-9)) }' \
  || fail "expected 10/1.01 <= answer ($answer) < 10 <= fails_at ($upper) <= answer x 1.01"
# The load in requests/s: the trace offers 1 request over 82 s between its two arrivals.
awk -v a="$answer" -v l="$(field "$csv" load_req_s)" 'BEGIN { d = l - a / 82; exit !(d < 1e-6 && d > -1e-6) }' \
  || fail "load_req_s $(field "$csv" load_req_s) is not rate_scale / 82"
[ "$(grep -c . "$out/a/probes.csv")" -eq $(( $(field "$csv" probes) + 1 )) ] || fail "probes.csv rows"
[ -s "$out/a/report.html" ] || fail "no report.html"

# A second search reuses every probe.
"$tinyserve" search "$scenario" --slo ttft_max=2s --range 1,100 --precision 0.01 --out "$out/a" \
  --no-progress > "$out/again.stdout" || fail "second search failed"
grep -q "runs         0 run, $(field "$csv" probes) reused" "$out/again.stdout" || fail "probes not reused: $(cat "$out/again.stdout")"
[ "$(field "$csv" rate_scale)" = "$answer" ] || fail "the second search found another answer"

# Even the smallest load misses: no answer. Even the largest passes: the answer is at least HI.
"$tinyserve" search "$scenario" --slo ttft_max=2s --range 20,100 --out "$out/b" --no-progress > /dev/null
[ "$(field "$out/b/search.csv" status)" = "fails at the smallest load" ] || fail "range above the answer: $(field "$out/b/search.csv" status)"
[ -z "$(field "$out/b/search.csv" rate_scale)" ] || fail "an answer below the range"
[ -z "$(field "$out/b/search.csv" ttft_max_at_answer)" ] || fail "metrics at an answer that does not exist"
"$tinyserve" search "$scenario" --slo ttft_max=2s --range 1,5 --out "$out/c" --no-progress > /dev/null
[ "$(field "$out/c/search.csv" status)" = "meets the SLOs at the largest load" ] || fail "range below the answer"
[ "$(field "$out/c/search.csv" rate_scale)" = "5" ] || fail "expected the range's top, 5"

# A linear scan in steps of 0.5 from 1: 10 itself misses (by the roofline's nanoseconds), so 9.5.
"$tinyserve" search "$scenario" --slo ttft_max=2s --range 1,20 --scan 0.5 --out "$out/d" --no-progress > /dev/null
[ "$(field "$out/d/search.csv" rate_scale)" = "9.5" ] || fail "scan answer $(field "$out/d/search.csv" rate_scale)"
[ "$(field "$out/d/search.csv" probes)" = "39" ] || fail "the scan probes 1, 1.5, ..., 20"

# Bad input: exit 2 and one line.
"$tinyserve" search "$scenario" --slo ttft_p42=1s --out "$out/e" > /dev/null 2> "$out/e.stderr"
[ $? -eq 2 ] && grep -q 'ttft_p42: expected ttft, tpot or latency' "$out/e.stderr" || fail "bad SLO: $(cat "$out/e.stderr")"
echo "ok: the search finds the derived answer $answer (fails at $upper)"
