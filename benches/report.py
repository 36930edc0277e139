"""Builds the README's performance table from criterion's estimates, the callgrind counts and
the memory probe.

Called by benches/report.sh; reads target/criterion/<group>/<bench>[/<param>]/new/estimates.json
(the mean, in ns), target/callgrind.txt (benches/callgrind.sh) and target/memory.txt, and
rewrites README.md between the markers <!-- perf:start --> and <!-- perf:end -->.
The target directory is $CARGO_TARGET_DIR when set, as for cargo.
"""

import json
import os
import platform
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
CRIT = os.path.join(TARGET, "criterion")

# Named in the table's caption: what every arm's consumer does per element.
CONSUMER = (
    "every arm ends in the lightest consumer, which only adds each element to a sum "
    "(black-boxed once at the end, never per element; `benches/consumer.rs`)"
)


def mean_ns(*path):
    f = os.path.join(CRIT, *path, "new", "estimates.json")
    try:
        with open(f) as fh:
            return json.load(fh)["mean"]["point_estimate"]
    except FileNotFoundError:
        return None


def rate(ns, elements):
    return "–" if ns is None else f"{elements / ns * 1e3:.0f} M/s"


# (group, rstreams bench, alternative bench, elements per iteration, goal)
ROWS = [
    ("sync_pipeline", ("rstreams_unbounded",), ("plain_loop",), 10_000_000, "≤ 1.5×"),
    ("sync_pipeline", ("rstreams_request_256",), ("plain_loop",), 10_000_000, "≤ 2×"),
    ("sync_pipeline", ("rstreams_unbounded",), ("futures_stream",), 10_000_000, "≤ 1×"),
    ("sync_pipeline", ("rstreams_request_256",), ("futures_stream",), 10_000_000, "≤ 1×"),
    ("filter_heavy", ("rstreams_unbounded",), ("plain_loop",), 10_000_000, "≤ 1.5×"),
    ("filter_heavy", ("rstreams_request_256",), ("plain_loop",), 10_000_000, "≤ 2×"),
    ("filter_heavy", ("rstreams_unbounded",), ("futures_stream",), 10_000_000, "≤ 1×"),
    ("thread_hop", ("rstreams", "16"), ("crossbeam_bounded", "16"), 1_000_000, "≤ 2×"),
    ("thread_hop", ("rstreams", "256"), ("crossbeam_bounded", "256"), 1_000_000, "≤ 1×"),
    ("thread_hop", ("rstreams", "1024"), ("crossbeam_bounded", "1024"), 1_000_000, ""),
    ("thread_hop", ("rstreams", "256"), ("std_sync_channel", "256"), 1_000_000, ""),
    ("thread_hop", ("rstreams", "256"), ("tokio_mpsc", "256"), 1_000_000, ""),
    ("merge_8_sources", ("rstreams_merge_all",), ("futures_select_all",), 2_000_000, ""),
    ("merge_8_sources", ("rstreams_merge_all",), ("crossbeam_8_producers",), 2_000_000, ""),
    ("flat_map_x10", ("rstreams_flat_map_8_32",), ("futures_flat_map",), 2_000_000, "≤ 2×"),
    ("flat_map_x10", ("rstreams_flat_map_8_32",), ("futures_flatten_unordered_8",), 2_000_000, ""),
    ("flat_map_x10", ("rstreams_concat_map_32",), ("futures_flat_map",), 2_000_000, ""),
    ("stage_overhead", ("buffer_100",), ("without",), 2_000_000, ""),
    ("stage_overhead", ("throttle_unreachable_rate",), ("without",), 2_000_000, ""),
    ("subscription_setup", ("rstreams", "empty_5_ops"), ("futures_stream", "empty_5_ops"), 1, "≤ 3×"),
]


def machine():
    cpu = platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            m = re.search(r"model name\s*:\s*(.+)", fh.read())
            if m:
                cpu = m.group(1).strip()
    except OSError:
        pass
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    return f"{cpu}, {os.cpu_count()} cores, {rustc}, {time.strftime('%Y-%m-%d')}"


def table():
    out = [
        "| group | rstreams | alternative | rstreams / alternative (time) | goal | rstreams throughput |",
        "|---|---|---|---|---|---|",
    ]
    for group, ours, theirs, elements, goal in ROWS:
        a, b = mean_ns(group, *ours), mean_ns(group, *theirs)
        ratio = "–" if a is None or b is None else f"{a / b:.2f}×"
        met = ""
        if goal and a is not None and b is not None:
            limit = float(goal.split()[1].rstrip("×"))
            met = " ✓" if a / b <= limit else " ✗"
        thr = rate(a, elements) if elements > 1 else ("–" if a is None else f"{a / 1e3:.2f} µs")
        out.append(
            f"| {group} | {'/'.join(ours)} | {'/'.join(theirs)} | {ratio} | {goal}{met} | {thr} |"
        )
    return "\n".join(out)


