#!/usr/bin/env bash
# Network partitions over real processes (run by test_byzantine.sh; issue 8 item 4).
#
# Each replica runs in its own network namespace, joined to the others by veth pairs on a bridge
# in the root namespace (where the clients run); a partition is iptables DROP rules inside the
# replicas' namespaces against the other side's addresses. The test creates every namespace,
# link and rule itself and deletes them on exit. Without root, ip netns or iptables it says why
# and skips. For each protocol:
#   1. one replica cut off (PBFT: the primary) while a workload runs: the other three stay live,
#      the isolated one executes nothing new (it has no quorum); healed, it catches up and all
#      four stable digests agree;
#   2. a 2 | 2 split: no side has a quorum, so no replica executes anything during it; healed,
#      the workload started during the split completes; its history is linearizable.
# Then, on loopback: Honey Badger keeps committing under heavy delay and reordering from the
# transport's fault shim (--fault delay=MIN-MAX, dup), history linearizable, digests equal.
#   PROTOCOLS="pbft hbbft"   PARTITION_PORT=base port   KEEP=1
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"
bin=$it_bin
protocols=${PROTOCOLS:-"pbft hbbft"}
port=${PARTITION_PORT:-$((12000 + ($$ % 50) * 200))}
tag=bz$(($$ % 100000))
sub=10.$((100 + $$ % 100)).$((($$ / 100) % 250))
work=$(mktemp -d /tmp/bft-part-XXXXXX)
passed=0
failed=0
t0=$SECONDS

ok()  { echo "  ok   $*"; passed=$((passed + 1)); }
bad() { echo "  FAIL $*"; failed=$((failed + 1)); }

