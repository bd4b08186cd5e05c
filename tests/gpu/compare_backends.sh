#!/usr/bin/env bash
# Runs every scenario to completion on the accounting backend and on another one (cuda by
# default) and requires the same metrics.csv apart from the measured kernel times (its last five
# columns), and the same events.jsonl. Prints one line per scenario with the mean measured
# attention time. Under the model clock the engine reads only times from a backend, so equal
# metrics follow by construction: what this catches is a backend that fails, stalls or refuses a
# scenario. Whether the kernels compute the right outputs is the GPU tests' question
# (tests/gpu/test_cuda_backend.cpp compares them with the CPU reference on every scenario).
#   compare_backends.sh TINYSERVE OUT_DIR [--backend B] [SCENARIO...]
set -u
tinyserve=$1 out=$2
shift 2
other=cuda
if [ "${1:-}" = "--backend" ]; then other=$2; shift 2; fi
scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=(scenarios/*.toml)
status=0
mkdir -p "$out"
for s in "${scenarios[@]}"; do
  name=$(basename "$s" .toml)
  for b in accounting $other; do
    if ! "$tinyserve" run "$s" --backend $b --out "$out/$name-$b" --no-progress > "$out/$name-$b.txt" 2>&1; then
      echo "$name: $b run failed"; tail -3 "$out/$name-$b.txt"; status=1; continue 2
    fi
  done
  if cmp -s <(cut -d, -f1-37 "$out/$name-accounting/metrics.csv") <(cut -d, -f1-37 "$out/$name-$other/metrics.csv") &&
     cmp -s "$out/$name-accounting/events.jsonl" "$out/$name-$other/events.jsonl"; then
    steps=$(($(wc -l < "$out/$name-$other/metrics.csv") - 1))
    echo "$name: identical over $steps steps; $(grep -E '^attention' "$out/$name-$other.txt")"
  else
    echo "$name: DIFFERENT"; status=1
  fi
done
exit $status
