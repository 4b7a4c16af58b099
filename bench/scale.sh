#!/usr/bin/env bash
# scale.sh BUILD_DIR [SIZES] — each workload at N = 10,000, 100,000 and
# 1,000,000 users (relations, lazy and delete on N/10 users with 10 posts
# each), corm and the hand-written sqlite3 program, one run each: the time
# per unit of work (a row inserted, scanned or updated; a look-up; a query;
# a user with its posts) in microseconds, and how it grows from the
# smallest size to the largest. Flat is the goal: no step of corm may grow
# faster than the rows (flush sort, identity map growth, cascades, selectin
# chunking). Workloads of fixed size (get: 10,000 look-ups; filter: 1,000
# queries; lazy: 1,000 users) show what a bigger table costs each one.
set -euo pipefail
build=$1
sizes=${2:-"10000 100000 1000000"}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for n in $sizes; do
    for p in bench_baseline bench_corm; do
        "$build/bench/$p" "$tmp" "$n" all | grep -v ' scan ' | sed "s/^/$p $n /" >> "$tmp/results"
        "$build/bench/$p" "$tmp" "$n" users > /dev/null
        "$build/bench/$p" "$tmp" "$n" scan | sed "s/^/$p $n /" >> "$tmp/results"
        rm -f "$tmp"/*.db*
    done
done
python3 - "$tmp/results" $sizes <<'PY'
import sys
sizes = [int(x) for x in sys.argv[2:]]
t = {}
for line in open(sys.argv[1]):
    prog, n, _, workload, metric, value = line.split()
    if metric == "seconds":
        t[(prog, int(n), workload)] = float(value)
def units(w, n):
    return {"insert": n, "get": 10000, "filter": 1000, "scan": n, "update": n,
            "relations": n // 10, "lazy": 1000, "delete": n // 20}[w]
print("time per unit of work (microseconds), one run each, SQLite")
head = "".join(f"{'N=' + format(n, ','):>13}" for n in sizes)
print(f"{'workload':<10} {'program':<10}{head} {'largest/smallest':>17}")
for w in ["insert", "get", "filter", "scan", "update", "relations", "lazy", "delete"]:
    for prog, label in [("bench_baseline", "baseline"), ("bench_corm", "corm")]:
        per = [t[(prog, n, w)] / units(w, n) * 1e6 for n in sizes]
        cells = "".join(f"{x:>13.3f}" for x in per)
        print(f"{w:<10} {label:<10}{cells} {per[-1] / per[0]:>16.2f}x")
PY
