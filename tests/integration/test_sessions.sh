#!/usr/bin/env bash
# MAC-authenticated client sessions on real processes (docs/PERFORMANCE.md), PBFT n = 4:
#   1. bftctl --mac put/get: 2f+1 replicas (all that the client waits for) install the client's
#      session and MAC their replies;
#      a signed SESSION whose boxes do not open is refused and counted;
#   2. a --mac bench runs while backup 2 is killed with SIGKILL and restarted: no request fails,
#      and the restarted replica (which lost its session keys) checks the requests of the old
#      sessions by signature (MAC fallback counted);
#   3. a new --mac client after the restart: replica 2 installs its session again and answers by
#      MAC; a plain (signed) client still works;
#   4. with client_sessions = false, --mac is refused with a message naming why; the same
#      cluster has unordered_reads = false: a get is ordered like a put (both committed) and
#      reads back the value (clients then accept f+1 replies; bft/client.h).
# Bounded waits; every cluster is torn down on exit. About 20 s.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=lib.sh
. "$root/tests/integration/lib.sh"
bin=$it_bin
work=$(mktemp -d /tmp/bft-sessions-XXXXXX)
base_port=$((24000 + ($$ % 50) * 120))
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

echo "== MAC sessions: pbft n=4"
d="$work/mac"
if ! it_up "$d" "$base_port" -f 1 --protocol pbft --clients 8 --fsync batch; then
  echo "cluster did not start"; exit 1
fi
c="$d/cluster.ini"
ctl() { timeout 30 "$bin/bftctl" -c "$c" --timeout 15000 "$@"; }

# 1. A session with every replica.
if ctl --mac put mac/a one >/dev/null 2>"$work/err" && [ "$(ctl --mac get mac/a 2>>"$work/err")" = one ]; then
  ok "bftctl --mac put and get"
else
  bad "bftctl --mac put/get: $(tail -1 "$work/err")"
fi
sleep 0.5 # the metrics page refreshes every 250 ms
# Each bftctl exits once it holds its answer (f+1 replies for the put, 2f+1 for the get), and
# frames still queued for a replica whose connection came up last leave with it: so 2f+1
# replicas, not all 4, must show both sessions installed and both replies MAC'd.
good=0
for r in 0 1 2 3; do
  s=$(it_metric "$d" "$r" "bft_sessions_installed_total")
  m=$(it_metric "$d" "$r" "bft_replies_mac_total")
  if [ "$s" -ge 2 ] && [ "$m" -ge 2 ]; then good=$((good + 1)); else
    echo "    replica $r: sessions $s, MAC'd replies $m"; fi
done
[ $good -ge 3 ] && ok "$good of 4 replicas (2f+1 needed) installed both sessions and answered by MAC" ||
  bad "sessions or MAC'd replies missing at more than f replicas"

# A plain client (no --mac) opens a session for its replies only: its put is answered by MAC
# at f+1 replicas at least, and every replica checked the request's signature (no request MAC).
# --no-session opens none and is answered by signatures.
sum_metric() { local t=0; for r in 0 1 2 3; do t=$((t + $(it_metric "$d" "$r" "$1"))); done; echo $t; }
m0=$(sum_metric bft_replies_mac_total) i0=$(sum_metric bft_sessions_installed_total)
ok0=$(sum_metric 'bft_request_mac_total{outcome="ok"}')
ctl put plain/a one >/dev/null 2>"$work/err"
sleep 0.5
m1=$(sum_metric bft_replies_mac_total) i1=$(sum_metric bft_sessions_installed_total)
ok1=$(sum_metric 'bft_request_mac_total{outcome="ok"}')
if [ $((m1 - m0)) -ge 2 ] && [ $((i1 - i0)) -ge 2 ] && [ "$ok1" -eq "$ok0" ]; then
  ok "a plain put: replies-only session at $((i1 - i0)) replicas, $((m1 - m0)) replies by MAC, no request accepted by MAC"
else
  bad "a plain put: sessions +$((i1 - i0)), MAC'd replies +$((m1 - m0)), requests by MAC +$((ok1 - ok0))"
fi
if [ "$(ctl --no-session get plain/a 2>"$work/err")" = one ]; then
  sleep 0.5
  i2=$(sum_metric bft_sessions_installed_total) m2=$(sum_metric bft_replies_mac_total)
  [ "$i2" -eq "$i1" ] && [ "$m2" -eq "$m1" ] && ok "--no-session: no session, replies signed" ||
    bad "--no-session: sessions $i1 -> $i2, MAC'd replies $m1 -> $m2"
else
  bad "--no-session get: $(tail -1 "$work/err")"
fi

# A SESSION the client signed, whose boxes do not open: refused, counted, nothing installed.
s1=$(it_metric "$d" 1 "bft_sessions_installed_total")
# (--no-session: a bftctl otherwise opens its own replies-only session, installed like any.)
ctl --no-session inject bad-session-box 1 3 >/dev/null 2>"$work/err"
sleep 0.5
bb=$(it_metric "$d" 1 "bft_session_bad_box_total")
s1b=$(it_metric "$d" 1 "bft_sessions_installed_total")
if [ "$bb" -eq 3 ] && [ "$s1b" -eq "$s1" ]; then
  ok "3 SESSIONs with boxes that do not open: counted, nothing installed"
