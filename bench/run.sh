#!/usr/bin/env bash
# bench/run.sh - gwsim side by side with the real tools (issue 8, "Speed and memory").
#
# Usage (from anywhere):  bash bench/run.sh
#
# 1. Proxy throughput: wrk -t1 -c$CONNS -d${DURATION}s through gwsim proxy
#    (appgw-v2, access log on), nginx (1 worker, upstream keepalive, access_log
#    on), HAProxy (nbthread 1, http-reuse safe, log to stdout) and
#    bench/revproxy (httputil.ReverseProxy, access log on), all in front of
#    the same Go backend (bench/hello). GET, then POST with a 16 KiB body.
#    Each round runs every proxy once, in that order; figures are medians
#    over ROUNDS rounds. CPU per request is the proxy's utime+stime
#    (/proc/PID/stat, master + worker for nginx) over wrk's request count.
# 2. Load driver: gwsim load --pattern closed --workers $CONNS against wrk
#    -t1 -c$CONNS, both straight at bench/hello, alternating, ROUNDS rounds.
# 3. Memory per idle pooled backend connection, IDLE_CONNS connections:
#    gwsim: go test ./proxy -bench BenchmarkIdleConnMemory (Go heap in use +
#    stacks in use growth after two forced GCs, per connection); nginx and
#    the gwsim proxy process: VmRSS growth of the process after bench/fanout
#    made IDLE_CONNS requests at once (so the proxy opened that many backend
#    connections and keeps them idle), over the backend connections counted
#    with ss.
#
# Environment (defaults): DURATION=5 (seconds per wrk/load run)  ROUNDS=3
#   CONNS=32  IDLE_CONNS=4000  WARMUP=1 (seconds per proxy before round 1)
#   OUT=<new temp dir> (binaries, configs, logs, raw results: runs.tsv)
#   MEMORY=1 (0 skips part 3)
# Needs: go, wrk, nginx, haproxy, ss (Debian: apt-get install -y nginx haproxy wrk).
# Exit status: 0 when every run completed (goals missed are reported, not
# failed), 1 when something broke, 2 when a tool is missing.

set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

DURATION=${DURATION:-5}
DURATION=${DURATION%s}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-32}
IDLE_CONNS=${IDLE_CONNS:-4000}
WARMUP=${WARMUP:-1}
MEMORY=${MEMORY:-1}
OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/gwsim-bench.XXXXXX")}
mkdir -p "$OUT"
chmod 755 "$OUT" # nginx's worker may run as nobody
BIN=$OUT/bin
RUNS=$OUT/runs.tsv
CLK_TCK=$(getconf CLK_TCK)
NCPU=$(nproc 2>/dev/null || echo '?')

