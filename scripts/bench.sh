#!/usr/bin/env bash
# bench.sh: the cluster benchmark behind `make bench` (docs/PERFORMANCE.md explains the figures).
#
#   scripts/bench.sh [--quick] [--only LIST] [--clients "1 16 64 64x8"] [--ops "put get"]
#                    [--duration S] [--warmup S] [--depth D] [--fsync batch|always|never]
#                    [--base-port P] [--out FILE] [--perf DIR] [--set KEY=VALUE]...
#   scripts/bench.sh --memory [--puts N] [--clients C] [--depth D] [--only pbft4|pbft4mac|...]
#
# For each configuration (pbft4, pbft7, hbbft4, hbbft7, and solo: one replica with no consensus,
# bftnode --solo, the n=1 "cost of BFT" baseline; a configuration ending in "mac" is that
# cluster with its clients in MAC-authenticated session mode, bftctl --mac: pbft4mac and
# hbbft4mac are in the default list) it brings a cluster up in its own directory
# (build/bench/run) on ports from --base-port (default: a free range in 20000-32000), runs
# `bftctl bench` (closed loop, 64-byte values) for each op and client count, records every
# replica's CPU time and peak RSS from /proc, tears the cluster down, and prints one table.
# All results go to build/bench/results-<date>.json (one JSON object per run, in an array).
#
# Time: the default run is bounded to about 16 minutes (7 configurations x 2 ops x 4 client
# loads x (8 s + 2 s warm-up), plus start-ups); --quick (BENCH_QUICK=1) about 3 minutes
# (1 and 64 clients, and 64 clients with 8 requests in flight each, 2 s + 1 s warm-up).
# A client load "CxD" is C clients with D requests in flight each (--depth sets the default D).
#
# --memory: one configuration (default pbft4), N puts (default 1,000,000) over 100,000 distinct
# keys in a closed loop, then every replica's peak and current RSS: the "RSS <= 100 MiB after
# 1,000,000 puts" check. It takes as long as the cluster needs for N puts.
#
# --perf DIR: `perf record -g` every replica during each run's measurement window, to
# DIR/<config>-<op>-<clients>.data (perf report -i FILE --no-children --sort dso,symbol).
#
# --set KEY=VALUE: a cluster.ini key for the PBFT and Honey Badger clusters (cluster.sh --set),
# e.g. --set batch_inflight=0 to compare a setting.
#
# Environment: BFT_BIN (programs, default bin/), BENCH_QUICK=1 (as --quick).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${BFT_BIN:-$root/bin}
export BFT_BIN=$bin
outdir=$root/build/bench
rundir=$outdir/run
quick=${BENCH_QUICK:-0}
only="solo pbft4 pbft4mac pbft7 hbbft4 hbbft4mac hbbft7"
clients_list=
ops="put get"
duration=
warmup=
depth=1
sets=()
fsync=batch
base_port=
out=
memory=0
perfdir=
puts=1000000

die() { echo "bench.sh: $*" >&2; exit 1; }
usage() { sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1; shift ;;
    --only) only=$2; shift 2 ;;
    --clients) clients_list=$2; shift 2 ;;
    --ops) ops=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --depth) depth=$2; shift 2 ;;
    --fsync) fsync=$2; shift 2 ;;
    --base-port) base_port=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --memory) memory=1; shift ;;
    --perf) perfdir=$2; shift 2 ;;
    --set) sets+=(--set "$2"); shift 2 ;;
    --puts) puts=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
if [ "$quick" = 1 ]; then
  : "${clients_list:=1 64 64x8}" "${duration:=2}" "${warmup:=1}"
else
  : "${clients_list:=1 16 64 64x8}" "${duration:=8}" "${warmup:=2}"
fi
[ -x "$bin/bftnode" ] && [ -x "$bin/bftctl" ] && [ -x "$bin/bftkeygen" ] || die "no programs in $bin (make first)"
mkdir -p "$outdir"
[ -n "$out" ] || out=$outdir/results-$(date -u +%Y%m%d-%H%M%S).json

