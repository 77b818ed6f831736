# lib.sh: helpers shared by the integration tests and scripts/chaos.sh (sourced, not run).
#
# Every helper takes the cluster directory first (so several clusters can run side by side) and
# bounds every wait. Programs come from $BFT_BIN (make BIN=...), else the repository's bin/.

it_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export BFT_BIN=${BFT_BIN:-$it_root/bin}
it_bin=$BFT_BIN

# The host:port of replica $2's status endpoint in cluster $1.
it_status_addr() {
  awk -v want="[replica $2]" '$0==want{s=1;next} /^\[/{s=0} s && $1=="status"{print $3; exit}' "$1/cluster.ini"
}

# One field of replica $2's /status (cluster $1), empty when the replica does not answer.
it_status_field() {
  curl -sf --max-time 2 "http://$(it_status_addr "$1" "$2")/status" 2>/dev/null |
    sed -n "s/.*\"$3\":\"\{0,1\}\([^\",}]*\).*/\1/p"
}

# The sum of replica $2's /metrics lines starting with $3 (cluster $1); 0 when it does not answer.
it_metric() {
  curl -sf --max-time 2 "http://$(it_status_addr "$1" "$2")/metrics" 2>/dev/null | grep -F "$3" |
    awk '{s+=$NF} END{print s+0}'
}

# Brings a cluster up in $1 from port $2 (another range when that one is taken; ranges step by
# 40 ports, three tries): it_up DIR BASE_PORT cluster.sh-up-arguments...
it_up() {
  local dir=$1 base=$2 try; shift 2
  for try in 0 1 2; do
    rm -rf "$dir"
    if "$it_root/scripts/cluster.sh" up --dir "$dir" --base-port $((base + try * 40)) "$@" \
         >"$dir.up" 2>&1; then
      return 0
    fi
    "$it_root/scripts/cluster.sh" down --dir "$dir" >/dev/null 2>&1
    grep -q "Address in use" "$dir.up" "$dir"/logs/*.log 2>/dev/null || break
  done
  cat "$dir.up" >&2
  return 1
}
it_down() { [ -f "$1/cluster.ini" ] && "$it_root/scripts/cluster.sh" down --dir "$1" >/dev/null 2>&1; return 0; }

it_ctl() { local dir=$1; shift; "$it_bin/bftctl" -c "$dir/cluster.ini" "$@"; }

# No acknowledged write lost: reads the workload's keys back (one `list`) and compares them with
# the history $2: every key must hold the value of its last acknowledged write (the one with the
# highest revision; a deleted key must be absent). Keys an unknown-outcome write touched are
# skipped (it may have taken effect after the last acknowledged one). Prints
# "checked K keys (S skipped)" or the differences; 0 when nothing is lost.
it_acked_writes_present() {
  local dir=$1 hist=$2 prefix
  prefix=$(awk 'NR==2{ if (match($0, /k="[^"]*"/)) { k=substr($0, RSTART+3, RLENGTH-4); sub(/[0-9]+$/, "", k); print k } }' "$hist")
  [ -n "$prefix" ] || { echo "no operations in $hist"; return 1; }
  it_ctl "$dir" --timeout 20000 list "$prefix" 100000 > "$dir/readback.txt" 2>&1 || {
    echo "list $prefix failed: $(tail -1 "$dir/readback.txt")"; return 1; }
  awk -v rb="$dir/readback.txt" '
    function field(name,   r) {
      if (match($0, name "=\"[^\"]*\"")) return substr($0, RSTART + length(name) + 2, RLENGTH - length(name) - 3)
      if (match($0, name "=[^ ]*")) return substr($0, RSTART + length(name) + 1, RLENGTH - length(name) - 1)
      return ""
    }
    FNR == 1 && FILENAME != rb { next }
    FILENAME == rb { if ($2 == "=") have[$1] = $3; next }
    {
      op = $2; k = field("k")
      if (op != "put" && op != "cas" && op != "del") next
      keys[k] = 1
      if ($0 ~ / unknown( |$)/) { skip[k] = 1; next }
      if ($0 !~ / ok( |$)/) next
      rev = field("rev") + 0
      if (!(k in last) || rev > last[k]) { last[k] = rev; val[k] = (op == "del") ? "\001" : field("v") }
    }
    END {
      bad = 0; n = 0; s = 0
      for (k in keys) {
        if (k in skip) { s++; continue }
        if (!(k in last)) continue
        n++
        if (val[k] == "\001") { if (k in have) { print "  " k ": deleted (acknowledged) but reads " have[k]; bad++ } }
        else if (!(k in have)) { print "  " k ": acknowledged " val[k] " (revision " last[k] ") but absent"; bad++ }
        else if (have[k] != val[k]) { print "  " k ": acknowledged " val[k] " (revision " last[k] ") but reads " have[k]; bad++ }
      }
      printf "checked %d keys (%d skipped: unknown outcome)\n", n, s
      exit bad ? 1 : 0
    }' "$hist" "$dir/readback.txt"
}

# Samples the stable checkpoint and its digest of replicas $3... every 0.5 s into file $2 until
# the file $2.stop exists (run it in the background): lines "REPLICA SEQ DIGEST".
it_digest_sampler() {
  local dir=$1 out=$2 r s d; shift 2
  local i
  for i in $(seq 1 2400); do
    [ -e "$out.stop" ] && return 0
    for r in "$@"; do
      s=$(curl -sf --max-time 1 "http://$(it_status_addr "$dir" "$r")/status" 2>/dev/null) || continue
      d=$(echo "$s" | sed -n 's/.*"stable_checkpoint":\([0-9]*\).*"stable_digest":"\([0-9a-f]*\)".*/\1 \2/p')
      [ -n "$d" ] && echo "$r $d"
    done >> "$out"
    sleep 0.5
  done
}

