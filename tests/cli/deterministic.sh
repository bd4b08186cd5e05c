#!/usr/bin/env bash
# Runs a scenario twice and requires byte-identical metrics.csv, events.jsonl and summary.json.
#   deterministic.sh TINYSERVE SCENARIO SCRATCH_DIR
set -eu
tinyserve=$1 scenario=$2 dir=$3
rm -rf "$dir"
"$tinyserve" run "$scenario" --out "$dir/a" --no-progress > /dev/null
"$tinyserve" run "$scenario" --out "$dir/b" --no-progress > /dev/null
for f in metrics.csv events.jsonl requests.csv summary.json; do
  cmp "$dir/a/$f" "$dir/b/$f"
done
echo "identical: $(wc -l < "$dir/a/metrics.csv") metrics rows, $(wc -l < "$dir/a/events.jsonl") events"