# A base port with 3*8 free ports above it (7 replicas x 3 endpoints), away from other runs.
port_free() { ! ss -Htan "( sport = :$1 )" 2>/dev/null | grep -q .; }
pick_port() {
  local p k ok
  for _ in $(seq 1 50); do
    p=$(( 20000 + (RANDOM % 400) * 30 ))
    ok=1
    for k in $(seq 0 23); do port_free $((p + k)) || { ok=0; break; }; done
    [ $ok = 1 ] && { echo "$p"; return 0; }
  done
  die "no free port range found in 20000-32000"
}
[ -n "$base_port" ] || base_port=$(pick_port)
[ "$base_port" -ge 20000 ] && [ "$base_port" -le 31970 ] || die "--base-port must be in 20000-31970"

# A client count may carry its own depth: "64x8" is 64 clients with 8 requests in flight each.
for e in $clients_list; do
  [[ "$e" =~ ^[0-9]+(x[0-9]+)?$ ]] || die "--clients: '$e' is not N or NxD"
done
maxc=0; for e in $clients_list; do c=${e%x*}; [ "$c" -gt "$maxc" ] && maxc=$c; done
[ "$memory" = 1 ] && maxc=$(( maxc > 64 ? maxc : 64 ))

solo_pid=
cleanup() {
  if [ -n "$solo_pid" ]; then kill -TERM "$solo_pid" 2>/dev/null || true; wait "$solo_pid" 2>/dev/null || true; solo_pid=; fi
  if [ -f "$rundir/cluster.ini" ]; then "$root/scripts/cluster.sh" down --dir "$rundir" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# pids of the running replicas of the current configuration
replica_pids() {
  if [ -n "$solo_pid" ]; then echo "$solo_pid"; return; fi
  cat "$rundir"/pids/*.pid 2>/dev/null || true
}
# utime+stime (clock ticks) of a pid; 0 if gone
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
rss_kib() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
hz=$(getconf CLK_TCK)

start_config() { # $1: solo | pbft4 | pbft7 | hbbft4 | hbbft7
  rm -rf "$rundir"
  mkdir -p "$rundir"
  case "$1" in
    solo)
      "$bin/bftkeygen" --faults 1 --clients "$maxc" --out "$rundir" --host 127.0.0.1 \
        --base-port "$base_port" --force >/dev/null
      sed -i "s/^fsync *=.*/fsync = $fsync/" "$rundir/cluster.ini"
      "$bin/bftnode" --solo -c "$rundir/cluster.ini" -i 0 --data-dir "$rundir/data/solo" \
        >"$rundir/solo.log" 2>&1 &
      solo_pid=$!
      sleep 0.3
      kill -0 "$solo_pid" 2>/dev/null || { cat "$rundir/solo.log" >&2; die "bftnode --solo did not start"; }
      ;;
    pbft[47]|hbbft[47]|pbft[47]mac|hbbft[47]mac|pbft[47]sig|hbbft[47]sig)
      local c=${1%mac} proto nrep f
      c=${c%sig}
      proto=${c%[47]} nrep=${c: -1}
      f=$(( (nrep - 1) / 3 ))
      "$root/scripts/cluster.sh" up --dir "$rundir" --base-port "$base_port" -f "$f" \
        --protocol "$proto" --clients "$maxc" --fsync "$fsync" "${sets[@]+"${sets[@]}"}" >/dev/null
      ;;
    *) die "unknown configuration '$1' (solo pbft4 pbft7 hbbft4 hbbft7, or any of the four + mac or + sig)" ;;
  esac
}

stop_config() { cleanup; }

printf '[' > "$out"
first_json=1
add_json() { if [ $first_json = 1 ]; then first_json=0; else printf ',\n' >> "$out"; fi; printf '%s' "$1" >> "$out"; }