say() { printf '%s\n' "$*"; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- tools
missing_tools() {
	local t absent=()
	for t in go wrk nginx haproxy ss getconf awk; do
		command -v "$t" >/dev/null 2>&1 || absent+=("$t")
	done
	printf '%s\n' "${absent[*]:-}"
}

missing=$(missing_tools)
if [ -n "$missing" ]; then
	# An apt-get install may still be running: wait for it (bounded).
	for i in $(seq 1 120); do
		pgrep -x apt-get >/dev/null 2>&1 || pgrep -x dpkg >/dev/null 2>&1 || break
		[ "$i" -eq 1 ] && say "waiting for a running apt-get/dpkg (see /tmp/apt.log) ..."
		sleep 5
	done
	missing=$(missing_tools)
fi
if [ -n "$missing" ]; then
	printf 'bench: missing: %s (Debian: apt-get install -y nginx haproxy wrk)\n' "$missing" >&2
	exit 2
fi

# Thousands of sockets in part 3; wrk, nginx, haproxy inherit this.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# ---------------------------------------------------------------- processes
PIDS=()
cleanup() {
	local pid
	[ "${#PIDS[@]}" -gt 0 ] || return 0
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# stop PID: end one process this script started (and forget it).
stop() {
	local pid=$1 i p keep=()
	for p in "${PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
	PIDS=("${keep[@]}")
	kill "$pid" 2>/dev/null || true
	for i in $(seq 1 50); do
		kill -0 "$pid" 2>/dev/null || break
		[ "$i" -eq 50 ] && kill -9 "$pid" 2>/dev/null
		sleep 0.1
	done
	wait "$pid" 2>/dev/null || true
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_port PORT PID NAME: until PORT accepts connections (10 s at most).
wait_port() {
	local i
	for i in $(seq 1 100); do
		port_open "$1" && return 0
		kill -0 "$2" 2>/dev/null || die "$3 exited at start (logs in $OUT)"
		sleep 0.1
	done
	die "$3 does not listen on 127.0.0.1:$1 after 10 s"
}

# Ten consecutive free loopback ports from a random base, below Linux's
# ephemeral range (32768 and up), which thousands of client sockets use.
pick_ports() {
	local base p ok _
	for _ in $(seq 1 20); do
		base=$((12000 + RANDOM % 20000))
		ok=1
		for p in $(seq "$base" $((base + 9))); do
			if port_open "$p"; then ok=0; break; fi
		done
		if [ "$ok" -eq 1 ]; then echo "$base"; return 0; fi
	done
	die "no 10 free consecutive ports found"
}
BASE=$(pick_ports)
P_HELLO=$BASE P_GWSIM=$((BASE + 1)) P_GWSIM_METRICS=$((BASE + 2)) P_NGINX=$((BASE + 3))
P_HAPROXY=$((BASE + 4)) P_REVPROXY=$((BASE + 5)) P_HELLO2=$((BASE + 6)) P_GWSIM2=$((BASE + 7))
P_GWSIM2_METRICS=$((BASE + 8)) P_NGINX2=$((BASE + 9))

# cpu_ticks PID...: utime+stime of the processes, in clock ticks.
cpu_ticks() {
	local pid sum=0 t
	for pid in "$@"; do
		# Fields after "comm)": state is 1, utime 12, stime 13.
		t=$(sed 's/^.*) //' "/proc/$pid/stat" | awk '{print $12 + $13}')
		sum=$((sum + t))
	done
	echo "$sum"
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# established backend-side sockets on PORT: connections some proxy holds open to it.
conns_to() { ss -Htn state established "( sport = :$1 )" | wc -l; }

children() { cat "/proc/$1/task/$1/children" 2>/dev/null || true; }

# ---------------------------------------------------------------- build
say "building gwsim and the bench programs into $BIN ..."
go build -o "$BIN/gwsim" ./cmd/gwsim
go build -o "$BIN/hello" ./bench/hello
go build -o "$BIN/revproxy" ./bench/revproxy
go build -o "$BIN/fanout" ./bench/fanout

cat >"$OUT/post16k.lua" <<'EOF'
wrk.method = "POST"
wrk.body = string.rep("x", 16384)
wrk.headers["Content-Type"] = "application/octet-stream"
EOF

# nginx_conf DIR PORT BACKEND_PORT KEEPALIVE: a one-worker nginx in DIR.
nginx_conf() {
	local dir=$1 user=""
	mkdir -p "$dir/logs"
	[ "$(id -u)" -eq 0 ] && user="user root root;"
	cat >"$dir/nginx.conf" <<EOF
$user
worker_processes 1;
worker_rlimit_nofile 20000;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections 10000; }
http {
    access_log $dir/logs/access.log;
    client_body_temp_path $dir/client_body;
    proxy_temp_path $dir/proxy_temp;
    fastcgi_temp_path $dir/fastcgi_temp;
    uwsgi_temp_path $dir/uwsgi_temp;
    scgi_temp_path $dir/scgi_temp;
    # 16 KiB POST bodies stay in memory (the default buffer, 16k on x86-64
    # with the request line, would spill some of them to a temp file).
    client_body_buffer_size 32k;
    keepalive_requests 1000000;
    upstream hello {
        server 127.0.0.1:$3;
        keepalive $4;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:$2 backlog=4096;
        location / {
            proxy_pass http://hello;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
}

# start_nginx DIR PORT: runs nginx in the foreground; sets NGINX_PID and NGINX_WORKER.
start_nginx() {
	nginx -p "$1/" -c "$1/nginx.conf" -e "$1/logs/error.log" -g 'daemon off;' >"$1/logs/stdout.log" 2>&1 &
	NGINX_PID=$!
	PIDS+=("$NGINX_PID")
	wait_port "$2" "$NGINX_PID" nginx
	local i
	for i in $(seq 1 50); do
		NGINX_WORKER=$(children "$NGINX_PID" | awk '{print $1}')
		[ -n "$NGINX_WORKER" ] && return 0
		sleep 0.1
	done
	die "nginx has no worker process"
}

# ---------------------------------------------------------------- start (parts 1, 2)
"$BIN/hello" -listen "127.0.0.1:$P_HELLO" 2>"$OUT/hello.log" &
HELLO_PID=$!
PIDS+=("$HELLO_PID")
wait_port "$P_HELLO" "$HELLO_PID" hello

"$BIN/gwsim" proxy --profile appgw-v2 --listen "127.0.0.1:$P_GWSIM" --backends "127.0.0.1:$P_HELLO" \
	--admin-listen off --metrics-listen "127.0.0.1:$P_GWSIM_METRICS" 2>"$OUT/gwsim-access.log" &
GWSIM_PID=$!
PIDS+=("$GWSIM_PID")
wait_port "$P_GWSIM" "$GWSIM_PID" "gwsim proxy"

nginx_conf "$OUT/nginx" "$P_NGINX" "$P_HELLO" 64
start_nginx "$OUT/nginx" "$P_NGINX"
NGINX_PIDS="$NGINX_PID $NGINX_WORKER"

cat >"$OUT/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn 9000
    log stdout format raw local0 info
defaults
    mode http
    log global
    option httplog
    timeout connect 5s
    timeout client 75s
    timeout server 60s
    http-reuse safe
frontend fe
    bind 127.0.0.1:$P_HAPROXY
    default_backend be
backend be
    server hello 127.0.0.1:$P_HELLO
EOF
haproxy -db -f "$OUT/haproxy.cfg" >"$OUT/haproxy-access.log" 2>"$OUT/haproxy.log" &
HAPROXY_PID=$!
PIDS+=("$HAPROXY_PID")
wait_port "$P_HAPROXY" "$HAPROXY_PID" haproxy

"$BIN/revproxy" -listen "127.0.0.1:$P_REVPROXY" -backend "127.0.0.1:$P_HELLO" \
	-access-log "$OUT/revproxy-access.log" 2>"$OUT/revproxy.log" &
REVPROXY_PID=$!
PIDS+=("$REVPROXY_PID")
wait_port "$P_REVPROXY" "$REVPROXY_PID" revproxy

PROXIES=(gwsim nginx haproxy httputil)
proxy_port() {
	case $1 in
	gwsim) echo "$P_GWSIM" ;; nginx) echo "$P_NGINX" ;; haproxy) echo "$P_HAPROXY" ;;
	httputil) echo "$P_REVPROXY" ;; hello) echo "$P_HELLO" ;;
	esac
}
proxy_pids() {
	case $1 in
	gwsim) echo "$GWSIM_PID" ;; nginx) echo "$NGINX_PIDS" ;; haproxy) echo "$HAPROXY_PID" ;;
	httputil) echo "$REVPROXY_PID" ;; hello) echo "$HELLO_PID" ;;
	esac
}

