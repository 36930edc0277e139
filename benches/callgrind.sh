#!/usr/bin/env bash
# Instructions per element (or per subscription), counted by callgrind: deterministic, so a
# change can be judged on a busy machine where wall-clock time is noise.
#
# Each case of benches/callgrind.rs runs twice under `valgrind --tool=callgrind`, with a small
# and a large n; (instructions(large) - instructions(small)) / (large - small) is the cost per
# unit, free of the process's and the pipeline's fixed costs. Allocations per unit are counted
# the same way by the binary's counting allocator.
#
#   benches/callgrind.sh                 # every case; writes target/callgrind.txt and prints a table
#   benches/callgrind.sh sync_rstreams   # only the cases named
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
cargo build -q --release -p rstreams-benches --example callgrind
bin="$target/release/examples/callgrind"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

if [[ $# -gt 0 ]]; then
  cases=()
  for name in "$@"; do cases+=("$name $("$bin" --list | awk -v n="$name" '$1 == n { print $2 }')"); done
else
  mapfile -t cases < <("$bin" --list)
fi

# Runs one case under callgrind; prints "instructions allocations".
measure() {
  local name="$1" n="$2" file="$out/$1.$2"
  valgrind --tool=callgrind --callgrind-out-file="$file.cg" "$bin" "$name" "$n" 2> "$file.err" > /dev/null
  local ir alloc
  ir=$(awk '/^summary:/ { print $2 }' "$file.cg")
  alloc=$(sed -n 's/.*allocations=\([0-9]*\).*/\1/p' "$file.err")
  echo "$ir $alloc"
}

results="$target/callgrind.txt"
: > "$results.new"
printf '%-28s %-12s %14s %14s\n' case unit "instr/unit" "allocs/unit"
for line in "${cases[@]}"; do
  read -r name unit <<< "$line"
  if [[ "$unit" == subscription ]]; then small=1000; large=11000; else small=200000; large=1200000; fi
  read -r ir1 a1 < <(measure "$name" "$small")
  read -r ir2 a2 < <(measure "$name" "$large")
  per=$(awk -v a="$ir1" -v b="$ir2" -v s="$small" -v l="$large" 'BEGIN { printf "%.2f", (b - a) / (l - s) }')
  allocs=$(awk -v a="$a1" -v b="$a2" -v s="$small" -v l="$large" 'BEGIN { printf "%.3f", (b - a) / (l - s) }')
  printf '%-28s %-12s %14s %14s\n' "$name" "$unit" "$per" "$allocs"
  echo "case=$name unit=$unit instructions=$per allocations=$allocs" >> "$results.new"
done
mv "$results.new" "$results"
echo "(written to $results)"
