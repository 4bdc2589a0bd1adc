// SPDX-License-Identifier: GPL-2.0
// The routers' fast path (docs/dataplane.md, "Fast path"), at tc ingress, handing packets
// straight to the far end's namespace with bpf_redirect_peer:
// - router skip: in a VPC router that only forwards (no nftables of its own, so no conntrack
//   state to keep), a packet from a gateway shard to one of the VPC's server ports, and a
//   server's packet back to a shard's translated range, skip the router's IP forward, its bridge
//   and one veth backlog hop;
// - bridge skip: in any router, a frame between a consumer subnet's host and the gateway's leg
//   into that subnet skips the subnet's bridge and one veth backlog hop, unchanged.
// Everything else (ARP, other addresses, TTL about to expire, IP options) takes the normal path,
// which stays intact: with no program attached, traffic flows exactly as before.
//
// Each router gets an instance of its own (its maps hold that router's ports and legs only):
// ifindexes and addresses repeat across namespaces (VPCs may have identical CIDRs), and a tc
// program cannot tell which namespace it runs in (`bpf_get_netns_cookie` on an skb names the
// sending socket's namespace, or the initial one for a forwarded packet: measured on 6.18).
// The agent fills the maps from its plan and attaches the programs with TCX links it holds, so
// the fast path ends with the agent's process (the normal path remains) and can never outlive
// the plan it came from.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

// Set by the loader (host order): the translated range every shard's SNAT addresses come
// from, and how many addresses one shard owns (a power of two).
volatile const __u32 snat_net = 0;
volatile const __u32 snat_mask = 0xffffffff;
volatile const __u32 shard_shift = 7;

// Offsets, not offsetof(): the IPv4 header always follows a plain Ethernet header here.
#define IP_OFF ETH_HLEN
#define IP_TTL_OFF (IP_OFF + 8)
#define IP_CSUM_OFF (IP_OFF + 10)

// One routed hop: the device whose peer gets the packet, and the next link's MACs. For a
// server port (`ports`, keyed by its address in network order): its bridge end, the port's MAC,
// the subnet bridge's MAC. For a shard's leg (`legs`, keyed by shard): the leg's router end, the
// gateway end's MAC, the router end's MAC.
struct hop {
	__u32 ifindex;
	__u8 dst_mac[6];
	__u8 src_mac[6];
	__u8 pad[4];
};

// A server port's bridge port: frames it sends to this MAC are for the router.
struct bridge_val {
	__u8 bridge_mac[6];
	__u8 pad[2];
};


struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(value, struct hop);
} ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(value, struct bridge_val);
} bridge_ports SEC(".maps");

// The bridge skip: a frame arriving at `ifindex` for `mac` that the bridge would hand to a port
// whose peer holds that MAC (a consumer leg's gateway end, or a host's NIC) goes straight to
// that peer. Only frames between consumer legs and the hosts of their subnet are listed.
struct l2_key {
	__u32 ifindex;
	__u8 mac[6];
	__u8 pad[2];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct l2_key);
	__type(value, __u32);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} l2 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(value, struct hop);
} legs SEC(".maps");

// Packets and bytes sent: 0 towards servers and 1 towards gateways (router skip), 2 across the
// bridge (bridge skip). For people (`bpftool map dump name stats`, one per router instance); the
// agent does not read them.
struct stat {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, struct stat);
} stats SEC(".maps");

static __always_inline void count(struct __sk_buff *skb, __u32 stat_index)
{
	struct stat *s = bpf_map_lookup_elem(&stats, &stat_index);
	if (s) {
		s->packets += 1;
		s->bytes += skb->len;
	}
}

static __always_inline int same_mac(const __u8 *a, const __u8 *b)
{
	return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3] && a[4] == b[4] &&
	       a[5] == b[5];
}