# wrk_parse FILE: "requests req/s errors" from wrk's output.
wrk_parse() {
	awk '
	/ requests in / { req = $1 }
	/^Requests\/sec:/ { rps = $2 }
	/Socket errors:/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) { v = $i; sub(/,/, "", v); err += v } }
	/Non-2xx or 3xx responses:/ { err += $NF }
	END { printf "%d %.1f %d\n", req, rps, err }' "$1"
}

printf 'part\tmode\ttool\tround\trequests\treq_s\tcpu_ticks\terrors\n' >"$RUNS"

# run_wrk MODE PROXY ROUND SECONDS: one wrk run through PROXY; ROUND 0 = warm-up (not recorded).
run_wrk() {
	local mode=$1 proxy=$2 round=$3 secs=$4 port pids c0 c1 script=() f
	port=$(proxy_port "$proxy")
	read -r -a pids <<<"$(proxy_pids "$proxy")"
	[ "$mode" = post16k ] && script=(-s "$OUT/post16k.lua")
	f=$OUT/wrk-$mode-$proxy-$round.txt
	c0=$(cpu_ticks "${pids[@]}")
	wrk -t1 -c"$CONNS" -d"${secs}s" "${script[@]}" "http://127.0.0.1:$port/" >"$f" 2>&1 ||
		die "wrk through $proxy failed: $(tail -n 3 "$f")"
	c1=$(cpu_ticks "${pids[@]}")
	[ "$round" -eq 0 ] && return 0
	read -r req rps err <<<"$(wrk_parse "$f")"
	printf 'proxy\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$mode" "$proxy" "$round" "$req" "$rps" $((c1 - c0)) "$err" >>"$RUNS"
	printf '  round %s %-8s %-8s %9.0f req/s %8.1f µs CPU/req%s\n' "$round" "$mode" "$proxy" "$rps" \
		"$(awk -v t=$((c1 - c0)) -v r="$req" -v hz="$CLK_TCK" 'BEGIN { print (r > 0) ? t * 1e6 / hz / r : 0 }')" \
		"$([ "$err" -gt 0 ] && echo "  ($err errors)")"
}