json_num() { # field $2 of the flat JSON $1
  sed -n "s/.*\"$2\":\([-0-9.e+]*\).*/\1/p" <<<"$1" | head -1
}

if [ "$memory" = 1 ]; then
  cfg=${only%% *}; [ "$only" = "solo pbft4 pbft4mac pbft7 hbbft4 hbbft4mac hbbft7" ] && cfg=pbft4
  mc=${clients_list##* }; mc=${mc%x*}; [ "$quick" = 1 ] || mc=64
  md=$([ "$depth" -gt 1 ] && echo "$depth" || echo 4)
  echo "bench.sh --memory: $cfg, $puts puts of 64-byte values over 100000 keys, $mc clients x depth $md (fsync=$fsync)"
  start_config "$cfg"
  flags=() gflags=(); [ "$cfg" = solo ] && flags+=(--solo)
  [ "${cfg%mac}" != "$cfg" ] && gflags+=(--mac)
  [ "${cfg%sig}" != "$cfg" ] && gflags+=(--no-session)
  # A closed loop until N puts are done: bftctl bench stops at a duration, so run in slices
  # and count the completed puts.
  done_puts=0 slice=0
  t_start=$(date +%s)
  while [ "$done_puts" -lt "$puts" ]; do
    j=$("$bin/bftctl" -c "$rundir/cluster.ini" --json "${gflags[@]+"${gflags[@]}"}" bench "${flags[@]+"${flags[@]}"}" --clients "$mc" --depth "$md" \
        --op put --keys 100000 --value-size 64 --duration 20 --warmup 0 --seed $((slice + 1)) --quiet) || die "bftctl bench failed"
    c=$(json_num "$j" completed)
    [ "${c:-0}" -gt 0 ] || die "no progress: $j"
    done_puts=$((done_puts + c)); slice=$((slice + 1))
    line="  $done_puts puts ($(( $(date +%s) - t_start )) s):"
    for p in $(replica_pids); do line+=" $(( $(rss_kib "$p" VmRSS) / 1024 ))"; done
    echo "$line MiB RSS per replica"
  done
  echo "after $done_puts puts:"
  i=0; rj=
  for p in $(replica_pids); do
    hwm=$(rss_kib "$p" VmHWM); cur=$(rss_kib "$p" VmRSS)
    printf '  replica %d: peak RSS %d MiB, current %d MiB\n' "$i" $((hwm / 1024)) $((cur / 1024))
    rj+="${rj:+,}{\"replica\":$i,\"rss_peak_kib\":$hwm,\"rss_kib\":$cur}"
    i=$((i + 1))
  done
  add_json "{\"mode\":\"memory\",\"config\":\"$cfg\",\"puts\":$done_puts,\"replicas\":[$rj]}"
  printf ']\n' >> "$out"
  echo "results: $out"
  exit 0
fi

nruns=0; for _ in $only; do for _ in $ops; do for _ in $clients_list; do nruns=$((nruns + 1)); done; done; done
echo "bench.sh: $nruns runs ($only; ops: $ops; clients: $clients_list; depth $depth; ${duration}s + ${warmup}s warm-up each; fsync=$fsync; 64-byte values; base port $base_port)"
echo "note: the machine's other load shares the CPU with these processes; compare CPU per op too."
table=()
for cfg in $only; do
  start_config "$cfg"
  flags=() gflags=(); [ "$cfg" = solo ] && flags+=(--solo)
  [ "${cfg%mac}" != "$cfg" ] && gflags+=(--mac)
  [ "${cfg%sig}" != "$cfg" ] && gflags+=(--no-session)
  pids=$(replica_pids)
  for op in $ops; do
    for e in $clients_list; do
      c=${e%x*} d=$depth
      [ "$e" != "$c" ] && d=${e#*x}
      declare -A t0=()
      for p in $pids; do t0[$p]=$(cpu_ticks "$p"); done
      perf_pid=
      if [ -n "$perfdir" ]; then
        mkdir -p "$perfdir"
        ( sleep "$warmup"; exec perf record -q -g -o "$perfdir/$cfg-$op-$e.data" \
            -p "$(echo $pids | tr ' ' ',')" -- sleep "$duration" ) >/dev/null 2>&1 &
        perf_pid=$!
      fi
      j=$("$bin/bftctl" -c "$rundir/cluster.ini" --json -t 10000 "${gflags[@]+"${gflags[@]}"}" bench "${flags[@]+"${flags[@]}"}" \
           --clients "$c" --depth "$d" --op "$op" --value-size 64 --keys 1000 \
           --duration "$duration" --warmup "$warmup" --quiet 2>"$rundir/bench.err") || {
        echo "  $cfg $op c=$e: bftctl bench failed: $(tail -1 "$rundir/bench.err")" >&2; continue; }
      [ -z "$perf_pid" ] || wait "$perf_pid" || true
      rj= cpu_sum=0 rss_max=0 i=0
      for p in $pids; do
        dt=$(( $(cpu_ticks "$p") - ${t0[$p]} ))
        hwm=$(rss_kib "$p" VmHWM)
        cpu_s=$(awk -v t="$dt" -v hz="$hz" 'BEGIN{printf "%.2f", t / hz}')
        rj+="${rj:+,}{\"replica\":$i,\"cpu_s\":$cpu_s,\"rss_peak_kib\":$hwm}"
        cpu_sum=$((cpu_sum + dt)); [ "$hwm" -gt "$rss_max" ] && rss_max=$hwm
        i=$((i + 1))
      done
      unset t0
      ops_s=$(json_num "$j" ops_per_s); p50=$(json_num "$j" p50); p99=$(json_num "$j" p99)
      errs=$(sed -n 's/.*"errors":{\([^}]*\)}.*/\1/p' <<<"$j" | tr ',' '\n' | awk -F: '{s += $2} END {print s + 0}')
      completed=$(json_num "$j" completed)
      # Replica CPU over the whole run (warm-up included) per completed op is only an
      # approximation; the run's total is the honest figure, so both are recorded.
      cpu_pct=$(awk -v t="$cpu_sum" -v hz="$hz" -v d="$duration" -v w="$warmup" -v k="$i" \
                'BEGIN{printf "%.0f", 100 * t / hz / (d + w) / k}')
      us_op=$(awk -v t="$cpu_sum" -v hz="$hz" -v d="$duration" -v w="$warmup" -v o="$ops_s" \
                'BEGIN{ if (o > 0) printf "%.0f", 1e6 * t / hz / (d + w) / o; else print "-" }')
      add_json "{\"config\":\"$cfg\",\"op\":\"$op\",\"clients\":$c,\"depth\":$d,\"fsync\":\"$fsync\",\"bench\":$j,\"replicas\":[$rj],\"replica_cpu_pct_avg\":$cpu_pct,\"replica_cpu_us_per_op\":\"$us_op\"}"
      table+=("$(printf '%-8s %-4s %7s %10.0f %9.2f %9.2f %6d %8s %10s %9d' "$cfg" "$op" "$c$([ "$d" -gt 1 ] && echo "x$d")" "$ops_s" "$p50" "$p99" "$errs" "$cpu_pct%" "$us_op" $((rss_max / 1024)))")
      echo "  ${table[-1]}"
    done
  done
  stop_config
done
printf ']\n' >> "$out"

echo
echo "config   op   clients      ops/s   p50 ms    p99 ms errors  cpu/rep  cpu us/op  rss MiB"
for l in "${table[@]}"; do echo "$l"; done
echo "(cpu/rep: each replica's average CPU over the run, % of one core; cpu us/op: all replicas'"
echo " CPU per completed op; rss: the largest replica peak RSS. 64-byte values, closed loop,"
echo " depth $depth per client unless the clients column says CxD, fsync=$fsync.)"
echo "results: $out"
