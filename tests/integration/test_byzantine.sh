#!/usr/bin/env bash
# The Byzantine suite over real processes (make test-byzantine; issue 8):
#   1. a mode that does not apply to a cluster's protocol is refused at start-up, by name;
#   2. every mode of each protocol (from `bftnode --list-byzantine=PROTOCOL`, so new modes join
#      on their own) on a 4-replica cluster whose faulty replica is the primary where that
#      matters (bogus-new-view: the next primary, with a view change forced by a crash and
#      restart of the current one); plus n = 7 with f = 2 colluding replicas for equivocate,
#      bogus-new-view, bad-decryption-share and silent. Under a mixed workload from 8 clients
#      with a recorded history, each run checks:
#        - the workload completes within a generous bound, every answer correct;
#        - the history is linearizable (bftctl check-history, the committed order as witness);
#        - no acknowledged write is lost (the workload's keys read back against the history);
#        - the correct replicas' stable checkpoint digests agree: sampled all along, and at the end;
#      and prints operations, view changes (PBFT) or epochs (Honey Badger), the faults correct
#      replicas detected and attributed to the faulty ones (/metrics), and the result;
#   3. network partitions and heavy delay (test_partition.sh);
#   4. a short chaos round (scripts/chaos.sh).
# Clusters run JOBS at a time (default 2), each on its own ports and directory; all are torn down
# on exit, even on failure.
#   JOBS=2  MODES="pbft:equivocate hbbft:censor ..." (only these; n=7 runs are named "pbft7:silent")
#   PARTITION=0 / CHAOS=0 skip those parts   CHAOS_SECONDS=45   KEEP=1 keeps the directories
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"
bin=$it_bin
jobs=${JOBS:-2}
only=${MODES:-}
work=$(mktemp -d /tmp/bft-byz-XXXXXX)
base_port=$((10000 + ($$ % 3) * 6000))   # scenarios from here, 130 ports each
t_start=$SECONDS
failed=0

