#!/usr/bin/env bash
# chaos.sh: a checked workload while up to f replicas are randomly crashed, paused and cut off.
#
#   scripts/chaos.sh --duration S [--protocol pbft|hbbft] [-f F] [--byzantine ID:MODE[,MODE]]
#                    [--seed N] [--base-port P] [--dir DIR] [--keep]
#
# Starts a 3f+1 cluster (with --byzantine, f defaults to 2 so that one replica can lie while
# another is being disrupted), then for S seconds runs rounds of a mixed workload from 8 clients,
# each recording its history, while a disruptor picks correct replicas at random and, keeping at
# most f - (faulty replicas) of them disrupted at a time:
#   - kills one with SIGKILL and restarts it a few seconds later (recovery from its log);
#   - pauses one (SIGSTOP) and resumes it (SIGCONT);
#   - cuts one off from the other replicas (iptables in per-replica network namespaces; only
#     as root with ip netns and iptables, otherwise this action is left out and the report says so).
# Then it heals everything, lets the last round finish, and checks: every round's history is
# linearizable, no acknowledged write is lost, and every correct replica reaches one stable
# checkpoint with one digest. It prints a report and exits 0 only if all of that holds.
# Bounded: the chaos phase lasts S seconds, the wind-down at most 240 s more. Everything it
# started (replicas, namespaces, rules, workload processes) is removed on exit, even on failure
# or ^C; --keep keeps the cluster directory (logs, histories) for a look afterwards.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$root/tests/integration/lib.sh"
bin=$it_bin

duration=60
protocol=pbft
f=
byz=
seed=$(( $(date +%s) % 100000 ))
base_port=$((20000 + ($$ % 60) * 150))
dir=
keep=0

die() { echo "chaos.sh: $*" >&2; exit 2; }
usage() { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration=${2:-}; shift 2 ;;
    --protocol) protocol=${2:-}; shift 2 ;;
    -f|--faults) f=${2:-}; shift 2 ;;
    --byzantine) byz=${2:-}; shift 2 ;;
    --seed) seed=${2:-}; shift 2 ;;
    --base-port) base_port=${2:-}; shift 2 ;;
    --dir) dir=${2:-}; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[[ "$duration" =~ ^[0-9]+$ ]] && [ "$duration" -ge 5 ] && [ "$duration" -le 3600 ] || die "--duration wants 5..3600 seconds"
case "$protocol" in pbft|hbbft) ;; *) die "--protocol is pbft or hbbft" ;; esac
[ -z "$f" ] && { [ -n "$byz" ] && f=2 || f=1; }
[[ "$f" =~ ^[1-9]$ ]] || die "-f wants 1..9"
[[ "$seed" =~ ^[0-9]+$ ]] || die "--seed wants a number"
n=$((3 * f + 1))
byz_id=
if [ -n "$byz" ]; then
  byz_id=${byz%%:*}
  [[ "$byz_id" =~ ^[0-9]+$ ]] && [ "$byz_id" -lt "$n" ] && [ "$byz" != "$byz_id" ] || die "--byzantine wants ID:MODE with ID < $n"
fi
budget=$(( f - (${byz:+1}+0) ))
[ -x "$bin/bftnode" ] || die "no programs in $bin (make all first)"
RANDOM=$seed
t_start=$SECONDS

own_dir=0
if [ -z "$dir" ]; then dir=$(mktemp -d /tmp/bft-chaos-XXXXXX); own_dir=1; fi
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
cl="$dir/cluster"
tag=bc$(($$ % 100000))
sub=10.$((100 + ($$ + 37) % 100)).$((($$ / 100) % 250))
use_ns=0
why_no_ns=$(it_netns_unusable "$tag")
[ -z "$why_no_ns" ] && use_ns=1
wl_pid=

