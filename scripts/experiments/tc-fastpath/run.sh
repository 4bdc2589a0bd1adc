#!/usr/bin/env bash
# tc-BPF fast path through a kept vpcep bench lab: discover, build, attach, measure, clean up.
# An experiment (see README.md); needs root, clang, bpftool, tc, iperf3, jq, python3, taskset.
# State goes to $WORK (default /tmp/tc-fastpath); pins to a bpffs mounted at $WORK/bpffs.
#
#   run.sh discover PREFIX      write $WORK/lab.env from the kept lab (vpcep-bench P2)
#   run.sh build                compile fastpath.bpf.c twice (fp_a.o; fp_b.o with -DWITH_CT and
#                               $CFLAGS_B, e.g. -DCT_ZONE_DIR=0)
#   run.sh load                 load + pin both objects with bpftool (type classifier)
#   run.sh on A|B|AC|BC         attach a variant's tc ingress filters (object-pinned)
#   run.sh off                  detach them (and the clsact qdiscs this script added)
#   run.sh tc-load A|B          attach with tc's own object loader instead (a loading check)
#   run.sh compare VARIANTS LABEL [ROUNDS] [SECS] [RTT_N]
#                               rounds of direct / endpoint / endpoint+each variant (A,B,AC)
#   run.sh summary LABEL        medians of $WORK/LABEL.tsv
#   run.sh counters             fast-path counters, the gateway's nft and conntrack counters
#   run.sh unload               off, unpin, unmount the bpffs
#   run.sh delete-lab PREFIX    delete that prefix's namespaces (only the kept lab's!)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
WORK=${WORK:-/tmp/tc-fastpath}
# A bpffs of our own (the host's /sys/fs/bpf is not mounted here, and we leave it alone).
BPFFS=$WORK/bpffs
PIN=$BPFFS/fp
LAST_CPU=$(($(nproc) - 1))
mkdir -p "$WORK"