else
  bad "bad boxes: counted $bb (want 3), sessions $s1 -> $s1b"
fi

# 2. A bench across a crash and restart of backup 2.
ctl --mac --client-id 2 bench --clients 4 --duration 8 --warmup 0.5 >"$work/bench" 2>"$work/bench.err" &
bp=$!
sleep 2
"$root/scripts/cluster.sh" kill 2 --dir "$d" >/dev/null 2>&1
sleep 2
"$root/scripts/cluster.sh" restart 2 --dir "$d" >/dev/null 2>&1
wait $bp; rc=$?
done_ops=$(sed -n 's/.*throughput *\([0-9.]*\) ops\/s (\([0-9]*\) ops.*/\2/p' "$work/bench")
errors=$(sed -n 's/^ *errors *\([0-9]*\).*/\1/p' "$work/bench")
if [ $rc -eq 0 ] && [ "${done_ops:-0}" -gt 0 ] && [ "${errors:-1}" -eq 0 ]; then
  ok "--mac bench across kill -9 and restart of replica 2: $done_ops ops, 0 errors"
else
  bad "bench: exit $rc, ops ${done_ops:-?}, errors ${errors:-?}: $(tail -2 "$work/bench.err")"
fi
# The restarted replica has no keys: the old sessions' requests fell back to signatures.
for _ in $(seq 1 40); do
  [ "$(it_status_field "$d" 2 last_executed)" -ge "$(it_status_field "$d" 0 last_executed)" ] 2>/dev/null && break
  sleep 0.25
done
fb=$(it_metric "$d" 2 'bft_request_mac_total{outcome="fallback"}')
if [ "$fb" -gt 0 ]; then
  ok "restarted replica 2 checked $fb requests of sessions it lost by signature"
else
  bad "restarted replica 2: no MAC fallback counted ($fb)"
fi

# 3. New sessions reach the restarted replica; a plain client is unaffected.
before=$(it_metric "$d" 2 "bft_replies_mac_total")
if ctl --mac put mac/b two >/dev/null 2>"$work/err" && [ "$(ctl get mac/b 2>>"$work/err")" = two ] &&
   [ "$(ctl --mac get mac/b 2>>"$work/err")" = two ]; then
  ok "after the restart: --mac and plain clients read and write"
else
  bad "after the restart: $(tail -1 "$work/err")"
fi
sleep 0.5
s2=$(it_metric "$d" 2 "bft_sessions_installed_total")
after=$(it_metric "$d" 2 "bft_replies_mac_total")
if [ "$s2" -ge 2 ] && [ "$after" -gt "$before" ]; then
  ok "replica 2 installed $s2 new sessions after its restart and answers by MAC again"
else
  bad "replica 2 after restart: sessions $s2, MAC'd replies $before -> $after"
fi
bad_mac=$(it_metric "$d" 0 'bft_request_mac_total{outcome="bad"}')
[ "$bad_mac" -eq 0 ] && ok "no bad MAC from honest clients" || bad "bad MACs from honest clients: $bad_mac"
"$root/scripts/cluster.sh" down --dir "$d" >/dev/null 2>&1

# 4. A cluster that forbids sessions.
d="$work/nomac"
if it_up "$d" $((base_port + 60)) -f 1 --protocol pbft --fsync never --set client_sessions=false \
     --set unordered_reads=false; then
  c="$d/cluster.ini"
  ctl --mac put x y >/dev/null 2>"$work/err"; rc=$?
  if [ $rc -ne 0 ] && grep -q "client_sessions = false" "$work/err"; then
    ok "client_sessions = false: --mac refused ($(tail -1 "$work/err"))"
  else
    bad "client_sessions = false: exit $rc, $(tail -1 "$work/err")"
  fi
  if ctl put x y >/dev/null 2>"$work/err"; then
    ok "client_sessions = false: a plain client works"
  else
    bad "client_sessions = false, plain client: $(tail -1 "$work/err")"
  fi
  # unordered_reads = false: the get is ordered, so replica 0 commits one more request. (The
  # metrics refresh every 250 ms: first wait until they show the put.)
  committed0=0
  for _ in $(seq 1 20); do
    committed0=$(it_metric "$d" 0 "bft_requests_committed_total")
    [ "$committed0" -ge 1 ] && break
    sleep 0.25
  done
  got=$(ctl get x 2>"$work/err")
  committed1=$committed0
  for _ in $(seq 1 20); do
    committed1=$(it_metric "$d" 0 "bft_requests_committed_total")
    [ "$committed1" -gt "$committed0" ] && break
    sleep 0.25
  done
  if [ "$got" = y ] && [ "$committed0" -ge 1 ] && [ "$committed1" -eq $((committed0 + 1)) ]; then
    ok "unordered_reads = false: get reads back y through ordering (committed $committed0 -> $committed1)"
  else
    bad "unordered_reads = false: got '$got', committed $committed0 -> $committed1: $(tail -1 "$work/err")"
  fi
else
  bad "the client_sessions = false cluster did not start"
fi

echo "MAC sessions: $passed passed, $failed failed"
[ $failed -eq 0 ]
