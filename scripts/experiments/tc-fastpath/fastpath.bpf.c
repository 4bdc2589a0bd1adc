// SPDX-License-Identifier: GPL-2.0
// tc-BPF fast path through a vpcep gateway shard: an experiment, not product code.
//
// The lab's addresses, MACs and ifindexes are compile-time constants (-D...), passed by
// run.sh after it has read them from the kept lab: the fastest possible match, so variant A
// is an upper bound. Variant B (-DWITH_CT) takes the rewrite from the gateway's conntrack
// entry per packet instead. Variant C programs skip the provider router's forward too.
//
//   cons_a / cons_b  tc ingress of c<subnet> (gateway ns): consumer → endpoint, DNAT+SNAT,
//                    bpf_redirect_peer(p<vpc>) → lands on h<shard>x<vpc> in the provider router
//   prov_a / prov_b  tc ingress of p<vpc> (gateway ns): backend → SNAT address, reverse,
//                    bpf_redirect_peer(c<subnet>) → lands on g<subnet> (consumer bridge port)
//   rtr_in           tc ingress of h<shard>x<vpc> (provider router ns): → backend,
//                    bpf_redirect_peer(n<port>) → lands on the server's eth0
//   rtr_out          tc ingress of n<port> (provider router ns): backend → SNAT range,
//                    bpf_redirect_peer(h<shard>x<vpc>) → lands on p<vpc> (then prov_*)
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define ETH_P_IP 0x0800
#define ETH_HLEN 14
// Plain numbers: vmlinux.h marks its structs preserve_access_index, and offsetof() on them
// became a CO-RE load from address 16 that the verifier rejected ("R1 invalid mem access").
#define IP_CSUM_OFF (ETH_HLEN + 10)
#define IP_TTL_OFF (ETH_HLEN + 8)
#define IP_SRC_OFF (ETH_HLEN + 12)
#define IP_DST_OFF (ETH_HLEN + 16)
#define L4_OFF (ETH_HLEN + 20)
#define TCP_CSUM_OFF (L4_OFF + 16)
#define UDP_CSUM_OFF (L4_OFF + 6)
#define TC_ACT_OK 0
#define TC_ACT_SHOT 2
#define BPF_F_CURRENT_NETNS (-1)
#ifndef CT_ZONE_DIR
#define CT_ZONE_DIR 1
#endif

// Host-order constants from run.sh; the defaults only let the file compile on its own.
#ifndef CLIENT_IP
#define CLIENT_IP 0x0a00001e  // 10.0.0.30
#define EP_IP 0x0a000002
#define EP_PORT 80
#define BACKEND_IP 0x0a000014  // 10.0.0.20
#define BACKEND_PORT 80
#define SNAT_IP 0xc6138001
#define SNAT_NET 0xc6138000  // the shard's /25
#define ZONE 1
#define C_IFINDEX 2
#define P_IFINDEX 3
#define N_IFINDEX 4
#define H_IFINDEX 5
#define C_MAC 0, 0, 0, 0, 0, 1
#define P_MAC 0, 0, 0, 0, 0, 2
#define H_MAC 0, 0, 0, 0, 0, 3
#define CLIENT_MAC 0, 0, 0, 0, 0, 4
#define SERVER_MAC 0, 0, 0, 0, 0, 5
#define BRIDGE_MAC 0, 0, 0, 0, 0, 6
#endif

static const __u8 c_mac[6] = {C_MAC}, p_mac[6] = {P_MAC}, h_mac[6] = {H_MAC},
		  client_mac[6] = {CLIENT_MAC}, server_mac[6] = {SERVER_MAC},
		  bridge_mac[6] = {BRIDGE_MAC};

enum {
	CNT_CONS,      // consumer → provider packets sent by the fast path
	CNT_PROV,      // provider → consumer packets sent by the fast path
	CNT_CT_MISS,   // B: no conntrack entry
	CNT_CT_SLOW,   // B: entry found but not (yet) eligible (handshake, not NATed, ...)
	CNT_FLAGS,     // B: TCP SYN/FIN/RST left to the normal path
	CNT_RTR_IN,    // C: router forward skipped towards the server
	CNT_RTR_OUT,   // C: router forward skipped towards the gateway
	CNT_MAX,
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} cnt SEC(".maps");

static __always_inline void count(__u32 i)
{
	__u64 *v = bpf_map_lookup_elem(&cnt, &i);
	if (v)
		*v += 1;
}

// The packet's IPv4 and L4 headers if it is plain IPv4 (no options) TCP or UDP.
struct pkt {
	__be32 saddr, daddr;
	__be16 sport, dport;
	__u8 proto, tcp_flags, ttl;
};

