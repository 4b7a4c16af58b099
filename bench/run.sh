#!/usr/bin/env bash
# run.sh BUILD_DIR [RUNS] [N] — run corm and the baseline alternately RUNS
# times on fresh databases, print each workload's median seconds and the
# ratio corm / baseline (timings here are noisy; ratios in one run are not).
set -euo pipefail
build=$1
runs=${2:-${BENCH_RUNS:-5}}
n=${3:-${BENCH_N:-100000}}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for ((r = 1; r <= runs; r++)); do
    "$build/bench/bench_baseline" "$tmp" "$n" | sed 's/^/baseline /' >> "$tmp/results"
    "$build/bench/bench_corm" "$tmp" "$n" | sed 's/^/corm /' >> "$tmp/results"
    rm -f "$tmp"/*.db*
done
python3 - "$tmp/results" "$runs" "$n" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    system, _, workload, metric, value = line.split()
    rows.setdefault((workload, metric), {}).setdefault(system, []).append(float(value))
print(f"corm vs hand-written sqlite3: N={sys.argv[3]}, median of {sys.argv[2]} runs")
print(f"{'workload':<10} {'metric':<12} {'baseline':>12} {'corm':>12} {'ratio':>7}")
for (workload, metric), by in rows.items():
    b, c = statistics.median(by["baseline"]), statistics.median(by["corm"])
    print(f"{workload:<10} {metric:<12} {b:>12.4f} {c:>12.4f} {c / b if b else float('nan'):>7.3f}")
PY
