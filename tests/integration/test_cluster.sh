#!/usr/bin/env bash
# Integration tests: real bftnode processes on 127.0.0.1, launched by scripts/cluster.sh exactly
# as users launch them. For each protocol (pbft, hbbft):
#   1. 1,000 mixed operations from 8 concurrent clients, every answer checked against a model;
#   2. kill -9 of a backup during load, restart, catch-up, and its state digest equal to the others';
#   3. (PBFT) kill of the primary: service resumes after a view change;
#   4. full-cluster stop and start: every acknowledged write is still there;
#   5. one replica in a malicious mode (several modes) with correct results at the client;
#   6. malformed frames, an unknown client and forged signatures: refused, counted in /metrics,
#      the replica still serving.
# Every wait is bounded; every cluster is torn down on exit, even on failure.
#   PROTOCOLS="pbft hbbft" (default both)   KEEP=1 keeps the cluster directories
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bin="$root/bin"
protocols=${PROTOCOLS:-"pbft hbbft"}
work=$(mktemp -d /tmp/bft-it-XXXXXX)
# A port range per run, so concurrent runs (and leftovers) do not collide; below Linux's
# ephemeral range (32768 and up), where outgoing connections would take ports from under us.
base_port=$((10000 + ($$ % 180) * 120))
passed=0
failed=0
current=

cleanup() {
  for d in "$work"/*/; do
    [ -f "$d/cluster.ini" ] && "$root/scripts/cluster.sh" down --dir "$d" >/dev/null 2>&1
  done
  [ "${KEEP:-0}" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT INT TERM

ok()   { echo "  ok   $*"; passed=$((passed + 1)); }
bad()  { echo "  FAIL $*"; failed=$((failed + 1)); [ -n "$current" ] && tail -3 "$current"/logs/replica-*.log 2>/dev/null | sed 's/^/       /'; }
ctl()  { "$bin/bftctl" -c "$dir/cluster.ini" "$@"; }

status_field() { # replica, field -> value from /status
  local addr
  addr=$(awk -v want="[replica $1]" '$0==want{s=1;next} /^\[/{s=0} s && $1=="status"{print $3; exit}' "$dir/cluster.ini")
  curl -sf --max-time 2 "http://$addr/status" | sed -n "s/.*\"$2\":\"\{0,1\}\([^\",}]*\).*/\1/p"
}
metric() { # replica, metric line prefix -> summed value
  local addr
  addr=$(awk -v want="[replica $1]" '$0==want{s=1;next} /^\[/{s=0} s && $1=="status"{print $3; exit}' "$dir/cluster.ini")
  curl -sf --max-time 2 "http://$addr/metrics" | grep -F "$2" | awk '{s+=$NF} END{print s+0}'
}

