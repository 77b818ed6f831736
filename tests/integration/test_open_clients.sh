#!/usr/bin/env bash
# Open clients on real replicas (bft/log.h "Open clients"), for each protocol:
#   1. a cluster with open_clients = true and open_clients_max = 2 serves two clients whose keys
#      are not in its cluster.ini: each registers once and then reads and writes like a listed one;
#   2. a third unlisted key is told there is no free slot (exit status 1, a clear message);
#   3. registering a key again returns its id: the first client keeps working in a new process;
#   4. after a stop and start of the whole cluster the registrations are still there (the
#      first client's writes are readable by it and the third key still finds no slot);
#   5. with open_clients = false the unlisted key is refused with a message naming why.
# Bounded waits; every cluster is torn down on exit.   PROTOCOLS="pbft hbbft" (default both)
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bin="${BFT_BIN:-$root/bin}"
protocols=${PROTOCOLS:-"pbft hbbft"}
work=$(mktemp -d /tmp/bft-open-XXXXXX)
base_port=$((20000 + ($$ % 100) * 100))
passed=0
failed=0

cleanup() {
  for d in "$work"/*/; do
    [ -f "$d/cluster.ini" ] && "$root/scripts/cluster.sh" down --dir "$d" >/dev/null 2>&1
  done
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

ok()  { echo "  ok   $*"; passed=$((passed + 1)); }
bad() { echo "  FAIL $*"; failed=$((failed + 1)); }

up() { # protocol dir extra...
  local proto=$1 d=$2 try; shift 2
  for try in 1 2 3; do
    base_port=$((base_port + 12))
    rm -rf "$d"
    "$root/scripts/cluster.sh" up -f 1 --protocol "$proto" --dir "$d" --base-port "$base_port" \
      --fsync always "$@" >/dev/null 2>"$work/up.err-$proto" && return 0
    "$root/scripts/cluster.sh" down --dir "$d" >/dev/null 2>&1
  done
  cat "$work/up.err-$proto" >&2
  return 1
}

# Three client keys no cluster of this test lists: the clients of another key generation.
"$bin/bftkeygen" -f 1 --clients 3 --out "$work/strangers" >/dev/null || { echo "bftkeygen failed"; exit 1; }
key() { echo "$work/strangers/client-$1.key"; }
[ -f "$(key 0)" ] || { echo "no client key at $(key 0)"; ls "$work/strangers" "$work/strangers"/* >&2; exit 1; }

run_protocol() { # protocol port-offset: one protocol's scenario; prints its own lines
  local proto=$1 d c rc i err
  err="$work/err-$proto"   # the protocols run side by side: one stderr file each
  base_port=$((base_port + $2))
  passed=0 failed=0
  echo "== open clients: $proto"
  d="$work/open-$proto"
  if ! up "$proto" "$d" --set open_clients=true --set open_clients_max=2; then
    bad "$proto: cluster did not start"; echo "$passed $failed" > "$work/count-$proto"; return
  fi
  c="$d/cluster.ini"
  ctl() { timeout 60 "$bin/bftctl" -c "$c" --timeout 20000 "$@"; }

  if ctl --client-key "$(key 0)" put open/a one >/dev/null 2>"$err" &&
     [ "$(ctl --client-key "$(key 0)" get open/a 2>>"$err")" = one ]; then
    ok "$proto: an unlisted key registers, writes and reads"
  else
    bad "$proto: unlisted key with open_clients: $(tail -1 "$err")"
  fi
  if ctl --client-key "$(key 1)" put open/b two >/dev/null 2>"$err"; then
    ok "$proto: a second unlisted key gets the second slot"
  else
    bad "$proto: second unlisted key: $(tail -1 "$err")"
  fi
  ctl --client-key "$(key 2)" put open/c three >/dev/null 2>"$err"; rc=$?
  if [ $rc -eq 1 ] && grep -q "no free slot" "$err"; then
    ok "$proto: a third key is told there is no free slot (exit 1)"
  else
    bad "$proto: third key: exit $rc, $(tail -1 "$err")"
  fi
  if ctl --client-key "$(key 0)" put open/a uno >/dev/null 2>"$err"; then
    ok "$proto: a registered key registers again and keeps working"
  else
    bad "$proto: re-registration: $(tail -1 "$err")"
  fi

  for i in 0 1 2 3; do "$root/scripts/cluster.sh" stop "$i" --dir "$d" >/dev/null 2>&1; done
  for i in 0 1 2 3; do "$root/scripts/cluster.sh" restart "$i" --dir "$d" >/dev/null 2>&1; done
  if [ "$(ctl --client-key "$(key 0)" get open/a 2>"$err")" = uno ] &&
     [ "$(ctl --client-key "$(key 1)" get open/b 2>>"$err")" = two ]; then
    ok "$proto: after a full restart both registered clients read their writes"
  else
    bad "$proto: after restart: $(tail -1 "$err")"
  fi
  ctl --client-key "$(key 2)" put open/c three >/dev/null 2>"$err"; rc=$?
  if [ $rc -eq 1 ] && grep -q "no free slot" "$err"; then
    ok "$proto: after a full restart the slots are still taken"
  else
    bad "$proto: third key after restart: exit $rc, $(tail -1 "$err")"
  fi
  "$root/scripts/cluster.sh" down --dir "$d" >/dev/null 2>&1
  echo "$passed $failed" > "$work/count-$proto"
}

# The protocols run side by side (their own port ranges), each printing when it is done.
offset=0
pids=()
for proto in $protocols; do
  run_protocol "$proto" $offset > "$work/out-$proto" 2>&1 &
  pids+=($!)
  offset=$((offset + 40))
done
for p in "${pids[@]}"; do wait "$p"; done
for proto in $protocols; do
  cat "$work/out-$proto"
  read -r p f < "$work/count-$proto" || { p=0; f=1; }
  passed=$((passed + p)); failed=$((failed + f))
done
base_port=$((base_port + offset))


echo "== closed cluster"
# The refusal comes from the cluster file before anything is sent (replicas refuse such
# requests too: test_cluster.sh injects an unknown client's frames and checks /metrics).
"$bin/bftkeygen" -f 1 --clients 1 --out "$work/closed" >/dev/null
timeout 60 "$bin/bftctl" -c "$work/closed/cluster.ini" --client-key "$(key 0)" put x y >/dev/null 2>"$work/err"; rc=$?
if [ $rc -ne 0 ] && grep -q "does not accept other clients" "$work/err"; then
  ok "an unlisted key is refused for a closed cluster: $(tail -1 "$work/err")"
else
  bad "closed cluster: exit $rc, $(tail -1 "$work/err")"
fi

echo "open clients: $passed passed, $failed failed"
[ $failed -eq 0 ]