# ---------------------------------------------------------------- part 1
say
say "=== 1. proxy throughput: wrk -t1 -c$CONNS -d${DURATION}s, $ROUNDS rounds, $NCPU CPUs (raw: $OUT)"
for p in "${PROXIES[@]}"; do
	run_wrk get "$p" 0 "$WARMUP"
	run_wrk post16k "$p" 0 "$WARMUP"
done
for mode in get post16k; do
	for r in $(seq 1 "$ROUNDS"); do
		for p in "${PROXIES[@]}"; do
			run_wrk "$mode" "$p" "$r" "$DURATION"
		done
	done
done

# ---------------------------------------------------------------- part 2
# run_timed FILE CMD...: runs CMD with stdout to FILE; prints "user+sys seconds".
run_timed() {
	local f=$1 tf rc=0
	shift
	tf=$(mktemp "$OUT/time.XXXXXX")
	TIMEFORMAT='%3U %3S'
	{ time "$@" >"$f" 2>"$f.err"; } 2>"$tf" || rc=$?
	[ "$rc" -eq 0 ] || die "$* failed (exit $rc): $(tail -n 3 "$f.err")"
	awk '{ print $1 + $2 }' "$tf"
	rm -f "$tf"
}

say
say "=== 2. load driver: gwsim load --pattern closed --workers $CONNS vs wrk -t1 -c$CONNS, straight at hello, ${DURATION}s, $ROUNDS rounds"
TARGET=http://127.0.0.1:$P_HELLO/
for r in $(seq 1 "$ROUNDS"); do
	f=$OUT/load-gwsim-$r.json
	cpu=$(run_timed "$f" "$BIN/gwsim" load --pattern closed --workers "$CONNS" --target "$TARGET" --duration "${DURATION}s" --json)
	read -r req secs err <<<"$(tr -d '\n ' <"$f" | awk '{
		match($0, /"requests":[0-9]+/); req = substr($0, RSTART + 11, RLENGTH - 11)
		match($0, /"elapsed_seconds":[0-9.e+-]+/); secs = substr($0, RSTART + 18, RLENGTH - 18)
		match($0, /"status":\{[^}]*\}/); st = substr($0, RSTART, RLENGTH)
		ok = 0; if (match(st, /"200":[0-9]+/)) ok = substr(st, RSTART + 6, RLENGTH - 6)
		print req, secs, req - ok }')"
	rps=$(awk -v r="$req" -v s="$secs" 'BEGIN { printf "%.1f", (s > 0) ? r / s : 0 }')
	ticks=$(awk -v c="$cpu" -v hz="$CLK_TCK" 'BEGIN { printf "%d", c * hz + 0.5 }')
	printf 'load\tget\tgwsim-load\t%s\t%s\t%s\t%s\t%s\n' "$r" "$req" "$rps" "$ticks" "$err" >>"$RUNS"
	printf '  round %s gwsim load %9.0f req/s %8.1f µs CPU/req\n' "$r" "$rps" "$(awk -v c="$cpu" -v n="$req" 'BEGIN { print (n > 0) ? c * 1e6 / n : 0 }')"

	f=$OUT/load-wrk-$r.txt
	cpu=$(run_timed "$f" wrk -t1 -c"$CONNS" -d"${DURATION}s" "$TARGET")
	read -r req rps err <<<"$(wrk_parse "$f")"
	ticks=$(awk -v c="$cpu" -v hz="$CLK_TCK" 'BEGIN { printf "%d", c * hz + 0.5 }')
	printf 'load\tget\twrk\t%s\t%s\t%s\t%s\t%s\n' "$r" "$req" "$rps" "$ticks" "$err" >>"$RUNS"
	printf '  round %s wrk        %9.0f req/s %8.1f µs CPU/req\n' "$r" "$rps" "$(awk -v c="$cpu" -v n="$req" 'BEGIN { print (n > 0) ? c * 1e6 / n : 0 }')"