die() { echo "run.sh: $*" >&2; exit 1; }
load_env() { [ -f "$WORK/lab.env" ] || die "run discover first"; . "$WORK/lab.env"; }
# nsenter keeps our mount namespace (ip netns exec remounts /sys and would hide $PIN).
inns() { local ns=$1; shift; nsenter --net="/run/netns/$ns" "$@"; }
ifindex() { ip -n "$1" -o link show dev "$2" | cut -d: -f1; }
mac() { ip -n "$1" -o link show dev "$2" | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p'; }
macdef() { echo "0x${1//:/,0x}"; }
hexip() { local IFS=.; set -- $1; printf '0x%02x%02x%02x%02x' "$1" "$2" "$3" "$4"; }
# Server namespaces of the prefix whose eth0 peer lives in router namespace $1.
servers_of() {
	for s in $(ip netns list | awk -v p="${PREFIX}s-" 'index($1,p)==1{print $1}'); do
		if ip -n "$s" -d link show dev eth0 | grep "link-netns $1\b" >/dev/null; then echo "$s"; fi
	done
}

discover() {
	PREFIX=$1
	local G CONSR PROVR CLEG PLEG HLEG BR WEB CLIENT PEER NPORT
	G=$(ip netns list | awk -v p="${PREFIX}g-" 'index($1,p)==1 && !f++{print $1}')
	[ -n "$G" ] || die "no gateway namespace ${PREFIX}g-*"
	CLEG=$(ip -n "$G" -o link | awk -F'[:@ ]+' '$2 ~ /^c/ && !f++{print $2}')
	PLEG=$(ip -n "$G" -o link | awk -F'[:@ ]+' '$2 ~ /^p/ && !f++{print $2}')
	CONSR=$(ip -n "$G" -d link show dev "$CLEG" | sed -n 's/.*link-netns \([^ ]*\).*/\1/p')
	PROVR=$(ip -n "$G" -d link show dev "$PLEG" | sed -n 's/.*link-netns \([^ ]*\).*/\1/p')
	HLEG=$(ip -n "$PROVR" -o link | awk -F'[:@ ]+' '$2 ~ /^h/ && !f++{print $2}')
	local EIP ZONE SNAT BACKEND BPORT EPORT RULES
	EIP=$(ip -n "$G" -o -4 addr show dev "$CLEG" | awk '!f++{print $4}' | cut -d/ -f1)
	RULES=$(ip netns exec "$G" nft list ruleset)
	ZONE=$(grep -o "\"$CLEG\" : [0-9]*" <<<"$RULES" | awk '{print $3}')
	SNAT=$(grep -A3 "map snat_of_zone" <<<"$RULES" | grep -o "{ $ZONE : [0-9.]*" | awk '{print $4}')
	read -r EPORT BACKEND BPORT < <(grep -o "$ZONE \. $EIP \. [0-9]* : [0-9.]* \. [0-9]*" <<<"$RULES" |
		awk 'NR==1{print $5, $7, $9}')
	for s in $(servers_of "$PROVR"); do
		if ip -n "$s" -o -4 addr show dev eth0 | grep " $BACKEND/" >/dev/null; then WEB=$s; else PEER=$s; fi
	done
	CLIENT=$(servers_of "$CONSR" | awk 'NR==1')
	# The web server's bridge port: eth0@ifN → ifindex N in the provider router.
	NPORT=$(ip -n "$PROVR" -o link | awk -F'[:@ ]+' -v i="$(ip -n "$WEB" -o link show dev eth0 |
		sed -n 's/.*@if\([0-9]*\).*/\1/p')" '$1==i{print $2}')
	BR=$(ip -n "$PROVR" -o link show type bridge | awk -F'[:@ ]+' '!f++{print $2}')
	cat >"$WORK/lab.env" <<EOF
PREFIX=$PREFIX
GW=$G
CONSR=$CONSR
PROVR=$PROVR
CLIENT=$CLIENT
PEER=$PEER
WEB=$WEB
CLEG=$CLEG
PLEG=$PLEG
HLEG=$HLEG
NPORT=$NPORT
BR=$BR
EIP=$EIP
EPORT=$EPORT
BACKEND=$BACKEND
BPORT=$BPORT
SNAT=$SNAT
ZONE=$ZONE
CLIENT_IP=$(ip -n "$CLIENT" -o -4 addr show dev eth0 | awk '{print $4}' | cut -d/ -f1)
C_IFINDEX=$(ifindex "$G" "$CLEG")
P_IFINDEX=$(ifindex "$G" "$PLEG")
H_IFINDEX=$(ifindex "$PROVR" "$HLEG")
N_IFINDEX=$(ifindex "$PROVR" "$NPORT")
C_MAC=$(mac "$G" "$CLEG")
P_MAC=$(mac "$G" "$PLEG")
H_MAC=$(mac "$PROVR" "$HLEG")
CLIENT_MAC=$(mac "$CLIENT" eth0)
SERVER_MAC=$(mac "$WEB" eth0)
BRIDGE_MAC=$(mac "$PROVR" "$BR")
EOF
	cat "$WORK/lab.env"
}

build() {
	load_env
	[ -f "$WORK/vmlinux.h" ] || bpftool btf dump file /sys/kernel/btf/vmlinux format c >"$WORK/vmlinux.h"
	local defs=(-DCLIENT_IP="$(hexip "$CLIENT_IP")" -DEP_IP="$(hexip "$EIP")" -DEP_PORT="$EPORT"
		-DBACKEND_IP="$(hexip "$BACKEND")" -DBACKEND_PORT="$BPORT" -DSNAT_IP="$(hexip "$SNAT")"
		-DSNAT_NET="$(printf '0x%08x' $(($(hexip "$SNAT") & 0xffffff80)))" -DZONE="$ZONE"
		-DC_IFINDEX="$C_IFINDEX" -DP_IFINDEX="$P_IFINDEX" -DN_IFINDEX="$N_IFINDEX"
		-DH_IFINDEX="$H_IFINDEX" -DC_MAC="$(macdef "$C_MAC")" -DP_MAC="$(macdef "$P_MAC")"
		-DH_MAC="$(macdef "$H_MAC")" -DCLIENT_MAC="$(macdef "$CLIENT_MAC")"
		-DSERVER_MAC="$(macdef "$SERVER_MAC")" -DBRIDGE_MAC="$(macdef "$BRIDGE_MAC")")
	clang -O2 -g -target bpf -I"$WORK" "${defs[@]}" -c "$HERE/fastpath.bpf.c" -o "$WORK/fp_a.o"
	clang -O2 -g -target bpf -I"$WORK" "${defs[@]}" ${CFLAGS_B:-} -DWITH_CT -c "$HERE/fastpath.bpf.c" -o "$WORK/fp_b.o"
	echo "built $WORK/fp_a.o $WORK/fp_b.o"
}

# load [tc]: load both objects, pinned under $PIN/a and $PIN/b (shared counters per object).
load() {
	load_env
	unload >/dev/null 2>&1 || true
	mkdir -p "$BPFFS"
	mountpoint -q "$BPFFS" || mount -t bpf bpf "$BPFFS"
	mkdir -p "$PIN"
	bpftool prog loadall "$WORK/fp_a.o" "$PIN/a" type classifier pinmaps "$PIN/a/maps"
	bpftool prog loadall "$WORK/fp_b.o" "$PIN/b" type classifier pinmaps "$PIN/b/maps"
	echo "loaded: $(ls "$PIN/a" "$PIN/b" | tr '\n' ' ')"
}

attach_one() { # NS DEV PINNED-PROGRAM
	inns "$1" tc qdisc replace dev "$2" clsact
	inns "$1" tc filter replace dev "$2" ingress pref 1 handle 1 bpf da object-pinned "$3"
	echo "$1 $2" >>"$WORK/attached"
}

# on VARIANT: the tc filters of A, B, AC or BC (C: the provider router's forward too; its
# programs come from the same object).
on() {
	load_env
	off
	local v=$1 o
	case $v in A | AC) o=a ;; B | BC) o=b ;; *) die "variant A|B|AC|BC" ;; esac
	attach_one "$GW" "$CLEG" "$PIN/$o/cons_$o"
	attach_one "$GW" "$PLEG" "$PIN/$o/prov_$o"
	if [ "${v:1:1}" = C ]; then
		attach_one "$PROVR" "$HLEG" "$PIN/$o/rtr_in"
		attach_one "$PROVR" "$NPORT" "$PIN/$o/rtr_out"
	fi
}

