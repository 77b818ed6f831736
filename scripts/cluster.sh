#!/usr/bin/env bash
# cluster.sh: run a local 3f+1 cluster of bftnode replicas on 127.0.0.1.
#
#   scripts/cluster.sh up [-f F] [--protocol pbft|hbbft] [--byzantine ID:MODE[,MODE]]...
#                         [--dir DIR] [--clients C] [--base-port P] [--fsync always|batch|never]
#                         [--fault SPEC] [--set KEY=VALUE]... [--netns PREFIX]
#   scripts/cluster.sh down [--dir DIR] [--purge]
#   scripts/cluster.sh status [--dir DIR]
#   scripts/cluster.sh kill ID [--dir DIR]        (SIGKILL: a crash)
#   scripts/cluster.sh stop ID [--dir DIR]        (SIGTERM: a clean stop)
#   scripts/cluster.sh restart ID [--dir DIR]
#   scripts/cluster.sh logs ID [--dir DIR] [-f]
#
# The cluster lives in DIR (default: run/cluster in the repository): cluster.ini and keys from
# bftkeygen, data/replica-ID (write-ahead logs), logs/replica-ID.log, pids/ID.pid. `up` records
# DIR/cluster.ini in ~/.bft/current so that bftctl finds the cluster without -c.
# --set KEY=VALUE overrides a key that bftkeygen wrote (checkpoint_interval=16, view_timeout_ms=500).
# --netns PREFIX runs replica ID inside the network namespace PREFIXID (which the caller made,
# e.g. tests/integration/test_partition.sh); kill/restart keep doing so.
# BFT_BIN=DIR runs the programs in DIR instead of the repository's bin/ (make BIN=DIR).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${BFT_BIN:-$root/bin}   # BFT_BIN: programs built elsewhere (make BIN=...)
dir="$root/run/cluster"
f=1
protocol=pbft
clients=8
base_port=7100
fsync=
fault=
purge=0
follow=0
byz=()
sets=()
netns=

die() { echo "cluster.sh: $*" >&2; exit 1; }
usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; }

cmd=${1:-}
[ -n "$cmd" ] || { usage; exit 2; }
shift
id=
case "$cmd" in
  kill|stop|restart|logs) id=${1:-}; [ -n "$id" ] || die "$cmd needs a replica id"; shift ;;
  -h|--help|help) usage; exit 0 ;;
esac
while [ $# -gt 0 ]; do
  if [ "$cmd" = logs ] && [ "$1" = -f ]; then follow=1; shift; continue; fi
  case "$1" in
    -f|--faults) [ $# -ge 2 ] || die "$1 needs a value"; f=$2; shift 2 ;;
    --protocol) protocol=$2; shift 2 ;;
    --byzantine) byz+=("$2"); shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --clients) clients=$2; shift 2 ;;
    --base-port) base_port=$2; shift 2 ;;
    --fsync) fsync=$2; shift 2 ;;
    --fault) fault=$2; shift 2 ;;
    --set) [ $# -ge 2 ] && [[ "$2" =~ ^[a-z_]+=[^/]*$ ]] || die "--set wants KEY=VALUE"; sets+=("$2"); shift 2 ;;
    --netns) netns=$2; shift 2 ;;
    --purge) purge=1; shift ;;
    --follow) follow=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
case "$protocol" in pbft|hbbft) ;; *) die "--protocol is pbft or hbbft, not '$protocol'" ;; esac
[[ "$f" =~ ^[0-9]+$ ]] && [ "$f" -ge 1 ] || die "-f wants a number of faults >= 1"
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
ini="$dir/cluster.ini"

nreplicas() { sed -n 's/^n *= *\([0-9]*\).*/\1/p' "$ini" | head -1; }
status_addr() { # the status host:port of replica $1, from cluster.ini
  awk -v want="[replica $1]" '$0==want{s=1;next} /^\[/{s=0} s && $1=="status"{print $3; exit}' "$ini"
}
pidfile() { echo "$dir/pids/$1.pid"; }
alive() { local p; p=$(cat "$(pidfile "$1")" 2>/dev/null) && kill -0 "$p" 2>/dev/null; }

start_one() { # start replica $1 with the arguments recorded for it
  local i=$1 args=() ns=() pfx=
  [ -f "$dir/pids/$i.args" ] && read -r -a args < "$dir/pids/$i.args"
  [ -f "$dir/pids/netns" ] && pfx=$(cat "$dir/pids/netns") && ns=(ip netns exec "$pfx$i")
  mkdir -p "$dir/logs" "$dir/pids"
  nohup "${ns[@]+"${ns[@]}"}" "$bin/bftnode" -c "$ini" -i "$i" --data-dir "$dir/data/replica-$i" "${args[@]}" \
    >>"$dir/logs/replica-$i.log" 2>&1 < /dev/null &
  echo $! > "$(pidfile "$i")"
}

wait_ready() { # until replica $1 answers on its status endpoint, or 15 s
  local i=$1 addr; addr=$(status_addr "$i")
  for _ in $(seq 1 150); do
    alive "$i" || { tail -5 "$dir/logs/replica-$i.log" >&2; die "replica $i exited at start-up (log: $dir/logs/replica-$i.log)"; }
    curl -sf "http://$addr/status" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  die "replica $i did not answer on http://$addr/status within 15 s (log: $dir/logs/replica-$i.log)"
}

