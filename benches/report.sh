#!/usr/bin/env bash
# Runs every bench, the callgrind instruction counts (benches/callgrind.sh, when valgrind is
# installed) and the memory probe on this machine, then rewrites the performance section of
# README.md (between the perf:start / perf:end markers) with ratios against each alternative,
# the consumer every arm used, the machine it ran on, and the command to reproduce.
#
#   benches/report.sh            # full run (about 10 minutes on 2 cores)
#   benches/report.sh --no-run   # only rebuild the table from target/criterion and the last memory run
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" != "--no-run" ]]; then
  cargo bench -p rstreams-benches --bench sync_pipeline --bench thread_hop --bench fan_in -- --noplot
  if command -v valgrind > /dev/null; then
    benches/callgrind.sh
  else
    echo "valgrind not installed: the callgrind table keeps its last run" >&2
  fi
  target="${CARGO_TARGET_DIR:-target}"
  : > "$target/memory.txt"
  for mode in rstreams unbounded_channel; do
    for n in 200000 4000000; do
      cargo bench -q -p rstreams-benches --bench memory -- "$n" "$mode" | tail -n 1 >> "$target/memory.txt"
    done
  done
fi
python3 benches/report.py