cleanup() {
  for d in "$work"/*/; do it_down "$d"; done
  if [ "${KEEP:-0}" = 1 ] || [ $failed != 0 ]; then echo "(cluster directories kept in $work)"
  else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ -x "$bin/bftnode" ] && [ -x "$bin/bftctl" ] && [ -x "$bin/bftkeygen" ] ||
  { echo "test_byzantine: build first (make all): no programs in $bin"; exit 1; }

# ------------------------------------------------------------------------------------------
echo "== modes outside the cluster's protocol are refused at start-up"
refusals=0
for proto in pbft hbbft; do
  "$bin/bftkeygen" --faults 1 --clients 2 --out "$work/keys-$proto" --host 127.0.0.1 \
    --base-port 9 --protocol "$proto" --force >/dev/null || { echo "  FAIL bftkeygen"; failed=1; }
done
pb=" $("$bin/bftnode" --list-byzantine=pbft | tr '\n' ' ') "
hb=" $("$bin/bftnode" --list-byzantine=hbbft | tr '\n' ' ') "
check_refused() { # protocol, modes argument, the mode that must be named, protocol words
  local out rc
  out=$(timeout 10 "$bin/bftnode" -c "$work/keys-$1/cluster.ini" -i 0 -d "$work/refused-data" \
          --byzantine "$2" 2>&1); rc=$?
  if [ $rc = 1 ] && grep -q "$3 does not apply to $4" <<<"$out"; then
    refusals=$((refusals + 1))
  else
    echo "  FAIL $1 cluster with --byzantine $2: exit $rc, '$out'"; failed=1
  fi
}
for m in $pb; do case "$hb" in *" $m "*) ;; *) check_refused hbbft "$m" "$m" "Honey Badger"; esac; done
for m in $hb; do case "$pb" in *" $m "*) ;; *) check_refused pbft "$m" "$m" "PBFT"; esac; done
# A combination is refused for the one mode that does not apply.
first_pb_only=$(for m in $pb; do case "$hb" in *" $m "*) ;; *) echo "$m"; break;; esac; done)
[ -n "$first_pb_only" ] && check_refused hbbft "silent,$first_pb_only" "$first_pb_only" "Honey Badger"
out=$("$bin/bftnode" -c "$work/keys-pbft/cluster.ini" -i 0 --byzantine no-such-mode 2>&1); rc=$?
if [ $rc = 2 ] && grep -q "unknown Byzantine mode 'no-such-mode'" <<<"$out"; then refusals=$((refusals + 1))
else echo "  FAIL unknown mode: exit $rc, '$out'"; failed=1; fi
echo "  $refusals refusals, each naming the mode and the protocol (or the unknown name)"

# ------------------------------------------------------------------------------------------
# Scenarios: "PROTOCOL F FAULTY-SPECS ACTION" (specs ID:MODE joined by '+'; ACTION none | vc).
faulty_id() { # protocol mode -> the replica that runs it in a 4-replica cluster
  case "$1:$2" in
    pbft:bogus-new-view) echo 1 ;;                    # the primary of view 1
    pbft:view-change-spam|*:bad-checkpoint) echo 3 ;; # a backup
    pbft:replay|*:wrong-reply|hbbft:censor) echo 2 ;;
    hbbft:aba-equivocate|hbbft:bad-coin-share) echo 1 ;;
    *) echo 0 ;;                                      # the PBFT primary of view 0
  esac
}
scenarios=()
for proto in pbft hbbft; do
  for m in $("$bin/bftnode" --list-byzantine="$proto"); do
    act=none; [ "$m" = bogus-new-view ] && act=vc
    scenarios+=("$proto 1 $(faulty_id "$proto" "$m"):$m $act")
  done
done
scenarios+=("pbft 2 0:equivocate+1:equivocate none"
            "pbft 2 1:bogus-new-view+2:bogus-new-view vc"
            "hbbft 2 0:bad-decryption-share+3:bad-decryption-share none"
            "pbft 2 0:silent+1:silent none"
            "hbbft 2 0:silent+1:silent none")

selected() { # protocol f specs: is the scenario in MODES (or MODES unset)?
  [ -z "$only" ] && return 0
  local m=${3#*:}; m=${m%%+*}
  local name=$1; [ "$2" = 2 ] && name=${1}7
  case " $only " in *" $name:$m "*) return 0 ;; esac
  return 1
}

# One scenario; writes one result line to $work/results/$idx:
# "PROTOCOL|n|FAULTY|OPS|COMPLETED|VIEWS|DETECTED|RESULT|NOTE"
run_scenario() {
  local idx=$1 proto=$2 f=$3 specs=$4 act=$5
  local n=$((3 * f + 1)) dir="$work/s$idx" port=$((base_port + idx * 130))
  local ops clients=8 bound faulty="" correct="" args=() s r note="" res=PASS
  local wl_rc completed=0 views=0 v detected="0 -" sampler
  for s in ${specs//+/ }; do args+=(--byzantine "$s"); faulty="$faulty ${s%%:*}"; done
  for r in $(seq 0 $((n - 1))); do case " $faulty " in *" $r "*) ;; *) correct="$correct $r";; esac; done
  if [ "$proto" = pbft ]; then ops=400; else ops=240; fi
  [ "$n" = 7 ] && ops=200
  bound=240
  fail() { res=FAIL; note="${note:+$note; }$*"; }
  if ! it_up "$dir" "$port" -f "$f" --protocol "$proto" --clients 10 --fsync batch \
         --set checkpoint_interval=16 "${args[@]}" 2>"$dir.err"; then
    echo "$proto|$n|${specs//+/ }|$ops|0|-|-|FAIL|cluster did not start: $(tail -1 "$dir.err")" > "$work/results/$idx"
    return
  fi
  it_digest_sampler "$dir" "$dir/samples" $correct &
  sampler=$!
  if [ "$act" = vc ]; then
    # Crash the view-0 primary (replica 0) before the workload starts, so that the first
    # requests force a view change and the faulty next primary must send a NEW-VIEW however
    # quickly the workload would otherwise finish (a crash 2 s in came after the last
    # request of a short n = 7 run: no view change, nothing to detect).
    "$it_root/scripts/cluster.sh" kill 0 --dir "$dir" >/dev/null 2>&1
  fi
  timeout "$bound" "$bin/bftctl" -c "$dir/cluster.ini" --timeout 30000 workload -n "$ops" \
    --clients "$clients" --seed "$idx" --history "$dir/history.txt" > "$dir/workload.out" 2>&1 &
  local wl=$!
  if [ "$act" = vc ]; then
    # Then bring it back: it is correct, and with n = 7 the two faulty replicas plus a crashed
    # one are more than f, so the cluster may wait for it.
    sleep 3
    "$it_root/scripts/cluster.sh" restart 0 --dir "$dir" >/dev/null 2>&1 || fail "restart of replica 0"
  fi
  wait $wl; wl_rc=$?
  completed=$(sed -n 's/.*completed \([0-9]*\),.*/\1/p' "$dir/workload.out" | head -1)
  completed=${completed:-0}
  if [ $wl_rc = 124 ]; then fail "workload not done within ${bound}s"
  elif [ $wl_rc != 0 ]; then fail "workload exit $wl_rc: $(grep -iE 'wrong|timeout|error|violat' "$dir/workload.out" | head -2 | tr '\n' ' ')"; fi
  grep -q "wrong answers 0," "$dir/workload.out" || fail "wrong answers"
  [ "$completed" = "$ops" ] || fail "completed $completed of $ops"
  if [ -s "$dir/history.txt" ]; then
    "$bin/bftctl" check-history "$dir/history.txt" > "$dir/check.out" 2>&1 || fail "history NOT linearizable (see $dir/check.out)"
    s=$(it_acked_writes_present "$dir" "$dir/history.txt") || fail "acknowledged writes lost: $s"
  else
    fail "no history recorded"
  fi
  s=$(it_digests_agree "$dir" 60 $correct) || fail "digests: $s"
  touch "$dir/samples.stop"; wait "$sampler" 2>/dev/null
  s=$(it_digests_consistent "$dir/samples") || fail "digests differ: $s"
  for r in $correct; do
    v=$(it_status_field "$dir" "$r" view_changes); [ -n "$v" ] && [ "$v" -gt "$views" ] && views=$v
  done
  detected=$(it_attributed "$dir" "$faulty" "$correct")
  # Modes whose every use is a detectable fault must show up under their reason, attributed.
  for s in ${specs//+/ }; do
    local want=
    case "${s#*:}" in
      bad-signature) want=bad_signature ;;
      # (bad-coin-share is reported, not required: the threshold coin is drawn only in ABA
      # rounds 2 mod 3, and coin shares are kept unverified until the coin is needed (hb.c),
      # so when f+1 good ones make the coin first, the faulty replica's are never checked.)
      bad-decryption-share) want=bad_share ;;
      equivocate|rbc-equivocate|aba-equivocate|lying-checks) want=conflict ;;
      wrong-digest) want=digest_mismatch ;;
      bogus-new-view) want=bad_certificate ;;
      flood) want=malformed ;;
    esac
    # Threshold shares are sent only when a protocol step needs them: none sent, none to detect.
    local shares=
    case "${s#*:}" in bad-decryption-share) shares=type_40 ;; esac
    if [ -n "$shares" ] && [ "$(it_metric "$dir" "${s%%:*}" "bft_messages_out_total{type=\"$shares\"}")" = 0 ]; then
      note="${note:+$note; }replica ${s%%:*} never had to send a share"
      continue
    fi
    [ -z "$want" ] || [[ ",${detected#* }" == *",$want:"* ]] ||
      fail "no '$want' rejection attributed to replica ${s%%:*}"
  done
  case "$specs" in *flood*)
    # Junk and oversized frames: every correct replica must have counted some as rejected.
    for r in $correct; do
      v=$(curl -sf --max-time 2 "http://$(it_status_addr "$dir" "$r")/metrics" |
            awk '/^bft_rejected_total/ && /reason="(malformed|too_big|version|type|arity|field_type|trailing|non_canonical|bad_signature|sender)"/ {s+=$NF} END{print s+0}')
      [ "$v" -gt 0 ] || fail "replica $r counted no flood frame"
    done ;;
  esac
  it_down "$dir"
  echo "$proto|$n|${specs//+/ }|$ops|$completed|$views|$detected|$res|$note" > "$work/results/$idx"
}