# off: remove our filters (and the clsact qdiscs we added; the lab has none of its own).
off() {
	if [ -f "$WORK/attached" ]; then
		while read -r ns dev; do
			inns "$ns" tc qdisc del dev "$dev" clsact 2>/dev/null || true
		done <"$WORK/attached"
		rm -f "$WORK/attached"
	fi
}

# tc-load VARIANT: attach with tc's own loader (iproute2's libbpf) instead: a check that the
# kfunc object loads that way too. No pins, no shared counters.
tc_load() {
	load_env
	off
	local v=$1 o
	case $v in A) o=a ;; B) o=b ;; *) die "variant A|B" ;; esac
	for leg in "cons:$CLEG" "prov:$PLEG"; do
		inns "$GW" tc qdisc replace dev "${leg#*:}" clsact
		inns "$GW" tc filter replace dev "${leg#*:}" ingress pref 1 handle 1 bpf da \
			obj "$WORK/fp_$o.o" sec tc program "${leg%%:*}_$o"
		echo "$GW ${leg#*:}" >>"$WORK/attached"
	done
	inns "$GW" tc filter show dev "$CLEG" ingress
}

unload() {
	load_env
	off
	rm -rf "$PIN"
	if mountpoint -q "$BPFFS"; then umount "$BPFFS"; fi
	echo unloaded
}

