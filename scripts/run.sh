#!/usr/bin/env bash
# The README's first command (`make run`): a local 3f+1 cluster and a client workload.
#   PROTOCOL=pbft|hbbft  F=1  BYZANTINE="ID:MODE[,MODE] ..."  OPS=300
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
protocol=${PROTOCOL:-pbft}
f=${F:-1}
ops=${OPS:-300}
dir="$root/run/cluster"
args=(-f "$f" --protocol "$protocol" --dir "$dir")
for b in ${BYZANTINE:-}; do args+=(--byzantine "$b"); done

if [ -f "$dir/cluster.ini" ]; then scripts/cluster.sh down --dir "$dir" >/dev/null 2>&1 || true; fi
rm -rf "$dir/data" "$dir/logs"
scripts/cluster.sh up "${args[@]}"
echo
echo "== bftctl workload: $ops mixed operations, every answer checked against a local model"
bin/bftctl -c "$dir/cluster.ini" workload -n "$ops"
echo
echo "== a few single commands"
bin/bftctl -c "$dir/cluster.ini" put greeting "hello, byzantine world"
bin/bftctl -c "$dir/cluster.ini" get greeting
bin/bftctl -c "$dir/cluster.ini" cas greeting 1 "hello again"
bin/bftctl -c "$dir/cluster.ini" list gree
echo
echo "== cluster status"
bin/bftctl -c "$dir/cluster.ini" status || true
echo
echo "The cluster is still running (logs: $dir/logs/replica-ID.log)."
echo "Try: bin/bftctl put k v; bin/bftctl get k; scripts/cluster.sh kill 1; scripts/cluster.sh restart 1"
echo "Stop it with: scripts/cluster.sh down"