done

# The throughput proxies are done: stop them so part 3 has the machine.
for pid in "$REVPROXY_PID" "$HAPROXY_PID" "$NGINX_PID" "$GWSIM_PID" "$HELLO_PID"; do stop "$pid"; done

# ---------------------------------------------------------------- part 3
MEMFILE=$OUT/memory.txt
: >"$MEMFILE"
# fill_idle NAME PORT RSS_PID: fanout IDLE_CONNS requests through PORT; records
# the RSS growth of RSS_PID and the backend connections held, in MEMFILE.
fill_idle() {
	local name=$1 port=$2 pid=$3 rss0 rss1 held
	# One request first, so the baseline includes the first connection's one-off costs.
	"$BIN/fanout" -addr "127.0.0.1:$port" -n 1 -path / >/dev/null
	sleep 0.5
	rss0=$(rss_kb "$pid")
	"$BIN/fanout" -addr "127.0.0.1:$port" -n "$IDLE_CONNS" -path '/?delay=3s' -timeout 60s >"$OUT/fanout-$name.txt" 2>&1 ||
		say "  $name: fanout: $(cat "$OUT/fanout-$name.txt")"
	sleep 1
	rss1=$(rss_kb "$pid")
	held=$(conns_to "$P_HELLO2")
	printf '%s %s %s %s\n' "$name" "$rss0" "$rss1" "$held" >>"$MEMFILE"
	printf '  %-12s VmRSS %7d -> %7d KiB, %d idle backend connections held: %.1f KiB each\n' "$name" "$rss0" "$rss1" "$held" \
		"$(awk -v a="$rss0" -v b="$rss1" -v n="$held" 'BEGIN { print (n > 0) ? (b - a) / n : 0 }')"
}

metric() { # metric PORT NAME: one unlabelled sample from /metrics
	{ exec 3<>"/dev/tcp/127.0.0.1/$1" && printf 'GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n' >&3 && cat <&3; } 2>/dev/null |
		awk -v n="$2" '$1 == n { printf "%.0f\n", $2 }'
}