counters() {
	load_env
	local o
	for o in a b; do
		[ -d "$PIN/$o/maps" ] || continue
		echo "object $o fast path [cons prov ct_miss ct_slow tcp_flags rtr_in rtr_out], summed over CPUs:"
		bpftool -j map dump pinned "$PIN/$o/maps/cnt" | jq -c '[.[] | [.formatted.values[].value] | add]'
	done
	echo "gateway nft set counters (ep_drop ep_new ep_rx ep_tx):"
	ip netns exec "$GW" nft list ruleset | grep 'counter packets' | sed 's/^\s*//'
	echo "gateway conntrack: $(ip netns exec "$GW" conntrack -C) entries; stats summed over CPUs:"
	ip netns exec "$GW" conntrack -S | tr ' \t' '\n\n' | grep -E '^(found|invalid|insert|drop)=' |
		awk -F= '{a[$1]+=$2} END{for(k in a) printf "%s=%d ", k, a[k]; print ""}'
}


softirq_ticks() { awk '/^cpu /{print $8}' /proc/stat; }

# iperf_gbps NS HOST SECS EXTRA...: "Gbit/s received  softirq ms per GB received". The second
# figure is the machine's softirq time (tick-sampled, all CPUs) during the run: the bridges,
# the gateway, the routers and the receiver's stack all run in NET_RX softirq, while the other
# work on this shared VM is mostly user time, so it is a per-byte cost that contention moves less.
iperf_gbps() {
	local ns=$1 host=$2 secs=$3 t0 t1 json
	shift 3
	t0=$(softirq_ticks)
	json=$(ip netns exec "$ns" iperf3 -J -c "$host" -p "$EPORT" -t "$secs" "$@")
	t1=$(softirq_ticks)
	jq -r --argjson ms "$(((t1 - t0) * 1000 / $(getconf CLK_TCK)))" \
		'(.end.sum_received // .end.sum) | "\(.bits_per_second / 1e9) \($ms / (.bytes / 1e9))"' <<<"$json"
}

rtt_p50() { ip netns exec "$1" taskset -c "$LAST_CPU" python3 "$HERE/rtt.py" ping "$2" "$EPORT" "$3" | cut -d' ' -f1; }

# compare VARIANTS LABEL [ROUNDS] [SECS] [RTT_N]: per round and kind: direct, endpoint without
# BPF, then the endpoint with each variant (comma list, e.g. A,B,AC), filters switched between
# runs. The machine's load changes faster than one variant's whole run, so every round holds
# all of them and the summary takes medians of per-round ratios. Run build and load first.
compare() {
	load_env
	local vs=$1 label=$2 rounds=${3:-5} secs=${4:-4} n=${5:-20000}
	local out=$WORK/$label.tsv r k v d x cols
	[ -d "$PIN" ] || die "load first"
	IFS=, read -ra V <<<"$vs"
	off
	echo "# $label: variants=$vs rounds=$rounds secs=$secs rtt_n=$n load_start=$(cut -d' ' -f1-3 /proc/loadavg) $(date -u +%FT%TZ)" | tee "$out"
	echo "# kind round value(direct endpoint ${V[*]}) [softirq ms/GB (same order)]" | tee -a "$out"
	ip netns exec "$WEB" iperf3 -s -p "$BPORT" -D -I "$WORK/iperf.pid"
	until ip netns exec "$WEB" ss -Hltn "sport = :$BPORT" | grep -q .; do sleep 0.05; done
	for r in $(seq 1 "$rounds"); do
		for k in tcp1 tcp4 udp; do
			local extra=() g=() c=()
			case $k in tcp4) extra=(-P 4) ;; udp) extra=(-u -b 0 -l 1400) ;; esac
			x=$(iperf_gbps "$PEER" "$BACKEND" "$secs" "${extra[@]}"); g+=("${x% *}"); c+=("${x#* }")
			x=$(iperf_gbps "$CLIENT" "$EIP" "$secs" "${extra[@]}"); g+=("${x% *}"); c+=("${x#* }")
			for v in "${V[@]}"; do
				on "$v"
				x=$(iperf_gbps "$CLIENT" "$EIP" "$secs" "${extra[@]}"); g+=("${x% *}"); c+=("${x#* }")
				off
			done
			echo -e "$k\t$r\t$(IFS=$'\t'; echo "${g[*]}")\t$(IFS=$'\t'; echo "${c[*]}")" | tee -a "$out"
		done
	done
	kill "$(cat "$WORK/iperf.pid")"
	while ip netns exec "$WEB" ss -Hltn "sport = :$BPORT" | grep -q .; do sleep 0.05; done
	ip netns exec "$WEB" taskset -c "$LAST_CPU" python3 "$HERE/rtt.py" serve "$BPORT" &
	local srv=$!
	until ip netns exec "$WEB" ss -Hltn "sport = :$BPORT" | grep -q .; do sleep 0.05; done
	for r in $(seq 1 "$rounds"); do
		local g=()
		g+=("$(rtt_p50 "$PEER" "$BACKEND" "$n")")
		g+=("$(rtt_p50 "$CLIENT" "$EIP" "$n")")
		for v in "${V[@]}"; do
			on "$v"
			g+=("$(rtt_p50 "$CLIENT" "$EIP" "$n")")
			off
		done
		echo -e "rtt\t$r\t$(IFS=$'\t'; echo "${g[*]}")" | tee -a "$out"
	done
	kill "$srv"
	wait "$srv" 2>/dev/null || true
	echo "# load_end=$(cut -d' ' -f1-3 /proc/loadavg) $(date -u +%FT%TZ)" | tee -a "$out"
	summary "$label"
}

