#!/usr/bin/env bash
# Integration tests (make test): real bftnode processes on 127.0.0.1, launched by
# scripts/cluster.sh exactly as users launch them. For each protocol (pbft, hbbft):
#   1. 1,000 mixed operations from 16 concurrent clients, every answer checked against a model,
#      the recorded history checked for linearizability;
#   2. meanwhile, malformed frames, an unknown client and forged signatures sent to replica 1:
#      refused, counted in /metrics, the replica still serving;
#   3. kill -9 of a backup during load, restart, catch-up, and its state digest equal to the others';
#   4. (PBFT) kill of the primary: service resumes after a view change;
#   5. full-cluster stop and start: every acknowledged write of steps 1 and 3 is still there;
#      then (PBFT) every replica killed (SIGKILL) under load and started: a linearizable history,
#      and every acknowledged write there;
#   6. one replica in a malicious mode (equivocate, silent, wrong-reply; Honey Badger, which has
#      no primary, rbc-equivocate for equivocate) with correct results at the client and a
#      linearizable history. The other modes run in make test-byzantine.
# The protocols run side by side, each with two streams (steps 1-5 on one cluster, step 6 on
# another), on their own ports and directories. Every wait is bounded and polls; every cluster is
# torn down on exit, even on failure.
#   PROTOCOLS="pbft hbbft" (default both)   KEEP=1 keeps the cluster directories
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"
root=$it_root
bin=$it_bin
protocols=${PROTOCOLS:-"pbft hbbft"}
work=$(mktemp -d /tmp/bft-it-XXXXXX)
# A port range per run, below Linux's ephemeral range (32768 and up); it_up moves on when taken.
base_port=$((10000 + ($$ % 90) * 240))   # protocol k from base_port + 400k
t0=$SECONDS

