#!/usr/bin/env bash
# `tinyserve demo` ends with every sequence finished and nothing left in the CPU pool, and names
# each sequence with one letter in every frame: demo.sh TINYSERVE
set -u
out=$("$1" demo) || { echo "FAIL: tinyserve demo exited with $?"; exit 1; }
fail() { echo "FAIL: $*"; echo "$out"; exit 1; }
last=$(printf '%s\n' "$out" | awk '/^== /{frame=""} {frame=frame $0 "\n"} END{printf "%s", frame}')
printf '%s' "$last" | grep -q "used 0, cached [0-9]*, free [0-9]* | 0 tokens stored | CPU pool: 0 of" ||
  fail "the last frame still holds sequences or swapped blocks"
printf '%s' "$last" | grep -Eq "^seq [0-9]+ \(" && fail "the last frame still lists a live sequence"
# Every "X seq N" in the legends and "seq N (X)" in the tables: one letter per sequence.
pairs=$(printf '%s\n' "$out" | grep "^legend:" | grep -oE "  [A-Za-z0-9#] seq [0-9]+" |
          awk '{print $3, $1}'
        printf '%s\n' "$out" | grep -oE "^seq [0-9]+ \([A-Za-z0-9#]\)" | tr -d '()' | awk '{print $2, $3}')
letters=$(printf '%s\n' "$pairs" | sort -u | awk '{print $1}' | uniq -d)
[ -z "$letters" ] || fail "sequences $letters change letters between frames"
frames=$(printf '%s\n' "$out" | grep -c "^== ")
[ "$frames" -ge 7 ] || fail "expected at least 7 frames, got $frames"
echo "demo: $frames frames, letters stable, ends empty"