# (rstreams case, alternative case) of benches/callgrind.rs, with the goal of the ratio.
CALLGRIND_ROWS = [
    ("sync_rstreams", "sync_loop", "≤ 1.5×"),
    ("sync_rstreams_request_256", "sync_loop", "≤ 2×"),
    ("sync_rstreams", "sync_futures", "≤ 1×"),
    ("sync_rstreams_captured", "sync_loop_captured", ""),
    ("sync_vocabulary_rstreams", "sync_vocabulary_loop", ""),
    ("flat_map_rstreams", "flat_map_futures", "≤ 2×"),
    ("concat_map_rstreams", "flat_map_futures", ""),
    ("merge_8_rstreams", "merge_8_futures", ""),
    ("subscribe_5_ops_rstreams", "subscribe_5_ops_futures", "≤ 3×"),
    ("subscribe_5_ops_range", "subscribe_5_ops_futures_range", ""),
    ("sync_rstreams_from_iter", "sync_loop", ""),
]


def callgrind():
    path = os.path.join(TARGET, "callgrind.txt")
    if not os.path.exists(path):
        return "(no callgrind run yet: benches/callgrind.sh)"
    seen = {}
    with open(path) as fh:
        for line in fh:
            kv = dict(p.split("=", 1) for p in line.split())
            seen[kv["case"]] = kv
    rows = [
        "| rstreams | instructions | allocations | alternative | instructions | allocations | ratio | goal |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for ours, theirs, goal in CALLGRIND_ROWS:
        a, b = seen.get(ours), seen.get(theirs)
        if a is None or b is None:
            continue
        ia, ib = float(a["instructions"]), float(b["instructions"])
        ratio = ia / ib if ib else float("inf")
        met = ""
        if goal:
            limit = float(goal.split()[1].rstrip("×"))
            met = " ✓" if ratio <= limit else " ✗"
        unit = a["unit"]
        rows.append(
            f"| {ours} | {ia:.1f} / {unit} | {float(a['allocations']):.2f} | {theirs} | {ib:.1f} / {unit} "
            f"| {float(b['allocations']):.2f} | {ratio:.2f}× | {goal}{met} |"
        )
    return "\n".join(rows)


def memory():
    path = os.path.join(TARGET, "memory.txt")
    if not os.path.exists(path):
        return "(no memory run yet)"
    rows = ["| mode | 200 000 elements | 4 000 000 elements |", "|---|---|---|"]
    seen = {}
    with open(path) as fh:
        for line in fh:
            kv = dict(p.split("=", 1) for p in line.split())
            seen[(kv["mode"], kv["elements"])] = kv["peak_rss_kib"]
    for mode in ("rstreams", "unbounded_channel"):
        small, big = seen.get((mode, "200000"), "–"), seen.get((mode, "4000000"), "–")
        fmt = lambda k: k if not k.isdigit() else f"{int(k) / 1024:.1f} MiB"
        rows.append(f"| {mode} | {fmt(small)} | {fmt(big)} |")
    return "\n".join(rows)


def main():
    body = f"""<!-- perf:start -->
Measured on {machine()} with `benches/report.sh` (criterion means; lower ratio is better for
rstreams; a ratio below 1 means rstreams was faster). Consumer: {CONSUMER}. Wall-clock time
on a shared machine is noisy: compare within a run, not across runs.

{table()}

Instructions per element (per subscription for `subscribe_5_ops`), counted by callgrind with
`benches/callgrind.sh`: deterministic, the same consumer, allocations counted by a counting
allocator. The thread hop is not in it (callgrind serialises threads):

{callgrind()}

Peak RSS, fast producer into a 10× slower consumer (`benches/memory.rs`):

{memory()}
<!-- perf:end -->"""
    readme = os.path.join(ROOT, "README.md")
    with open(readme) as fh:
        text = fh.read()
    if "<!-- perf:start -->" not in text:
        sys.exit("README.md has no <!-- perf:start --> / <!-- perf:end --> markers")
    text = re.sub(r"<!-- perf:start -->.*?<!-- perf:end -->", body, text, flags=re.S)
    with open(readme, "w") as fh:
        fh.write(text)
    print(body)


if __name__ == "__main__":
    main()