cleanup() {
  for d in "$work"/*/; do it_down "$d"; done
  [ "${KEEP:-0}" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ok()  { echo "  ok   $proto: $* ($((SECONDS - t0)) s)"; }
bad() {
  echo "  FAIL $proto: $*"
  [ -n "${dir:-}" ] && tail -n 3 "$dir"/logs/replica-*.log 2>/dev/null | sed 's/^/       /'
}
ctl() { it_ctl "$dir" "$@"; }
up() { it_up "$dir" "$1" -f 1 --protocol "$proto" --clients 20 --fsync batch "${@:2}"; }
summary() { sed -n 's/.*history: [0-9]* ops (\([^)]*\)), \(.*\)/\2/p' "$1" | head -1; }

# Steps 1-5 on one cluster.
main_stream() {
  dir="$work/$proto-main"
  up "$1" || { bad "cluster did not start"; return; }

  # 1 + 2. Load, with hostile frames sent to replica 1 while it runs.
  ctl --timeout 30000 workload -n 1000 --clients 16 --history "$dir/h1.txt" > "$dir/w1.out" 2>&1 &
  local wl=$! m_mal m_unk m_sig
  ctl inject malformed 1 20 >/dev/null
  ctl inject unknown-client 1 5 >/dev/null
  ctl inject bad-signature 1 5 >/dev/null
  if wait $wl; then ok "1,000 mixed operations from 16 clients, all answers correct, history $(summary "$dir/w1.out")"
  else bad "workload: $(grep -iE 'wrong|timeout|error|violat' "$dir/w1.out" | head -3 | tr '\n' ' ')"; fi
  m_mal=$(it_metric "$dir" 1 'bft_rejected_total{reason="malformed"')
  m_unk=$(it_metric "$dir" 1 'bft_unknown_client_requests_total')
  m_sig=$(it_metric "$dir" 1 'bft_rejected_total{reason="bad_signature",sender="client"')
  for _ in $(seq 1 20); do  # the metrics refresh every 250 ms
    [ "$m_mal" -gt 0 ] && [ "$m_unk" -ge 5 ] && [ "$m_sig" -ge 5 ] && break
    sleep 0.25
    m_mal=$(it_metric "$dir" 1 'bft_rejected_total{reason="malformed"')
    m_unk=$(it_metric "$dir" 1 'bft_unknown_client_requests_total')
    m_sig=$(it_metric "$dir" 1 'bft_rejected_total{reason="bad_signature",sender="client"')
  done
  if [ "$m_mal" -gt 0 ] && [ "$m_unk" -ge 5 ] && [ "$m_sig" -ge 5 ]; then
    ok "hostile frames refused and counted by replica 1 (malformed $m_mal, unknown client $m_unk, bad signature $m_sig), which kept serving"
  else bad "hostile frames not counted (malformed $m_mal, unknown client $m_unk, bad signature $m_sig)"; fi
  # PBFT COMMITs and Honey Badger's own messages from the link's replica are taken on the link
  # tag (node/replica.c): the count shows that path ran under load.
  local m_link; m_link=$(it_metric "$dir" 1 'bft_link_authenticated_total')
  if [ "$m_link" -gt 0 ]; then ok "replica 1 took $m_link messages on their sender's link tag"
  else bad "no message taken on a link tag at replica 1"; fi

  # 3. kill -9 of a backup during load, restart, catch-up, equal state digests.
  ctl --client-id 16 --timeout 30000 workload -n 300 --clients 2 --seed 77 --history "$dir/h3.txt" > "$dir/w3.out" 2>&1 &
  wl=$!
  sleep 0.5
  "$root/scripts/cluster.sh" kill 2 --dir "$dir" >/dev/null
  sleep 0.5
  "$root/scripts/cluster.sh" restart 2 --dir "$dir" >/dev/null || bad "restart of replica 2"
  if wait $wl; then ok "workload through the kill -9 and restart of replica 2 correct, history $(summary "$dir/w3.out")"
  else bad "workload during the kill: $(tail -3 "$dir/w3.out" | tr '\n' ' ')"; fi
  local ck s
  ck=$(it_status_field "$dir" 0 stable_checkpoint)
  if s=$(it_digests_agree "$dir" 60 0 1 2 3) && [ "${s#checkpoint }" != "$s" ]; then
    ok "restarted replica 2 caught up: $s on all four"
  else bad "state digests after the restart: $s"; fi

  # 4. Kill the primary (PBFT): a view change, then service.
  if [ "$proto" = pbft ]; then
    local primary; primary=$(it_status_field "$dir" 1 primary)
    "$root/scripts/cluster.sh" kill "$primary" --dir "$dir" >/dev/null
    if ctl --timeout 20000 put after-primary-kill yes >/dev/null && ctl --timeout 20000 workload -n 50 --seed 5 >/dev/null; then
      ok "primary $primary killed, service resumed in view $(it_status_field "$dir" $(( (primary + 1) % 4 )) view)"
    else bad "no service after the primary was killed"; fi
    "$root/scripts/cluster.sh" restart "$primary" --dir "$dir" >/dev/null
  fi

  # 5. Full stop and start: nothing acknowledged is lost.
  it_down "$dir"
  "$root/scripts/cluster.sh" up --dir "$dir" -f 1 --protocol "$proto" >/dev/null 2>&1 || bad "restart of the whole cluster"
  local h
  for h in h1 h3; do
    if s=$(it_acked_writes_present "$dir" "$dir/$h.txt"); then
      ok "whole cluster stopped and started: every acknowledged write of $h there ($s)"
    else bad "acknowledged writes of $h lost across the full restart: $s"; fi
  done
  ctl --timeout 20000 put after-full-restart yes >/dev/null && ok "writes accepted after the full restart" \
                                                            || bad "no writes after the full restart"

  # 5b. (PBFT) Every replica killed (SIGKILL, no flush) under load and started again while the
  # clients retry: no acknowledged write lost, the history still linearizable. PBFT answers a
  # batch before its commit record is durable (node/replica.c commits_may_wait). Honey Badger
  # does not resume after this today: the replicas come back at different epochs, and one that
  # finished an epoch does not help the others finish it (docs/PERFORMANCE.md "Known problems").
  [ "$proto" = pbft ] || { it_down "$dir"; return; }
  ctl --client-id 18 --timeout 30000 workload -n 1500 --clients 2 --seed 91 --history "$dir/h5.txt" > "$dir/w5.out" 2>&1 &
  wl=$!
  sleep 0.7
  for i in 0 1 2 3; do "$root/scripts/cluster.sh" kill "$i" --dir "$dir" >/dev/null; done
  sleep 0.3
  "$root/scripts/cluster.sh" up --dir "$dir" -f 1 --protocol "$proto" >/dev/null 2>&1 || bad "start after the whole-cluster kill"
  if wait $wl; then ok "workload through a kill -9 of every replica correct, history $(summary "$dir/w5.out")"
  else bad "workload through the whole-cluster kill: $(tail -3 "$dir/w5.out" | tr '\n' ' ')"; fi
  if s=$(it_acked_writes_present "$dir" "$dir/h5.txt"); then
    ok "every replica killed and started: every acknowledged write there ($s)"
  else bad "acknowledged writes lost across the whole-cluster kill: $s"; fi
  it_down "$dir"
}

# Step 6 on a second cluster, restarted with each mode.
modes_stream() {
  local m modes port=$1
  if [ "$proto" = pbft ]; then modes="0:equivocate 1:silent 2:wrong-reply"
  else modes="0:rbc-equivocate 1:silent 2:wrong-reply"; fi
  for m in $modes; do
    dir="$work/$proto-byz-${m//[:,]/-}"
    port=$((port + 40))
    up "$port" --byzantine "$m" || { bad "$m: cluster did not start"; continue; }
    if ctl --timeout 30000 workload -n 160 --clients 8 --history "$dir/h.txt" > "$dir/w.out" 2>&1; then
      ok "replica ${m%%:*} in mode ${m#*:}: 160 operations, all answers correct, history $(summary "$dir/w.out")"
    else bad "mode $m: $(grep -iE 'wrong|timeout|violat|error' "$dir/w.out" | head -3 | tr '\n' ' ')"; fi
    it_down "$dir"
  done
}

[ -x "$bin/bftnode" ] || { echo "test_cluster: no programs in $bin (make all first)"; exit 1; }
k=0
for proto in $protocols; do
  main_stream $((base_port + k * 400)) > "$work/$proto-main.log" 2>&1 &
  modes_stream $((base_port + k * 400 + 80)) > "$work/$proto-modes.log" 2>&1 &
  k=$((k + 1))
done
wait
passed=0 failed=0
for proto in $protocols; do
  echo "== $proto"
  cat "$work/$proto-main.log" "$work/$proto-modes.log"
  passed=$((passed + $(cat "$work/$proto-main.log" "$work/$proto-modes.log" | grep -c '^  ok')))
  failed=$((failed + $(cat "$work/$proto-main.log" "$work/$proto-modes.log" | grep -c '^  FAIL')))
done
echo "integration: $passed passed, $failed failed in $((SECONDS - t0)) s"
[ $failed = 0 ] && [ $passed -gt 0 ]