up() { # protocol, name, extra cluster.sh args... (another port range if one is taken)
  local proto=$1 name=$2 try; shift 2
  dir="$work/$name"
  current=$dir
  for try in 1 2 3; do
    base_port=$((base_port + 12))
    [ $base_port -gt 32000 ] && base_port=$((10000 + RANDOM % 2000))
    rm -rf "$dir"
    "$root/scripts/cluster.sh" up -f 1 --protocol "$proto" --dir "$dir" --base-port "$base_port" \
      --fsync batch "$@" >/dev/null 2>"$work/up.err" && return 0
    "$root/scripts/cluster.sh" down --dir "$dir" >/dev/null 2>&1
    grep -q "Address in use" "$work/up.err" "$dir"/logs/*.log 2>/dev/null || break
    echo "  (ports from $base_port taken, trying others)"
  done
  cat "$work/up.err" >&2
  return 1
}
down() { "$root/scripts/cluster.sh" down --dir "$dir" >/dev/null 2>&1; }

# N concurrent checked workloads of OPS each; all must succeed.
parallel_workload() { # clients ops
  local pids=() rc=0
  for i in $(seq 0 $(($1 - 1))); do
    ctl --client-id "$i" workload -n "$2" --seed $((i + 1)) > "$dir/workload-$i.out" 2>&1 &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || rc=1; done
  return $rc
}

# Waits until every live replica reports the same stable checkpoint (>= min) and digest.
digests_agree() { # min_seq replicas...
  local min=$1; shift
  for _ in $(seq 1 100); do
    local seqs=() digs=() same=1
    for r in "$@"; do
      seqs+=("$(status_field "$r" stable_checkpoint)")
      digs+=("$(status_field "$r" stable_digest)")
    done
    for i in "${!seqs[@]}"; do
      [ -n "${seqs[$i]}" ] && [ "${seqs[$i]}" -ge "$min" ] 2>/dev/null || same=0
      [ "${seqs[$i]}" = "${seqs[0]}" ] && [ "${digs[$i]}" = "${digs[0]}" ] || same=0
    done
    [ $same = 1 ] && return 0
    # Keep the log moving so a fresh checkpoint can form.
    ctl put digest-probe "$RANDOM" >/dev/null 2>&1
    sleep 0.2
  done
  echo "       stable checkpoints: ${seqs[*]}  digests: ${digs[*]}"
  return 1
}

for proto in $protocols; do
  echo "== $proto"

  up "$proto" "$proto-main" || { bad "$proto: cluster did not start"; continue; }

  # 1. Load with correct results.
  if parallel_workload 8 125; then ok "$proto: 1,000 mixed operations from 8 clients, all answers correct"
  else bad "$proto: workload"; cat "$dir"/workload-*.out | grep -iE "wrong|timeout|error" | head -5; fi

  # Acknowledged writes to check after the full restart.
  acked=0
  for i in $(seq 1 30); do ctl put "durable-$i" "value-$i" >/dev/null && acked=$((acked + 1)); done
  [ $acked = 30 ] && ok "$proto: 30 acknowledged writes" || bad "$proto: only $acked of 30 writes acknowledged"

  # 2. kill -9 of a backup during load, restart, catch-up, equal state digest.
  ctl --client-id 3 workload -n 300 --seed 77 > "$dir/kill.out" 2>&1 &
  wl=$!
  sleep 1
  "$root/scripts/cluster.sh" kill 2 --dir "$dir" >/dev/null
  sleep 1
  "$root/scripts/cluster.sh" restart 2 --dir "$dir" >/dev/null || bad "$proto: restart of replica 2"
  if wait $wl; then ok "$proto: workload through the kill -9 of replica 2 completed correctly"
  else bad "$proto: workload during the kill"; tail -3 "$dir/kill.out"; fi
  ckpt=$(status_field 0 stable_checkpoint)
  if digests_agree $((ckpt + 1)) 0 1 2 3; then ok "$proto: restarted replica 2 caught up; all four state digests agree"
  else bad "$proto: state digests differ after the restart"; fi

  # 3. Kill the primary (PBFT): a view change, then service.
  if [ "$proto" = pbft ]; then
    primary=$(status_field 1 primary)
    "$root/scripts/cluster.sh" kill "$primary" --dir "$dir" >/dev/null
    if ctl --timeout 20000 put after-primary-kill yes >/dev/null && ctl workload -n 50 --seed 5 >/dev/null; then
      ok "$proto: primary $primary killed, service resumed in view $(status_field $(( (primary + 1) % 4 )) view)"
    else bad "$proto: no service after the primary was killed"; fi
    "$root/scripts/cluster.sh" restart "$primary" --dir "$dir" >/dev/null
  fi

  # 4. Full stop and start: nothing acknowledged is lost.
  down
  "$root/scripts/cluster.sh" up -f 1 --protocol "$proto" --dir "$dir" >/dev/null || bad "$proto: restart of the whole cluster"
  lost=0
  for i in $(seq 1 30); do
    v=$(ctl get "durable-$i" 2>/dev/null)
    [ "$v" = "value-$i" ] || lost=$((lost + 1))
  done
  [ $lost = 0 ] && ok "$proto: whole cluster stopped and started, all 30 acknowledged writes there" \
                || bad "$proto: $lost acknowledged writes lost across the full restart"
  ctl put after-full-restart yes >/dev/null && ok "$proto: writes accepted after the full restart" \
                                            || bad "$proto: no writes after the full restart"

  # 6. Hostile frames: refused, counted, still serving.
  ctl inject malformed 1 20 >/dev/null
  ctl inject unknown-client 1 5 >/dev/null
  ctl inject bad-signature 1 5 >/dev/null
  sleep 0.5
  m_mal=$(metric 1 'bft_rejected_total{reason="malformed"')
  m_unk=$(metric 1 'bft_unknown_client_requests_total')
  m_sig=$(metric 1 'bft_rejected_total{reason="bad_signature",sender="client"')
  if [ "$m_mal" -gt 0 ] && [ "$m_unk" -ge 5 ] && [ "$m_sig" -ge 5 ]; then
    ok "$proto: hostile frames refused and counted (malformed $m_mal, unknown client $m_unk, bad signature $m_sig)"
  else bad "$proto: hostile frames not counted (malformed $m_mal, unknown client $m_unk, bad signature $m_sig)"; fi
  ctl workload -n 20 --seed 9 >/dev/null && ok "$proto: replica 1 still serving after the hostile frames" \
                                          || bad "$proto: service after hostile frames"
  down

  # 5. One malicious replica per mode, correct results at the client.
  if [ "$proto" = pbft ]; then modes="0:equivocate 1:silent 2:wrong-reply 0:wrong-digest 3:bad-signature"
  else modes="0:rbc-equivocate 1:silent 2:bad-decryption-share 3:censor"; fi
  for m in $modes; do
    up "$proto" "$proto-byz-${m//[:,]/-}" --byzantine "$m" || { bad "$proto $m: cluster did not start"; continue; }
    if parallel_workload 4 40; then ok "$proto: replica ${m%%:*} in mode ${m#*:}: 160 operations, all answers correct"
    else bad "$proto: mode $m"; cat "$dir"/workload-*.out | grep -iE "wrong|timeout" | head -3; fi
    down
  done
done

echo "integration: $passed passed, $failed failed"
[ $failed = 0 ]