# summary LABEL: medians over rounds of the values, of the per-round ratios to direct (µs added
# for round trips) and of softirq ms/GB.
summary() {
	local out=$WORK/$1.tsv
	awk -F'\t' '
	function med(s,   n, a, i, j, t) {
		n = split(s, a, " ")
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	/^# kind/ { sub(/.*value\(/, ""); sub(/\).*/, ""); nv = split($0, names, " "); next }
	/^#/ { next }
	{
		k = $1; kinds[k] = 1
		for (i = 1; i <= nv; i++) {
			val[k, i] = val[k, i] " " $(2 + i)
			rel[k, i] = rel[k, i] " " (k == "rtt" ? $(2 + i) - $3 : 100 * $(2 + i) / $3)
			if (k != "rtt") cost[k, i] = cost[k, i] " " $(2 + nv + i)
		}
		rounds[k]++
	}
	END {
		split("tcp1 tcp4 udp rtt", order, " ")
		for (o = 1; o <= 4; o++) {
			k = order[o]; if (!(k in kinds)) continue
			unit = k == "rtt" ? "p50 us" : "Gbit/s"
			printf "%-5s %-7s rounds=%d\n", k, unit, rounds[k]
			for (i = 1; i <= nv; i++) {
				if (k == "rtt") printf "   %-9s %8.1f  %+6.1f us", names[i], med(val[k, i]), med(rel[k, i])
				else printf "   %-9s %8.2f  %6.1f %%  %6.0f softirq ms/GB", names[i], med(val[k, i]), med(rel[k, i]), med(cost[k, i])
				printf "\n"
			}
		}
	}' "$out" | tee "$out.summary"
}

delete_lab() {
	local p=$1 ns
	[ -n "$p" ] || die "prefix"
	for ns in $(ip netns list | awk -v p="$p" 'index($1,p)==1{print $1}'); do
		ip netns del "$ns" && echo "deleted $ns"
	done
}

cmd=${1:-}
shift || true
case $cmd in
discover) discover "$@" ;;
build) build ;;
load) load ;;
on) on "$@" ;;
off) off ;;
tc-load) tc_load "$@" ;;
unload) unload ;;
compare) compare "$@" ;;
summary) summary "$@" ;;
counters) counters ;;
delete-lab) delete_lab "$@" ;;
*) sed -n '2,/^set -e/p' "$0" | sed '$d'; exit 1 ;;
esac