# 0 when no two samples of file $1 show different digests at one stable checkpoint; prints how
# many checkpoints were seen, or the conflicting ones.
it_digests_consistent() {
  [ -s "$1" ] || { echo "no samples"; return 1; }
  awk '{ if (!($2 in d)) { d[$2] = $3; who[$2] = $1; n++ } else if (d[$2] != $3) {
           printf "  checkpoint %s: replica %s has %s, replica %s has %s\n", $2, who[$2], d[$2], $1, $3; bad++ } }
       END { printf "%d stable checkpoints sampled\n", n; exit bad ? 1 : 0 }' "$1"
}

# Waits (at most $2 seconds) until replicas $3... report one stable checkpoint above 0 with one
# digest, putting keys now and then (as client 9) so that a fresh checkpoint can form.
it_digests_agree() {
  local dir=$1 secs=$2 t0 r seqs digs same; shift 2
  t0=$SECONDS
  while [ $((SECONDS - t0)) -lt "$secs" ]; do
    seqs=(); digs=(); same=1
    for r in "$@"; do
      seqs+=("$(it_status_field "$dir" "$r" stable_checkpoint)")
      digs+=("$(it_status_field "$dir" "$r" stable_digest)")
    done
    for r in "${!seqs[@]}"; do
      [ -n "${seqs[$r]}" ] && [ "${seqs[$r]}" -gt 0 ] 2>/dev/null || same=0
      [ "${seqs[$r]}" = "${seqs[0]}" ] && [ "${digs[$r]}" = "${digs[0]}" ] || same=0
    done
    if [ $same = 1 ]; then echo "checkpoint ${seqs[0]} ${digs[0]:0:12}"; return 0; fi
    it_ctl "$dir" --client-id 9 --timeout 3000 put digest-probe "$RANDOM" >/dev/null 2>&1
    sleep 0.3
  done
  echo "stable checkpoints: ${seqs[*]}  digests: ${digs[*]}"
  return 1
}