case "$cmd" in
up)
  [ -x "$bin/bftnode" ] && [ -x "$bin/bftkeygen" ] || make -C "$root" -s >/dev/null || die "build failed"
  n=$((3 * f + 1))
  if [ -f "$ini" ]; then
    for i in $(seq 0 $(( $(nreplicas) - 1 ))); do alive "$i" && die "a cluster is already running in $dir (scripts/cluster.sh down first)"; done
    cur_proto=$(sed -n 's/^protocol *= *\([a-z]*\).*/\1/p' "$ini" | head -1)
    if [ "$(nreplicas)" != "$n" ] || [ "$cur_proto" != "$protocol" ]; then
      echo "cluster.sh: $dir holds a different cluster (n=$(nreplicas), $cur_proto): generating a new one" >&2
      rm -rf "$dir/data" "$dir/logs" "$dir/pids"
      "$bin/bftkeygen" --faults "$f" --clients "$clients" --out "$dir" --host 127.0.0.1 \
        --base-port "$base_port" --protocol "$protocol" --force >/dev/null
    fi
  else
    "$bin/bftkeygen" --faults "$f" --clients "$clients" --out "$dir" --host 127.0.0.1 \
      --base-port "$base_port" --protocol "$protocol" --force >/dev/null
  fi
  if [ -n "$fsync" ]; then sed -i "s/^fsync *=.*/fsync = $fsync/" "$ini"; fi
  for kv in "${sets[@]+"${sets[@]}"}"; do
    grep -q "^${kv%%=*} *=" "$ini" || die "--set: cluster.ini has no key '${kv%%=*}'"
    sed -i "s/^${kv%%=*} *=.*/${kv%%=*} = ${kv#*=}/" "$ini"
  done
  mkdir -p "$dir/pids"
  rm -f "$dir"/pids/*.args "$dir/pids/netns"
  [ -n "$netns" ] && echo "$netns" > "$dir/pids/netns"
  for i in $(seq 0 $((n - 1))); do
    args=()
    [ -n "$fault" ] && args+=(--fault "$fault")
    for b in "${byz[@]+"${byz[@]}"}"; do
      bid=${b%%:*}; modes=${b#*:}
      [[ "$bid" =~ ^[0-9]+$ ]] && [ "$bid" -lt "$n" ] || die "--byzantine wants ID:MODE with ID in 0..$((n-1)), not '$b'"
      [ "$bid" = "$i" ] && args+=(--byzantine "$modes")
    done
    echo "${args[*]-}" > "$dir/pids/$i.args"
  done
  for i in $(seq 0 $((n - 1))); do start_one "$i"; done
  for i in $(seq 0 $((n - 1))); do wait_ready "$i"; done
  mkdir -p "$HOME/.bft"
  echo "$ini" > "$HOME/.bft/current"
  echo "cluster up: $n replicas ($protocol, f=$f) in $dir"
  for b in "${byz[@]+"${byz[@]}"}"; do echo "  replica ${b%%:*} is FAULTY: ${b#*:}"; done
  echo "  bftctl put k v; bftctl get k; bftctl status; scripts/cluster.sh down"
  ;;
down)
  [ -f "$ini" ] || die "no cluster in $dir"
  n=$(nreplicas)
  for i in $(seq 0 $((n - 1))); do alive "$i" && kill -TERM "$(cat "$(pidfile "$i")")" 2>/dev/null || true; done
  for _ in $(seq 1 50); do
    any=0; for i in $(seq 0 $((n - 1))); do alive "$i" && any=1; done
    [ $any = 0 ] && break; sleep 0.1
  done
  for i in $(seq 0 $((n - 1))); do alive "$i" && kill -KILL "$(cat "$(pidfile "$i")")" 2>/dev/null || true; done
  rm -f "$dir"/pids/*.pid
  if [ -f "$HOME/.bft/current" ] && [ "$(cat "$HOME/.bft/current")" = "$ini" ]; then rm -f "$HOME/.bft/current"; fi
  if [ $purge = 1 ]; then rm -rf "$dir"; echo "cluster removed: $dir"; else echo "cluster stopped (data kept in $dir/data)"; fi
  ;;
status)
  [ -f "$ini" ] || die "no cluster in $dir"
  exec "$bin/bftctl" -c "$ini" status
  ;;
kill)
  alive "$id" || die "replica $id is not running"
  kill -KILL "$(cat "$(pidfile "$id")")"
  # Returns once the process is gone (bounded: 5 s), so that an `up` or `restart` right after
  # does not find it still exiting.
  for _ in $(seq 1 50); do alive "$id" || break; sleep 0.1; done
  alive "$id" && die "replica $id still running 5 s after SIGKILL"
  echo "replica $id killed (SIGKILL)"
  ;;
stop)
  alive "$id" || die "replica $id is not running"
  kill -TERM "$(cat "$(pidfile "$id")")"
  echo "replica $id stopping (SIGTERM)"
  ;;
restart)
  [ -f "$ini" ] || die "no cluster in $dir"
  if alive "$id"; then
    # The process may exit (or, killed just before, be reaped) between the check and the
    # signal: a kill that finds nobody is not an error here.
    kill -TERM "$(cat "$(pidfile "$id")")" 2>/dev/null || true
    for _ in $(seq 1 50); do alive "$id" || break; sleep 0.1; done
    if alive "$id"; then kill -KILL "$(cat "$(pidfile "$id")")" 2>/dev/null || true; fi
  fi
  start_one "$id"
  wait_ready "$id"
  echo "replica $id restarted"
  ;;
logs)
  log="$dir/logs/replica-$id.log"
  [ -f "$log" ] || die "no log for replica $id in $dir/logs"
  if [ $follow = 1 ]; then exec tail -f "$log"; else exec cat "$log"; fi
  ;;
*)
  usage; exit 2 ;;
esac
