#!/usr/bin/env bash
# bench/gobench.sh - gwsim's Go benchmarks (go test -bench), with a side-by-side summary.
# (bench/run.sh compares gwsim with nginx, HAProxy, httputil and wrk.)
#
# Usage (from the repo root):  bash bench/gobench.sh
#
# What it runs:
#   1. go test ./proxy -run '^$' -bench '^BenchmarkGateway$' -benchtime $BENCHTIME -count $COUNT -benchmem
#      gwsim's gateway vs net/http/httputil.ReverseProxy vs the client straight
#      to the backend ("direct"), GET and 16 KiB POST, all on loopback with the
#      same client (proxy.Pool) and the same kind of backend (gwsim backend,
#      10 min keep-alive). Metrics: req/s, p50-µs, p99-µs.
#   2. go test ./scenarios -run '^$' -bench '^BenchmarkTimeToFirst502$' -benchtime ${FIRST502_RUNS}x
#      appgw-v2-apache-default run FIRST502_RUNS times: mean/max time to the
#      first 502 (scaled wall ms) and how many runs had none.
#   3. go test ./scenarios -run '^$' -bench '^BenchmarkSeedSuiteWall$' -benchtime 1x -count $SUITE_COUNT
#      the seed suite in-process: wall seconds; fails if a scenario fails.
#   4. time go run ./cmd/gwsim run   (built first, so compile time is not counted)
#
# Then it prints, from the step 1 output (awk): per sub-benchmark the median
# over the COUNT runs of req/s, p50 and p99 (with the req/s min..max spread),
# the gwsim/reverseproxy req/s ratio, each proxy's req/s as a fraction of
# direct, and the p50/p99 latency each proxy adds over direct.
#
# Environment (defaults): COUNT=3  BENCHTIME=2s  FIRST502_RUNS=5  SUITE_COUNT=1
#   OUT=<new temp dir>  (raw outputs: gateway.txt first502.txt suite.txt gwsim-run.txt)
# Exit status: 0 if every step passed, 1 otherwise (every step runs anyway).
#
# Numbers are noisy on small machines: client, proxy and backend share the
# cores, so req/s is the throughput of the whole chain; compare ratios from
# one run rather than absolute figures across runs.

set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1

COUNT=${COUNT:-3}
BENCHTIME=${BENCHTIME:-2s}
FIRST502_RUNS=${FIRST502_RUNS:-5}
SUITE_COUNT=${SUITE_COUNT:-1}
OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/gwsim-bench.XXXXXX")}
mkdir -p "$OUT"

status=0
step() { printf '\n=== %s\n' "$*"; }

step "gateway throughput and latency (count $COUNT, benchtime $BENCHTIME; $(nproc 2>/dev/null || echo '?') CPU)"
go test ./proxy -run '^$' -bench '^BenchmarkGateway$' -benchtime "$BENCHTIME" -count "$COUNT" -benchmem |
	tee "$OUT/gateway.txt" || status=1

step "time to first 502, appgw-v2-apache-default ($FIRST502_RUNS runs)"
go test ./scenarios -run '^$' -bench '^BenchmarkTimeToFirst502$' -benchtime "${FIRST502_RUNS}x" |
	tee "$OUT/first502.txt" || status=1

step "seed suite wall time (count $SUITE_COUNT)"
go test ./scenarios -run '^$' -bench '^BenchmarkSeedSuiteWall$' -benchtime 1x -count "$SUITE_COUNT" |
	tee "$OUT/suite.txt" || status=1

step "time go run ./cmd/gwsim run"
go build -o /dev/null ./cmd/gwsim || status=1 # warm the build cache
TIMEFORMAT='%R s real, %U s user, %S s sys'
{ time go run ./cmd/gwsim run >"$OUT/gwsim-run.txt" 2>&1; } 2>"$OUT/gwsim-run.time"
run_rc=$?
# `time` reports the pipeline's status; exit code 3 = an expectation failed.
tail -n 1 "$OUT/gwsim-run.txt"
echo "exit $run_rc; $(cat "$OUT/gwsim-run.time")"
[ "$run_rc" -eq 0 ] || status=1

step "summary (medians over $COUNT runs; raw output in $OUT)"
awk '
# A result line: BenchmarkGateway/<mode>/<target>-<procs> N v1 unit1 v2 unit2 ...
$1 ~ /^BenchmarkGateway\// {
	name = $1
	sub(/-[0-9]+$/, "", name)
	split(name, part, "/")
	mode = part[2]; target = part[3]
	if (!(mode in seenMode)) { seenMode[mode] = 1; modes[++nmodes] = mode }
	for (i = 3; i < NF; i += 2) {
		key = mode SUBSEP target SUBSEP $(i + 1)
		vals[key, ++n[key]] = $i + 0
	}
}
function median(key,    m, i, j, t, a) {
	m = n[key]
	if (m == 0) return -1
	for (i = 1; i <= m; i++) a[i] = vals[key, i]
	for (i = 2; i <= m; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
	return (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
}
function spread(key,    i, lo, hi) {
	if (n[key] == 0) return "-"
	lo = hi = vals[key, 1]
	for (i = 2; i <= n[key]; i++) { if (vals[key, i] < lo) lo = vals[key, i]; if (vals[key, i] > hi) hi = vals[key, i] }
	return sprintf("%.0f..%.0f", lo, hi)
}
function get(mode, target, unit) { return median(mode SUBSEP target SUBSEP unit) }
END {
	if (nmodes == 0) { print "no BenchmarkGateway results"; exit 1 }
	split("direct gwsim reverseproxy", targets, " ")
	for (k = 1; k <= nmodes; k++) {
		mode = modes[k]
		printf "\n%s\n", mode
		printf "  %-13s %10s %15s %10s %10s\n", "target", "req/s", "req/s min..max", "p50 µs", "p99 µs"
		for (t = 1; t <= 3; t++) {
			tg = targets[t]
			printf "  %-13s %10.0f %15s %10.1f %10.1f\n", tg, get(mode, tg, "req/s"),
				spread(mode SUBSEP tg SUBSEP "req/s"), get(mode, tg, "p50-µs"), get(mode, tg, "p99-µs")
		}
		d = get(mode, "direct", "req/s"); g = get(mode, "gwsim", "req/s"); r = get(mode, "reverseproxy", "req/s")
		if (d > 0 && g > 0 && r > 0) {
			printf "  req/s   gwsim / reverseproxy = %.2f   gwsim / direct = %.2f   reverseproxy / direct = %.2f\n", g / r, g / d, r / d
		}
		for (q = 1; q <= 2; q++) {
			u = (q == 1) ? "p50-µs" : "p99-µs"
			dl = get(mode, "direct", u)
			printf "  added %s over direct:  gwsim %+.1f   reverseproxy %+.1f   (gwsim - reverseproxy %+.1f)\n", substr(u, 1, 3),
				get(mode, "gwsim", u) - dl, get(mode, "reverseproxy", u) - dl, get(mode, "gwsim", u) - get(mode, "reverseproxy", u)
		}
	}
}' "$OUT/gateway.txt" || status=1

echo
grep -h -E '^Benchmark(TimeToFirst502|SeedSuiteWall)|^--- FAIL|^FAIL' "$OUT/first502.txt" "$OUT/suite.txt"
echo "gwsim run: $(tail -n 1 "$OUT/gwsim-run.txt") (exit $run_rc; $(cat "$OUT/gwsim-run.time"))"
echo "raw output: $OUT"
exit "$status"