# Inputs that correct replicas $3 (space-separated) rejected and attributed to replicas $2
# (space-separated), routine duplicates and stale messages left out: "TOTAL reason:n,...".
it_attributed() {
  local dir=$1 faulty=$2 correct=$3 r
  for r in $correct; do
    curl -sf --max-time 2 "http://$(it_status_addr "$dir" "$r")/metrics" 2>/dev/null
  done | awk -v faulty=" $faulty " '
    /^bft_rejected_total\{/ {
      if (!match($0, /reason="[^"]*"/)) next; reason = substr($0, RSTART + 8, RLENGTH - 9)
      if (!match($0, /sender="[^"]*"/)) next; sender = substr($0, RSTART + 8, RLENGTH - 9)
      if (reason == "duplicate" || reason == "stale") next
      if (index(faulty, " " sender " ") == 0) next
      by[reason] += $NF; total += $NF
    }
    END { s = ""; for (r in by) s = s (s == "" ? "" : ",") r ":" by[r]; printf "%d %s\n", total, (s == "" ? "-" : s) }'
}

# ------------------------------------------------------------------------------------------
# Network namespaces: replica i of a cluster runs in namespace TAGi at SUB.(i+1), joined by veth
# pairs to the bridge TAGbr in the root namespace (SUB.254), where the clients run. Partitions
# are iptables DROP rules inside the replicas' namespaces. TAG: a few letters and digits (link
# names are at most 15 bytes); SUB: three octets, e.g. 10.123.4.

# Why namespaces cannot be used here (empty when they can).
it_netns_unusable() {
  local probe="${1}probe"
  if [ "$(id -u)" != 0 ]; then echo "not root"; return; fi
  command -v ip >/dev/null && command -v iptables >/dev/null || { echo "ip or iptables missing"; return; }
  ip netns add "$probe" 2>/dev/null || { echo "cannot create network namespaces"; return; }
  ip netns exec "$probe" iptables -A INPUT -s 10.255.255.1 -j DROP 2>/dev/null ||
    echo "iptables does not work inside a network namespace"
  ip netns del "$probe" 2>/dev/null
}

it_netns_make() { # TAG SUB N
  local tag=$1 sub=$2 i
  ip link add "${tag}br" type bridge || return 1
  ip addr add "$sub.254/24" dev "${tag}br" && ip link set "${tag}br" up || return 1
  for i in $(seq 0 $(($3 - 1))); do
    ip netns add "$tag$i" || return 1
    ip link add "${tag}v$i" type veth peer name eth0 netns "$tag$i" || return 1
    ip link set "${tag}v$i" master "${tag}br" up || return 1
    ip netns exec "$tag$i" ip addr add "$sub.$((i + 1))/24" dev eth0 || return 1
    ip netns exec "$tag$i" ip link set eth0 up || return 1
    ip netns exec "$tag$i" ip link set lo up || return 1
  done
}

# Deletes what it_netns_make made (and whatever part of it exists).
it_netns_delete() { # TAG N
  local i
  for i in $(seq 0 $(($2 - 1))); do ip netns del "$1$i" 2>/dev/null; done
  ip link del "${1}br" 2>/dev/null
  return 0
}

# Cuts every link between the replicas in $3 and those in $4 (space-separated ids), both ways.
it_partition() { # TAG SUB "IDS" "IDS"
  local a b
  for a in $3; do for b in $4; do
    ip netns exec "$1$a" iptables -A INPUT -s "$2.$((b + 1))" -j DROP
    ip netns exec "$1$a" iptables -A OUTPUT -d "$2.$((b + 1))" -j DROP
    ip netns exec "$1$b" iptables -A INPUT -s "$2.$((a + 1))" -j DROP
    ip netns exec "$1$b" iptables -A OUTPUT -d "$2.$((a + 1))" -j DROP
  done; done
}
it_heal() { # TAG "IDS": removes every rule in those replicas' namespaces
  local i
  for i in $2; do ip netns exec "$1$i" iptables -F; done
}

# Writes a cluster (bftkeygen) in DIR whose replica i listens on SUB.(i+1), and starts it with
# each replica in its namespace: it_netns_cluster DIR TAG SUB BASE_PORT cluster.sh-up-args...
# (the args must include -f F and --protocol P, and may include --clients C).
it_netns_cluster() {
  local dir=$1 tag=$2 sub=$3 port=$4 f=1 proto=pbft clients=8 a; shift 4
  local args=("$@")
  while [ $# -gt 0 ]; do
    case "$1" in -f) f=$2; shift ;; --protocol) proto=$2; shift ;; --clients) clients=$2; shift ;; esac
    shift
  done
  mkdir -p "$dir"
  "$it_bin/bftkeygen" --faults "$f" --clients "$clients" --out "$dir" --host 127.0.0.1 \
    --base-port "$port" --protocol "$proto" --force >/dev/null || return 1
  awk -v sub_="$sub" '/^\[replica [0-9]+\]/ { split($2, a, "]"); id = a[1] + 1 }
       /^\[/ && !/^\[replica/ { id = 0 }
       id && /^(peer|client|status) *=/ { sub(/127\.0\.0\.1/, sub_ "." id) } { print }' \
    "$dir/cluster.ini" > "$dir/cluster.ini.new" && mv "$dir/cluster.ini.new" "$dir/cluster.ini"
  "$it_root/scripts/cluster.sh" up --dir "$dir" --netns "$tag" "${args[@]}" > "$dir.up" 2>&1 ||
    { cat "$dir.up" >&2; return 1; }
}
# Removes exactly the rules it_partition added for these sides (other cuts stay in place).
it_unpartition() { # TAG SUB "IDS" "IDS"
  local a b
  for a in $3; do for b in $4; do
    ip netns exec "$1$a" iptables -D INPUT -s "$2.$((b + 1))" -j DROP 2>/dev/null
    ip netns exec "$1$a" iptables -D OUTPUT -d "$2.$((b + 1))" -j DROP 2>/dev/null
    ip netns exec "$1$b" iptables -D INPUT -s "$2.$((a + 1))" -j DROP 2>/dev/null
    ip netns exec "$1$b" iptables -D OUTPUT -d "$2.$((a + 1))" -j DROP 2>/dev/null
  done; done
  return 0
}