// What the router's IP forward would do (TTL − 1, header checksum), then the next link's MACs
// and a hand-over to the peer of `ifindex`. `len` is counted before the rewrite.
static __always_inline int forward(struct __sk_buff *skb, const struct hop *h, __u32 stat_index)
{
	__u32 ifindex = h->ifindex;
	__u8 src[6], dst[6];
	__builtin_memcpy(src, h->src_mac, 6);
	__builtin_memcpy(dst, h->dst_mac, 6);
	__be16 old_word, new_word;
	__u8 macs[12];

	if (bpf_skb_load_bytes(skb, IP_TTL_OFF, &old_word, 2))
		return TC_ACT_OK;
	// The word is TTL then protocol: TTL − 1 is − 0x0100 in host order.
	new_word = bpf_htons(bpf_ntohs(old_word) - 0x0100);
	if (bpf_l3_csum_replace(skb, IP_CSUM_OFF, old_word, new_word, 2))
		return TC_ACT_OK;
	if (bpf_skb_store_bytes(skb, IP_TTL_OFF, &new_word, 2, 0))
		return TC_ACT_SHOT;
	__builtin_memcpy(macs, dst, 6);
	__builtin_memcpy(macs + 6, src, 6);
	if (bpf_skb_store_bytes(skb, 0, macs, 12, 0))
		return TC_ACT_SHOT;
	count(skb, stat_index);
	return bpf_redirect_peer(ifindex, 0);
}

// The IPv4 header of a plain (no options) IPv4 frame whose TTL allows one more hop.
static __always_inline struct iphdr *ipv4(struct __sk_buff *skb, struct ethhdr **eth_out)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + ETH_HLEN;

	if ((void *)(ip + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return 0;
	if (ip->ihl != 5 || ip->ttl <= 1)
		return 0;
	*eth_out = eth;
	return ip;
}

// tc ingress of a gateway leg's router end (h<shard>x<vpc>): to a server port of this VPC.
SEC("classifier")
int to_server(struct __sk_buff *skb)
{
	struct ethhdr *eth;
	struct iphdr *ip = ipv4(skb, &eth);
	if (!ip)
		return TC_ACT_OK;
	__u32 k = ip->daddr;
	struct hop *v = bpf_map_lookup_elem(&ports, &k);
	if (!v)
		return TC_ACT_OK;
	return forward(skb, v, 0);
}

// The bridge skip for an IPv4 frame at `eth`: the port whose peer holds its destination MAC,
// if it is listed for this ingress; the frame is unchanged (the bridge changes nothing either).
static __always_inline int bridge_skip(struct __sk_buff *skb, struct ethhdr *eth)
{
	struct l2_key k = {.ifindex = skb->ifindex};
	__builtin_memcpy(k.mac, eth->h_dest, 6);
	__u32 *to = bpf_map_lookup_elem(&l2, &k);
	if (!to)
		return -1;
	__u32 ifindex = *to;
	count(skb, 2);
	return bpf_redirect_peer(ifindex, 0);
}

// tc ingress of a consumer leg's router end (g<subnet>): the gateway's frames to a host of the
// subnet.
SEC("classifier")
int from_leg(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	int r = bridge_skip(skb, eth);
	return r < 0 ? TC_ACT_OK : r;
}

// tc ingress of a host's bridge port (n<port>): to its subnet's consumer leg (bridge skip), or a
// reply routed to a shard's range (router skip).
SEC("classifier")
int from_port(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct ethhdr *l2eth = data;
	if ((void *)(l2eth + 1) > end || l2eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	int r = bridge_skip(skb, l2eth);
	if (r >= 0)
		return r;
	struct ethhdr *eth;
	struct iphdr *ip = ipv4(skb, &eth);
	if (!ip)
		return TC_ACT_OK;
	__u32 daddr = bpf_ntohl(ip->daddr);
	if ((daddr & snat_mask) != snat_net)
		return TC_ACT_OK;
	__u32 pk = skb->ifindex;
	struct bridge_val *b = bpf_map_lookup_elem(&bridge_ports, &pk);
	// Only frames the bridge would hand to the router (addressed to its MAC) are routed.
	if (!b || !same_mac(eth->h_dest, b->bridge_mac))
		return TC_ACT_OK;
	__u32 lk = (daddr - snat_net) >> shard_shift;
	struct hop *l = bpf_map_lookup_elem(&legs, &lk);
	if (!l)
		return TC_ACT_OK;
	return forward(skb, l, 1);
}

char LICENSE[] SEC("license") = "GPL";