static __always_inline int parse(struct __sk_buff *skb, struct pkt *p)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + ETH_HLEN;
	if ((void *)(ip + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return -1;
	if (ip->ihl != 5 || (ip->frag_off & bpf_htons(0x3fff)) || ip->ttl <= 1)
		return -1;
	p->saddr = ip->saddr;
	p->daddr = ip->daddr;
	p->proto = ip->protocol;
	p->ttl = ip->ttl;
	p->tcp_flags = 0;
	if (ip->protocol == IPPROTO_TCP) {
		struct tcphdr *th = (void *)(ip + 1);
		if ((void *)(th + 1) > end)
			return -1;
		p->sport = th->source;
		p->dport = th->dest;
		p->tcp_flags = ((__u8 *)th)[13];
	} else if (ip->protocol == IPPROTO_UDP) {
		struct udphdr *uh = (void *)(ip + 1);
		if ((void *)(uh + 1) > end)
			return -1;
		p->sport = uh->source;
		p->dport = uh->dest;
	} else {
		return -1;
	}
	return 0;
}

// Rewrite addresses and ports (fixing the IP and L4 checksums incrementally, which also
// keeps CHECKSUM_PARTIAL skbs from veth right: for those only the pseudo-header part is
// touched), decrement the TTL for the hop we skip, set the MACs of the next link.
static __always_inline void rewrite(struct __sk_buff *skb, struct pkt *p, __be32 saddr,
				    __be16 sport, __be32 daddr, __be16 dport,
				    const __u8 *smac, const __u8 *dmac)
{
	__u32 l4csum = p->proto == IPPROTO_TCP ? TCP_CSUM_OFF : UDP_CSUM_OFF;
	__u64 l4f = p->proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;
	__u32 sp_off = L4_OFF, dp_off = L4_OFF + 2;

	if (saddr != p->saddr) {
		bpf_l4_csum_replace(skb, l4csum, p->saddr, saddr, l4f | BPF_F_PSEUDO_HDR | 4);
		bpf_l3_csum_replace(skb, IP_CSUM_OFF, p->saddr, saddr, 4);
		bpf_skb_store_bytes(skb, IP_SRC_OFF, &saddr, 4, 0);
	}
	if (daddr != p->daddr) {
		bpf_l4_csum_replace(skb, l4csum, p->daddr, daddr, l4f | BPF_F_PSEUDO_HDR | 4);
		bpf_l3_csum_replace(skb, IP_CSUM_OFF, p->daddr, daddr, 4);
		bpf_skb_store_bytes(skb, IP_DST_OFF, &daddr, 4, 0);
	}
	if (sport != p->sport) {
		bpf_l4_csum_replace(skb, l4csum, p->sport, sport, l4f | 2);
		bpf_skb_store_bytes(skb, sp_off, &sport, 2, 0);
	}
	if (dport != p->dport) {
		bpf_l4_csum_replace(skb, l4csum, p->dport, dport, l4f | 2);
		bpf_skb_store_bytes(skb, dp_off, &dport, 2, 0);
	}
	// TTL shares a 16-bit checksum word with the protocol.
	__be16 old = bpf_htons(((__u16)p->ttl << 8) | p->proto);
	__be16 new = bpf_htons(((__u16)(p->ttl - 1) << 8) | p->proto);
	__u8 ttl = p->ttl - 1;
	bpf_l3_csum_replace(skb, IP_CSUM_OFF, old, new, 2);
	bpf_skb_store_bytes(skb, IP_TTL_OFF, &ttl, 1, 0);
	bpf_skb_store_bytes(skb, 0, dmac, 6, 0);
	bpf_skb_store_bytes(skb, 6, smac, 6, 0);
}

#ifndef WITH_CT
// Variant A: one static flow (client → endpoint:port), no conntrack at all.
SEC("tc")
int cons_a(struct __sk_buff *skb)
{
	struct pkt p;
	if (parse(skb, &p) || p.saddr != bpf_htonl(CLIENT_IP) || p.daddr != bpf_htonl(EP_IP) ||
	    p.dport != bpf_htons(EP_PORT))
		return TC_ACT_OK;
	rewrite(skb, &p, bpf_htonl(SNAT_IP), p.sport, bpf_htonl(BACKEND_IP),
		bpf_htons(BACKEND_PORT), p_mac, h_mac);
	count(CNT_CONS);
	return bpf_redirect_peer(P_IFINDEX, 0);
}

SEC("tc")
int prov_a(struct __sk_buff *skb)
{
	struct pkt p;
	if (parse(skb, &p) || p.saddr != bpf_htonl(BACKEND_IP) ||
	    p.sport != bpf_htons(BACKEND_PORT) || p.daddr != bpf_htonl(SNAT_IP))
		return TC_ACT_OK;
	rewrite(skb, &p, bpf_htonl(EP_IP), bpf_htons(EP_PORT), bpf_htonl(CLIENT_IP), p.dport,
		c_mac, client_mac);
	count(CNT_PROV);
	return bpf_redirect_peer(C_IFINDEX, 0);
}
#else
// Variant B: the translation comes from the gateway's own conntrack entry.
struct nf_conn *bpf_skb_ct_lookup(struct __sk_buff *, struct bpf_sock_tuple *, u32,
				  struct bpf_ct_opts *, u32) __ksym;
void bpf_ct_release(struct nf_conn *) __ksym;

#define NEEDED ((1UL << IPS_CONFIRMED_BIT) | (1UL << IPS_SEEN_REPLY_BIT) | \
		(1UL << IPS_SRC_NAT_DONE_BIT) | (1UL << IPS_DST_NAT_DONE_BIT))