cleanup() {
  trap - EXIT INT TERM
  if [ -n "$wl_pid" ]; then
    pkill -TERM -P "$wl_pid" 2>/dev/null   # the round's `timeout`, which passes it to bftctl
    kill "$wl_pid" 2>/dev/null
  fi
  if [ -d "$cl/pids" ]; then
    for p in "$cl"/pids/*.pid; do [ -f "$p" ] && kill -CONT "$(cat "$p")" 2>/dev/null; done
  fi
  it_down "$cl"
  [ $use_ns = 1 ] && it_netns_delete "$tag" "$n"
  wait 2>/dev/null
  if [ $keep = 1 ] || [ $own_dir = 0 ]; then echo "chaos: cluster directory kept: $cl"
  else rm -rf "$dir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "chaos: $protocol, n=$n f=$f, ${duration}s, seed $seed${byz:+, replica $byz_id FAULTY ($byz)}"
up_args=(-f "$f" --protocol "$protocol" --clients 10 --fsync batch --set checkpoint_interval=16)
[ -n "$byz" ] && up_args+=(--byzantine "$byz")
if [ $use_ns = 1 ]; then
  it_netns_make "$tag" "$sub" "$n" || die "could not create the network namespaces"
  it_netns_cluster "$cl" "$tag" "$sub" "$base_port" "${up_args[@]}" || die "the cluster did not start"
else
  echo "chaos: partitions left out: $why_no_ns"
  it_up "$cl" "$base_port" "${up_args[@]}" || die "the cluster did not start"
fi

correct=$(for i in $(seq 0 $((n - 1))); do [ "$i" != "$byz_id" ] && echo -n "$i "; done)
pid_of() { cat "$cl/pids/$1.pid" 2>/dev/null; }

# Workload rounds until told to stop (the file $dir/stop), each with its own history.
rounds() {
  local r=0
  while [ ! -e "$dir/stop" ] && [ $r -lt 1000 ]; do
    r=$((r + 1))
    timeout 300 "$bin/bftctl" -c "$cl/cluster.ini" --timeout 60000 workload -n 80 --clients 8 \
      --seed "$((seed + r))" --history "$dir/history-$r.txt" > "$dir/round-$r.out" 2>&1
    echo $? > "$dir/round-$r.rc"
  done
}
rounds &
wl_pid=$!

# The disruptor: the replicas in $disrupted (at most $budget), each with down_action[id] and
# down_until[id] (seconds).
disrupted=
down_action=()
down_until=()
kills=0 pauses=0 cuts=0 restarts=0 resumes=0 heals=0
undo() { # replica
  local r=$1
  case "${down_action[$r]}" in
    kill) "$root/scripts/cluster.sh" restart "$r" --dir "$cl" >/dev/null 2>&1 && restarts=$((restarts + 1))
          echo "  $((SECONDS - t_start))s restart $r" ;;
    pause) kill -CONT "$(pid_of "$r")" 2>/dev/null; resumes=$((resumes + 1)); echo "  $((SECONDS - t_start))s resume $r" ;;
    cut) others=$(for i in $(seq 0 $((n - 1))); do [ "$i" != "$r" ] && echo -n "$i "; done)
         it_unpartition "$tag" "$sub" "$r" "$others"; heals=$((heals + 1)); echo "  $((SECONDS - t_start))s heal $r" ;;
  esac
  disrupted=$(for i in $disrupted; do [ "$i" != "$r" ] && echo -n "$i "; done)
}
if [ "$budget" -lt 1 ]; then echo "chaos: no fault budget left for disruptions (f=$f with a faulty replica): workload only"; fi
end=$((SECONDS + duration))
while [ $SECONDS -lt $end ]; do
  for r in $disrupted; do [ $SECONDS -ge "${down_until[$r]}" ] && undo "$r"; done
  if [ $(wc -w <<<"$disrupted") -lt "$budget" ] && { [ $((RANDOM % 3)) = 0 ] || [ $((kills + pauses + cuts)) = 0 ]; }; then
    cand=(); for r in $correct; do [[ " $disrupted " == *" $r "* ]] || cand+=("$r"); done
    r=${cand[$((RANDOM % ${#cand[@]}))]}
    acts=(kill pause); [ $use_ns = 1 ] && acts+=(cut)
    a=${acts[$((RANDOM % ${#acts[@]}))]}
    case $a in
      kill) "$root/scripts/cluster.sh" kill "$r" --dir "$cl" >/dev/null 2>&1; kills=$((kills + 1)) ;;
      pause) kill -STOP "$(pid_of "$r")" 2>/dev/null; pauses=$((pauses + 1)) ;;
      cut) others=$(for i in $(seq 0 $((n - 1))); do [ "$i" != "$r" ] && echo -n "$i "; done)
           it_partition "$tag" "$sub" "$r" "$others"; cuts=$((cuts + 1)) ;;
    esac
    down_action[$r]=$a
    disrupted="$disrupted$r "
    down_until[$r]=$((SECONDS + 2 + RANDOM % 5))
    echo "  $((SECONDS - t_start))s $a $r (for $((down_until[$r] - SECONDS)) s)"
  fi
  sleep 1
done
for r in $disrupted; do undo "$r"; done
touch "$dir/stop"
echo "chaos: $((SECONDS - t_start))s: healed everything; waiting for the last round"
for _ in $(seq 1 240); do kill -0 "$wl_pid" 2>/dev/null || break; sleep 1; done
if kill -0 "$wl_pid" 2>/dev/null; then wind_down="the last round did not finish within 240 s"; else wind_down=; fi
wait "$wl_pid" 2>/dev/null; wl_pid=

# ------------------------------------------------------------------------------------------
problems=()
[ -n "$wind_down" ] && problems+=("$wind_down")
nrounds=0 ops=0 unknown=0
for h in "$dir"/history-*.txt; do
  [ -f "$h" ] || continue
  r=${h##*history-}; r=${r%.txt}
  nrounds=$((nrounds + 1))
  rc=$(cat "$dir/round-$r.rc" 2>/dev/null || echo "?")
  c=$(sed -n 's/.*completed \([0-9]*\),.*/\1/p' "$dir/round-$r.out" | head -1)
  u=$(sed -n 's/.*history: [0-9]* ops.*, \([0-9]*\) unknown.*/\1/p' "$dir/round-$r.out" | head -1)
  ops=$((ops + ${c:-0})); unknown=$((unknown + ${u:-0}))
  grep -q "wrong answers 0," "$dir/round-$r.out" || problems+=("round $r: wrong answers or no summary (exit $rc)")
  "$bin/bftctl" check-history "$h" > "$h.check" 2>&1 || problems+=("round $r: history NOT linearizable ($h.check)")
  s=$(it_acked_writes_present "$cl" "$h") || problems+=("round $r: acknowledged writes lost: $s")
done
[ $nrounds -gt 0 ] || problems+=("no workload round ran")
[ "$budget" -lt 1 ] || [ $((kills + pauses + cuts)) -gt 0 ] || problems+=("no disruption took place")
digests=$(it_digests_agree "$cl" 90 $correct) || problems+=("correct replicas disagree: $digests")
views=0
for r in $correct; do v=$(it_status_field "$cl" "$r" view_changes); [ -n "$v" ] && [ "$v" -gt $views ] && views=$v; done
detected=
[ -n "$byz_id" ] && detected=$(it_attributed "$cl" "$byz_id" "$correct")

echo
echo "chaos report ($protocol, n=$n, f=$f, seed $seed, $((SECONDS - t_start)) s in all)"
echo "  disruptions:  $kills kill -9 / $restarts restarts, $pauses pauses / $resumes resumes, $cuts cut-offs / $heals heals${why_no_ns:+ (partitions left out: $why_no_ns)}"
[ -n "$byz" ] && echo "  faulty:       replica $byz_id (${byz#*:}), faults detected and attributed: $detected"
echo "  workload:     $nrounds rounds, $ops operations completed, $unknown with unknown outcome"
echo "  $([ "$protocol" = pbft ] && echo "view changes: " || echo "epochs:       ")$views"
echo "  state:        ${digests}"
if [ ${#problems[@]} = 0 ]; then
  echo "  result:       PASS (histories linearizable, no acknowledged write lost, digests agree)"
  exit 0
fi
for p in "${problems[@]}"; do echo "  FAIL: $p"; done
keep=1
exit 1