cleanup() {
  for d in "$work"/*/; do it_down "$d"; done
  [ -n "$skip_ns" ] || it_netns_delete "$tag" 4
  if [ "${KEEP:-0}" = 1 ] || [ $failed != 0 ]; then echo "  (directories kept in $work)"; else rm -rf "$work"; fi
}
skip_ns=unchecked   # (cleanup deletes namespaces only once we know they can be made)
trap cleanup EXIT
trap 'exit 130' INT TERM
skip_ns=$(it_netns_unusable "$tag")
executed() { it_status_field "$dir" "$1" last_executed; }
partition() { it_partition "$tag" "$sub" "$1" "$2"; }
heal() { it_heal "$tag" "0 1 2 3"; }

# Honey Badger under heavy delay and reordering (random per-frame delays of 5-150 ms, 5%
# duplicates), on loopback; runs in the background beside the partitions.
hb_delay() {
  local dir="$work/hb-delay" t s
  dir="$work/hb-delay"
  if it_up "$dir" $((port + 100)) -f 1 --protocol hbbft --clients 10 --fsync batch --set checkpoint_interval=16 \
       --fault delay=5-150,dup=50000; then
    t=$SECONDS
    if timeout 180 "$bin/bftctl" -c "$dir/cluster.ini" --timeout 60000 workload -n 80 --clients 8 \
         --history "$dir/h.txt" > "$dir/wl.out" 2>&1; then
      ok "hbbft: 80 operations under delay 5-150 ms (reordering) and 5% duplicates in $((SECONDS - t)) s, epochs $(it_status_field "$dir" 1 epoch)"
    else bad "hbbft under delay: $(tail -2 "$dir/wl.out" | tr '\n' ' ')"; fi
    "$bin/bftctl" check-history "$dir/h.txt" > "$dir/check.out" 2>&1 && ok "hbbft under delay: history linearizable" \
      || bad "hbbft under delay: history: $(tail -3 "$dir/check.out")"
    s=$(it_digests_agree "$dir" 90 0 1 2 3) && ok "hbbft under delay: $s on all four" || bad "hbbft under delay: $s"
    it_down "$dir"
  else
    bad "hbbft: cluster with the fault shim did not start"
  fi
}
hb_delay > "$work/hb-delay.out" 2>&1 &
hb_pid=$!

if [ -n "$skip_ns" ]; then
  echo "  skip partitions: $skip_ns"
else
  it_netns_make "$tag" "$sub" 4 || { bad "could not build the namespaces and the bridge"; exit 1; }
  for proto in $protocols; do
    dir="$work/$proto"
    it_netns_cluster "$dir" "$tag" "$sub" "$port" -f 1 --protocol "$proto" --clients 10 \
      --fsync batch --set checkpoint_interval=16 || { bad "$proto: cluster in namespaces did not start"; continue; }
    port=$((port + 20))
    it_ctl "$dir" workload -n 40 --clients 4 > "$dir/warm.out" 2>&1 || bad "$proto: warm-up workload: $(tail -2 "$dir/warm.out")"

    # 1. One replica cut off: the primary for PBFT.
    lone=3; [ "$proto" = pbft ] && lone=$(it_status_field "$dir" 1 primary)
    others=$(for i in 0 1 2 3; do [ "$i" != "$lone" ] && echo -n "$i "; done)
    partition "$lone" "$others"
    sleep 0.5
    before=$(executed "$lone")
    if timeout 120 "$bin/bftctl" -c "$dir/cluster.ini" --timeout 30000 workload -n 120 --clients 8 \
         --history "$dir/h1.txt" > "$dir/p1.out" 2>&1; then
      ok "$proto: replica $lone cut off: the other three completed 120 operations ($(sed -n 's/.*history: .*: //p' "$dir/p1.out"))"
    else bad "$proto: no service with replica $lone cut off: $(tail -2 "$dir/p1.out" | tr '\n' ' ')"; fi
    after=$(executed "$lone")
    [ -n "$before" ] && [ "$before" = "$after" ] && ok "$proto: the cut-off replica executed nothing new (stayed at $before)" \
      || bad "$proto: cut-off replica $lone went from '$before' to '$after' without a quorum"
    heal
    s=$(it_digests_agree "$dir" 60 0 1 2 3) && ok "$proto: healed: replica $lone caught up, $s on all four" \
      || bad "$proto: after healing: $s"

    # 2. A 2 | 2 split: nobody has a quorum.
    partition "0 1" "2 3"
    sleep 0.5
    b=(); for i in 0 1 2 3; do b+=("$(executed "$i")"); done
    timeout 150 "$bin/bftctl" -c "$dir/cluster.ini" --timeout 60000 workload -n 40 --clients 4 \
      --seed 7 --history "$dir/h2.txt" > "$dir/p2.out" 2>&1 &
    wl=$!
    sleep 5
    a=(); for i in 0 1 2 3; do a+=("$(executed "$i")"); done
    [ "${a[*]}" = "${b[*]}" ] && ok "$proto: 2 | 2 split: no replica executed anything for 5 s (${a[*]})" \
      || bad "$proto: progress without a quorum during the split: ${b[*]} -> ${a[*]}"
    heal
    if wait $wl; then ok "$proto: healed: the workload started during the split completed ($(sed -n 's/.*history: .*: //p' "$dir/p2.out"))"
    else bad "$proto: workload across the split: $(tail -2 "$dir/p2.out" | tr '\n' ' ')"; fi
    for h in "$dir/h1.txt" "$dir/h2.txt"; do
      "$bin/bftctl" check-history "$h" > "$h.check" 2>&1 || bad "$proto: $(basename "$h") not linearizable: $(tail -3 "$h.check")"
    done
    s=$(it_acked_writes_present "$dir" "$dir/h2.txt") && ok "$proto: acknowledged writes present after the split ($s)" \
      || bad "$proto: acknowledged writes lost: $s"
    s=$(it_digests_agree "$dir" 60 0 1 2 3) && ok "$proto: $s on all four after the split" || bad "$proto: after the split: $s"
    it_down "$dir"
  done
fi

wait $hb_pid
cat "$work/hb-delay.out"
passed=$((passed + $(grep -c '^  ok' "$work/hb-delay.out")))
failed=$((failed + $(grep -c '^  FAIL' "$work/hb-delay.out")))
echo "partitions: $passed passed, $failed failed ($((SECONDS - t0)) s)"
[ $failed = 0 ]