// Look the packet up in `zone`; on an eligible entry whose tuple matched in direction `dir`,
// fill the translated addresses (the other direction's tuple, swapped) and return 0.
static __always_inline int ct_translate(struct __sk_buff *skb, struct pkt *p, __u16 zone,
					__u8 dir, __be32 *saddr, __be16 *sport,
					__be32 *daddr, __be16 *dport)
{
	// SYN/FIN/RST (and anything odd) take the normal path so conntrack sees every state change.
	if (p->proto == IPPROTO_TCP && (p->tcp_flags & 0x07)) {
		count(CNT_FLAGS);
		return -1;
	}
	struct bpf_sock_tuple t = {};
	t.ipv4.saddr = p->saddr;
	t.ipv4.daddr = p->daddr;
	t.ipv4.sport = p->sport;
	t.ipv4.dport = p->dport;
	// The gateway sets `ct original zone`: the zone holds for the original direction only
	// (NF_CT_ZONE_DIR_ORIG = 1), replies match zone 0. With the kfunc's default (0 → both
	// directions) neither direction of the gateway's entries would be found.
	struct bpf_ct_opts o = {.netns_id = BPF_F_CURRENT_NETNS, .l4proto = p->proto,
				.ct_zone_id = zone, .ct_zone_dir = CT_ZONE_DIR};
	struct nf_conn *ct = bpf_skb_ct_lookup(skb, &t, sizeof(t.ipv4), &o, sizeof(o));
	if (!ct) {
		count(CNT_CT_MISS);
		return -1;
	}
	int ret = -1;
	if (o.dir == dir && (ct->status & NEEDED) == NEEDED &&
	    (p->proto != IPPROTO_TCP || ct->proto.tcp.state == TCP_CONNTRACK_ESTABLISHED)) {
		struct nf_conntrack_tuple *other = &ct->tuplehash[!dir].tuple;
		*saddr = other->dst.u3.ip;
		*daddr = other->src.u3.ip;
		*sport = other->dst.u.all;
		*dport = other->src.u.all;
		ret = 0;
	} else {
		count(CNT_CT_SLOW);
	}
	bpf_ct_release(ct);
	return ret;
}

SEC("tc")
int cons_b(struct __sk_buff *skb)
{
	struct pkt p;
	__be32 s, d;
	__be16 sp, dp;
	if (parse(skb, &p) || ct_translate(skb, &p, ZONE, IP_CT_DIR_ORIGINAL, &s, &sp, &d, &dp))
		return TC_ACT_OK;
	rewrite(skb, &p, s, sp, d, dp, p_mac, h_mac);
	count(CNT_CONS);
	return bpf_redirect_peer(P_IFINDEX, 0);
}

SEC("tc")
int prov_b(struct __sk_buff *skb)
{
	struct pkt p;
	__be32 s, d;
	__be16 sp, dp;
	// Replies carry the SNAT address of the leg they belong to: its zone is the entry's.
	if (parse(skb, &p) || p.daddr != bpf_htonl(SNAT_IP) ||
	    ct_translate(skb, &p, ZONE, IP_CT_DIR_REPLY, &s, &sp, &d, &dp))
		return TC_ACT_OK;
	rewrite(skb, &p, s, sp, d, dp, c_mac, client_mac);
	count(CNT_PROV);
	return bpf_redirect_peer(C_IFINDEX, 0);
}
#endif

// Variant C: the provider router's forward for the backend, both ways (static match).
SEC("tc")
int rtr_in(struct __sk_buff *skb)
{
	struct pkt p;
	if (parse(skb, &p) || p.daddr != bpf_htonl(BACKEND_IP) ||
	    (p.saddr & bpf_htonl(0xffffff80)) != bpf_htonl(SNAT_NET))
		return TC_ACT_OK;
	rewrite(skb, &p, p.saddr, p.sport, p.daddr, p.dport, bridge_mac, server_mac);
	count(CNT_RTR_IN);
	return bpf_redirect_peer(N_IFINDEX, 0);
}

SEC("tc")
int rtr_out(struct __sk_buff *skb)
{
	struct pkt p;
	if (parse(skb, &p) || p.saddr != bpf_htonl(BACKEND_IP) ||
	    (p.daddr & bpf_htonl(0xffffff80)) != bpf_htonl(SNAT_NET))
		return TC_ACT_OK;
	rewrite(skb, &p, p.saddr, p.sport, p.daddr, p.dport, h_mac, p_mac);
	count(CNT_RTR_OUT);
	return bpf_redirect_peer(H_IFINDEX, 0);
}

char LICENSE[] SEC("license") = "GPL";