if [ "$MEMORY" = 1 ]; then
	say
	say "=== 3. memory per idle pooled backend connection ($IDLE_CONNS connections)"
	say "  go test ./proxy -run '^\$' -bench '^BenchmarkIdleConnMemory\$' -benchtime 3x"
	GWSIM_IDLEMEM_CONNS=$IDLE_CONNS go test ./proxy -run '^$' -bench '^BenchmarkIdleConnMemory$' -benchtime 3x -count 1 >"$OUT/idlemem.txt" 2>&1 ||
		die "BenchmarkIdleConnMemory failed: $(tail -n 5 "$OUT/idlemem.txt")"
	grep '^BenchmarkIdleConnMemory' "$OUT/idlemem.txt" | sed 's/^/  /'

	"$BIN/hello" -listen "127.0.0.1:$P_HELLO2" 2>"$OUT/hello2.log" &
	HELLO2_PID=$!
	PIDS+=("$HELLO2_PID")
	wait_port "$P_HELLO2" "$HELLO2_PID" hello

	nginx_conf "$OUT/nginx-mem" "$P_NGINX2" "$P_HELLO2" "$IDLE_CONNS"
	start_nginx "$OUT/nginx-mem" "$P_NGINX2"
	fill_idle nginx "$P_NGINX2" "$NGINX_WORKER"
	stop "$NGINX_PID"

	"$BIN/gwsim" proxy --profile appgw-v2 --listen "127.0.0.1:$P_GWSIM2" --backends "127.0.0.1:$P_HELLO2" \
		--admin-listen off --metrics-listen "127.0.0.1:$P_GWSIM2_METRICS" 2>"$OUT/gwsim-mem-access.log" &
	GWSIM2_PID=$!
	PIDS+=("$GWSIM2_PID")
	wait_port "$P_GWSIM2" "$GWSIM2_PID" "gwsim proxy"
	"$BIN/fanout" -addr "127.0.0.1:$P_GWSIM2" -n 1 -path / >/dev/null
	h0=$(metric "$P_GWSIM2_METRICS" go_memstats_heap_inuse_bytes)
	s0=$(metric "$P_GWSIM2_METRICS" go_memstats_stack_inuse_bytes)
	fill_idle gwsim-proxy "$P_GWSIM2" "$GWSIM2_PID"
	h1=$(metric "$P_GWSIM2_METRICS" go_memstats_heap_inuse_bytes)
	s1=$(metric "$P_GWSIM2_METRICS" go_memstats_stack_inuse_bytes)
	held=$(conns_to "$P_HELLO2")
	printf 'gwsim-proxy-go %s %s %s\n' "$((h0 + s0))" "$((h1 + s1))" "$held" >>"$MEMFILE"
	printf '  %-12s Go heap+stack in use %d -> %d KiB (no forced GC: includes garbage and client-side buffers): %.1f KiB each\n' \
		gwsim-proxy $(((h0 + s0) / 1024)) $(((h1 + s1) / 1024)) "$(awk -v a=$((h0 + s0)) -v b=$((h1 + s1)) -v n="$held" 'BEGIN { print (n > 0) ? (b - a) / 1024 / n : 0 }')"
	stop "$GWSIM2_PID"
	stop "$HELLO2_PID"
fi