echo "== every Byzantine mode on real replicas (${#scenarios[@]} scenarios, $jobs at a time)"
mkdir -p "$work/results"
idx=0
running=0
for sc in "${scenarios[@]}"; do
  read -r proto f specs act <<<"$sc"
  idx=$((idx + 1))
  selected "$proto" "$f" "$specs" || continue
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n 2>/dev/null || sleep 0.2; done
  run_scenario "$idx" "$proto" "$f" "$specs" "$act" > "$work/s$idx.log" 2>&1 &
done
wait

printf '\n%-6s %-2s %-46s %-9s %-8s %-44s %s\n' protocol n "faulty replica:mode" ops \
  "views/ep" "faults detected and attributed (top reasons)" result
pass=0; fail_n=0
for r in $(ls "$work/results" | sort -n); do
  IFS='|' read -r proto n specs ops completed views detected res note < "$work/results/$r"
  total=${detected%% *}
  # The three most frequent reasons.
  reasons=$(tr ',' '\n' <<<"${detected#* }" | sort -t: -k2 -nr | head -3 | paste -sd, -)
  printf '%-6s %-2s %-46s %-9s %-8s %-44s %s\n' "$proto" "$n" "$specs" "$completed/$ops" "$views" \
    "$total ${reasons}" "$res${note:+ ($note)}"
  if [ "$res" = PASS ]; then pass=$((pass + 1)); else fail_n=$((fail_n + 1)); failed=1; fi
done
echo "modes: $pass passed, $fail_n failed"

# ------------------------------------------------------------------------------------------
if [ "${PARTITION:-1}" = 1 ] && [ -z "$only" ]; then
  echo; echo "== network partitions and delays"
  PARTITION_PORT=$((base_port + 5300)) bash "$here/test_partition.sh" || failed=1
fi
if [ "${CHAOS:-1}" = 1 ] && [ -z "$only" ]; then
  echo; echo "== chaos"
  "$it_root/scripts/chaos.sh" --duration "${CHAOS_SECONDS:-45}" --base-port $((base_port + 5700)) || failed=1
fi

echo; echo "test-byzantine: $([ $failed = 0 ] && echo PASSED || echo FAILED) in $((SECONDS - t_start)) s"
[ $failed = 0 ]