# ---------------------------------------------------------------- summary
say
say "=== summary (medians of $ROUNDS rounds, ${DURATION}s each; $NCPU CPUs; raw: $OUT)"
awk -F'\t' -v hz="$CLK_TCK" -v memfile="$MEMFILE" -v idlemem="$OUT/idlemem.txt" -v conns="$CONNS" -v idle="$IDLE_CONNS" '
function med(key,    m, i, j, t, a) {
	m = n[key]
	if (m == 0) return 0
	for (i = 1; i <= m; i++) a[i] = v[key, i]
	for (i = 2; i <= m; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
	return (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
}
function add(key, x) { v[key, ++n[key]] = x }
function lo(key,    i, r) { r = v[key, 1]; for (i = 2; i <= n[key]; i++) if (v[key, i] < r) r = v[key, i]; return r }
function hi(key,    i, r) { r = v[key, 1]; for (i = 2; i <= n[key]; i++) if (v[key, i] > r) r = v[key, i]; return r }
function verdict(x, goal) { return (x >= goal) ? "met" : "MISSED" }
NR == 1 { next }
{
	k = $2 SUBSEP $3
	if (!(k in seen)) { seen[k] = 1; order[++nk] = k }
	add(k SUBSEP "rps", $6)
	add(k SUBSEP "cpu", ($5 > 0) ? $7 * 1e6 / hz / $5 : 0)
	errs[k] += $8
	part[k] = $1
}
END {
	printf "%-8s %-11s %9s %17s %11s %7s\n", "mode", "tool", "req/s", "req/s min..max", "CPU µs/req", "errors"
	for (i = 1; i <= nk; i++) {
		k = order[i]; split(k, kk, SUBSEP)
		if (i > 1 && part[k] != part[order[i - 1]]) print ""
		printf "%-8s %-11s %9.0f %17s %11.1f %7d\n", kk[1], kk[2], med(k SUBSEP "rps"),
			sprintf("%.0f..%.0f", lo(k SUBSEP "rps"), hi(k SUBSEP "rps")), med(k SUBSEP "cpu"), errs[k]
		rps[kk[1], kk[2]] = med(k SUBSEP "rps"); cpu[kk[1], kk[2]] = med(k SUBSEP "cpu")
	}
	print ""
	printf "%-34s %9s %8s %9s   %s\n", "ratio (req/s)", "measured", "goal", "", "CPU/req ratio (lower = gwsim cheaper)"
	r = rps["get", "gwsim"] / rps["get", "nginx"]
	printf "%-34s %8.2fx %8s %9s   %.2f\n", "gwsim / nginx, GET", r, ">= 1.0x", verdict(r, 1.0), cpu["get", "gwsim"] / cpu["get", "nginx"]
	r = rps["get", "gwsim"] / rps["get", "httputil"]
	printf "%-34s %8.2fx %8s %9s   %.2f\n", "gwsim / httputil, GET", r, ">= 2x", verdict(r, 2.0), cpu["get", "gwsim"] / cpu["get", "httputil"]
	r = rps["post16k", "gwsim"] / rps["post16k", "nginx"]
	printf "%-34s %8.2fx %8s %9s   %.2f\n", "gwsim / nginx, POST 16 KiB", r, ">= 0.8x", verdict(r, 0.8), cpu["post16k", "gwsim"] / cpu["post16k", "nginx"]
	printf "%-34s %8.2fx %8s %9s   %.2f\n", "gwsim / haproxy, GET (no goal)", rps["get", "gwsim"] / rps["get", "haproxy"], "", "", cpu["get", "gwsim"] / cpu["get", "haproxy"]
	printf "%-34s %8.2fx %8s %9s   %.2f\n", "gwsim / httputil, POST (no goal)", rps["post16k", "gwsim"] / rps["post16k", "httputil"], "", "", cpu["post16k", "gwsim"] / cpu["post16k", "httputil"]
	if (rps["get", "wrk"] > 0) {
		r = rps["get", "gwsim-load"] / rps["get", "wrk"]
		printf "%-34s %8.2fx %8s %9s   %.2f\n", "gwsim load / wrk, " conns " conns", r, ">= 0.9x", verdict(r, 0.9), cpu["get", "gwsim-load"] / cpu["get", "wrk"]
	}
	while ((getline line < idlemem) > 0) {
		if (line ~ /^BenchmarkIdleConnMemory/) {
			nf = split(line, f, /[ \t]+/)
			for (i = 2; i < nf; i++) if (f[i + 1] == "B/idle-conn") gomem = f[i]
		}
	}
	while ((getline line < memfile) > 0) {
		split(line, f, " ")
		if (f[4] > 0) {
			if (f[1] == "gwsim-proxy-go") memgo = (f[3] - f[2]) / f[4]
			else memrss[f[1]] = (f[3] - f[2]) * 1024 / f[4]
			held[f[1]] = f[4]
		}
	}
	if (gomem != "" || ("nginx" in memrss)) {
		print ""
		printf "%-52s %9s %8s %9s\n", "memory per idle backend connection", "measured", "goal", ""
		if (gomem != "")
			printf "%-52s %7.1f KB %8s %9s\n", "gwsim Pool, Go heap+stack (BenchmarkIdleConnMemory)", gomem / 1000, "<= 12 KB", verdict(12000, gomem)
		if ("nginx" in memrss)
			printf "%-52s %7.1f KB %8s %9s\n", sprintf("nginx worker, VmRSS growth (%d held)", held["nginx"]), memrss["nginx"] / 1000, "~10 KB", ""
		if ("gwsim-proxy" in memrss)
			printf "%-52s %7.1f KB %8s %9s\n", sprintf("gwsim proxy, VmRSS growth (%d held)", held["gwsim-proxy"]), memrss["gwsim-proxy"] / 1000, "", ""
		if (memgo != "")
			printf "%-52s %7.1f KB %8s %9s\n", "gwsim proxy, heap+stack, no forced GC", memgo / 1000, "", ""
	}
}' "$RUNS"
