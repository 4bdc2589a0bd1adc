//! The pure planner over representative topologies, asserted as the text the kernel gets
//! (`linux::describe`: `ip` commands and the `nft -f` script), plus a root check that the
//! kernel accepts every table planned for many varied topologies.

use serde_json::{Value as Json, json};

use super::*;

/// A namespace as `ip`/`nft` commands, its table's stamp left out: the stamp is a hash of the
/// table's encoding, which these tests read as text; `netlink_batches_load_what_the_script_loads`
/// checks it.
fn describe(p: &NsPlan) -> String {
    unstamped(&crate::kernel::linux::describe(p))
}

fn unstamped(text: &str) -> String {
    text.lines()
        .filter(|l| !l.starts_with("  comment \"vpcep skeleton "))
        .map(|l| format!("{l}\n"))
        .collect()
}
use crate::plan::desired::Versioned;

/// Ids are 8 hex digits so names show them whole (`short`).
const PROV: &str = "aaaa0001";
const PROV_NET: &str = "bbbb0001";
const PROV_NET2: &str = "bbbb0002";
const CONS: &str = "aaaa0002";
const CONS_NET: &str = "bbbb0003";
const SVC: &str = "5e700001";
const LB: &str = "1b000001";
const VIP_PORT: &str = "cccc0100";

/// (protocol, port, members as (address, port))
type ListenerSpec<'a> = (&'a str, u16, &'a [(&'a str, u16)]);

/// A desired state built from the JSON the feed carries (only what the planner reads varies).
#[derive(Default)]
struct Topology(Desired);

fn versioned<T: serde::de::DeserializeOwned>(mut v: Json) -> Versioned<T> {
    let extra = json!({"project_id": "p", "generation": 1, "created_ms": 0, "updated_ms": 0,
        "status": "ACTIVE", "name": "n", "description": ""});
    for (k, x) in extra.as_object().into_iter().flatten() {
        if v.get(k).is_none() {
            v[k] = x.clone();
        }
    }
    Versioned {
        generation: 1,
        spec: serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{e}: {v}")),
    }
}

impl Topology {
    fn vpc(mut self, id: &str, cidr: &str) -> Self {
        self.0
            .vpcs
            .insert(id.into(), versioned(json!({"id": id, "cidr": cidr})));
        self
    }
    fn subnet(mut self, id: &str, vpc: &str, cidr: &str, gateway: &str) -> Self {
        let s = json!({"id": id, "vpc_id": vpc, "cidr": cidr, "gateway_ip": gateway,
            "primary_dns": null, "secondary_dns": null, "dhcp_enable": true, "availability_zone": null});
        self.0.subnets.insert(id.into(), versioned(s));
        self
    }
    fn port(mut self, id: &str, subnet: &str, ip: &str, groups: &[&str]) -> Self {
        let vpc = self.0.subnets[subnet].spec.vpc_id.clone();
        let p = json!({"id": id, "vpc_id": vpc, "subnet_id": subnet, "ip_address": ip,
            "mac_address": format!("fa:16:3e:{}:{}:{}", &id[2..4], &id[4..6], &id[6..8]),
            "device_owner": "compute:lab", "device_id": "", "security_groups": groups,
            "admin_state_up": true});
        self.0.ports.insert(id.into(), versioned(p));
        self
    }
    fn server(mut self, id: &str, nics: &[&str], groups: &[&str]) -> Self {
        let vpc = self.0.ports[nics[0]].spec.vpc_id.clone();
        let s = json!({"id": id, "vpc_id": vpc, "nics": nics, "security_groups": groups});
        self.0.servers.insert(id.into(), versioned(s));
        self
    }
    /// A load balancer on `VIP_PORT`.
    fn lb(mut self, subnet: &str, vip: &str, listeners: &[ListenerSpec<'_>]) -> Self {
        self = self.port(VIP_PORT, subnet, vip, &[]);
        let vpc = self.0.subnets[subnet].spec.vpc_id.clone();
        let listeners: Vec<Json> = listeners
            .iter()
            .map(|(proto, port, members)| {
                let members: Vec<Json> = members
                    .iter()
                    .map(|(a, p)| json!({"address": a, "port": p}))
                    .collect();
                json!({"protocol": proto, "port": port, "members": members})
            })
            .collect();
        let lb = json!({"id": LB, "vpc_id": vpc, "subnet_id": subnet, "vip_port_id": VIP_PORT,
            "vip_address": vip, "listeners": listeners});
        self.0.lbs.insert(LB.into(), versioned(lb));
        self
    }
    fn site(mut self, id: &str, vpc: &str, cidr: &str) -> Self {
        let s = json!({"id": id, "vpc_id": vpc, "cidr": cidr});
        self.0.sites.insert(id.into(), versioned(s));
        self
    }
    /// A service of `PROV` whose backend is `port` (`lb`: the load balancer's VIP), mapping
    /// (client port, server port, protocol).
    fn service(mut self, port: &str, lb: bool, ports: &[(u16, u16, &str)]) -> Self {
        let p = &self.0.ports[port].spec;
        let backend = json!({"port_id": port, "ip": p.ip_address, "subnet_id": p.subnet_id});
        let ports: Vec<Json> = ports
            .iter()
            .map(|(c, s, proto)| json!({"client_port": c, "server_port": s, "protocol": proto}))
            .collect();
        let svc = json!({"id": SVC, "domain_id": "d", "region": "r", "short_name": null,
            "service_name": "r.web.x", "port_id": port, "vpc_id": PROV,
            "server_type": if lb { "LB" } else { "VM" }, "service_type": "interface",
            "approval_enabled": false, "status": "available", "ports": ports, "tcp_proxy": "close",
            "tags": [], "enable_policy": false, "is_public": false, "backend": backend, "error": []});
        self.0.services.insert(SVC.into(), versioned(svc));
        self
    }
    fn endpoint(mut self, id: &str, subnet: &str, ip: &str, whitelist: Option<&[&str]>) -> Self {
        let vpc = self.0.subnets[subnet].spec.vpc_id.clone();
        let e = json!({"id": id, "domain_id": "d", "region": "r", "service_id": SVC,
            "service_name": "r.web.x", "service_type": "interface", "vpc_id": vpc,
            "subnet_id": subnet, "ip": ip, "marker_id": 1, "status": "accepted",
            "enable_dns": false, "dns_names": [], "whitelist": whitelist.unwrap_or_default(),
            "enable_whitelist": whitelist.is_some(), "tags": [], "connection_description": "",
            "routetables": [], "policy_statement": [], "policy_document": null, "error": []});
        self.0.endpoints.insert(id.into(), versioned(e));
        self
    }
    #[allow(clippy::too_many_arguments)]
    fn rule(
        mut self,
        id: &str,
        group: &str,
        direction: &str,
        protocol: Option<&str>,
        ports: Option<(u16, u16)>,
        prefix: Option<&str>,
        remote_group: Option<&str>,
    ) -> Self {
        let r = json!({"id": id, "security_group_id": group, "direction": direction,
            "ethertype": "IPv4", "protocol": protocol, "port_range_min": ports.map(|p| p.0),
            "port_range_max": ports.map(|p| p.1), "remote_ip_prefix": prefix,
            "remote_group_id": remote_group});
        self.0.rules.insert(id.into(), versioned(r));
        self
    }

    fn plan(&self) -> Plan {
        plan(&self.0, &Namespaces::default(), &mut Legs::default())
    }
}

/// Provider VPC 10.0.0.0/16 (subnet .0.0/24, `PROV_NET`) and consumer VPC on the same CIDR
/// (`CONS_NET`).
fn two_vpcs() -> Topology {
    Topology::default()
        .vpc(PROV, "10.0.0.0/16")
        .subnet(PROV_NET, PROV, "10.0.0.0/24", "10.0.0.1")
        .vpc(CONS, "10.0.0.0/16")
        .subnet(CONS_NET, CONS, "10.0.0.0/24", "10.0.0.1")
}

/// An LB-backed service whose one listener (`proto` 80 → 8080) has `members` members at
/// 10.0.0.11…, with one accepted endpoint.
fn lb_service(proto: &str, members: usize) -> Topology {
    let addrs: Vec<String> = (0..members).map(|i| format!("10.0.0.{}", 11 + i)).collect();
    let members: Vec<(&str, u16)> = addrs.iter().map(|a| (a.as_str(), 8080)).collect();
    two_vpcs()
        .lb(PROV_NET, "10.0.0.100", &[(proto, 80, &members)])
        .service(VIP_PORT, true, &[(80, 80, proto)])
        .endpoint("e0000001", CONS_NET, "10.0.0.50", None)
}

fn ns<'a>(p: &'a Plan, name: &str) -> &'a NsPlan {
    p.namespaces
        .get(name)
        .unwrap_or_else(|| panic!("no namespace {name} in {:?}", p.namespaces.keys()))
}

fn script(p: &Plan, name: &str) -> String {
    unstamped(&ns(p, name).nft.as_ref().expect("a table").script())
}

const ROUTER_TABLE_HEAD: &str = "add table ip vpcep_router\ndelete table ip vpcep_router\ntable ip vpcep_router {\n  chain pre {\n    type nat hook prerouting priority dstnat; policy accept;\n";

#[test]
fn router_spreads_a_listener_over_one_two_and_eight_members() {
    let one = script(&lb_service("TCP", 1).plan(), "vpcep-r-aaaa0001");
    assert_eq!(
        one,
        format!(
            "{ROUTER_TABLE_HEAD}    iifname \"h*\" ip daddr 10.0.0.100 tcp dport 80 dnat to 10.0.0.11:8080\n  }}\n}}\n"
        )
    );
    // Two members: the map of the round robin ends in `}` like the chain does, and the chain
    // used to be closed only when the text did not already end so (issue 9).
    let two = script(&lb_service("TCP", 2).plan(), "vpcep-r-aaaa0001");
    assert_eq!(
        two,
        format!(
            "{ROUTER_TABLE_HEAD}    iifname \"h*\" ip daddr 10.0.0.100 tcp dport 80 dnat ip to numgen inc mod 2 map {{ 0 : 10.0.0.11 . 8080, 1 : 10.0.0.12 . 8080 }}\n  }}\n}}\n"
        )
    );
    let eight = script(&lb_service("TCP", 8).plan(), "vpcep-r-aaaa0001");
    let members: Vec<String> = (0..8)
        .map(|i| format!("{i} : 10.0.0.{} . 8080", 11 + i))
        .collect();
    assert_eq!(
        eight,
        format!(
            "{ROUTER_TABLE_HEAD}    iifname \"h*\" ip daddr 10.0.0.100 tcp dport 80 dnat ip to numgen inc mod 8 map {{ {} }}\n  }}\n}}\n",
            members.join(", ")
        )
    );
}

#[test]
fn load_balancer_namespace_spreads_and_masquerades_for_clients_in_its_vpc() {
    let p = lb_service("TCP", 2).plan();
    assert_eq!(
        describe(ns(&p, "vpcep-l-1b000001")),
        "sysctl net.ipv4.ip_forward=1
sysctl net.ipv4.conf.all.rp_filter=0
sysctl net.ipv4.conf.default.rp_filter=0
link add eth0 address fa:16:3e:cc:01:00 type veth peer name ncccc0100 address fa:cd:bb:50:cf:68 netns vpcep-r-aaaa0001
  in vpcep-r-aaaa0001: link set ncccc0100 master bbbbb0001
addr add 10.0.0.100/24 dev eth0
route replace default via 10.0.0.1 dev eth0
add table ip vpcep_lb
delete table ip vpcep_lb
table ip vpcep_lb {
  chain pre {
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr 10.0.0.100 tcp dport 80 dnat ip to numgen inc mod 2 map { 0 : 10.0.0.11 . 8080, 1 : 10.0.0.12 . 8080 }
  }
  chain post {
    type nat hook postrouting priority srcnat; policy accept;
    ct status dnat masquerade
  }
}
"
    );
}

#[test]
fn several_listeners_tcp_and_udp() {
    let p = two_vpcs()
        .lb(
            PROV_NET,
            "10.0.0.100",
            &[
                ("TCP", 80, &[("10.0.0.11", 8080), ("10.0.0.12", 8080)]),
                ("TCP", 443, &[("10.0.0.11", 8443)]),
                (
                    "UDP",
                    53,
                    &[("10.0.0.11", 5353), ("10.0.0.12", 5353), ("10.0.0.13", 53)],
                ),
                ("UDP", 54, &[]),
            ],
        )
        .service(
            VIP_PORT,
            true,
            &[(80, 80, "TCP"), (443, 443, "TCP"), (53, 53, "UDP")],
        )
        .endpoint("e0000001", CONS_NET, "10.0.0.50", None)
        .plan();
    assert_eq!(
        script(&p, "vpcep-r-aaaa0001"),
        format!(
            "{ROUTER_TABLE_HEAD}    iifname \"h*\" ip daddr 10.0.0.100 tcp dport 80 dnat ip to numgen inc mod 2 map {{ 0 : 10.0.0.11 . 8080, 1 : 10.0.0.12 . 8080 }}
    iifname \"h*\" ip daddr 10.0.0.100 tcp dport 443 dnat to 10.0.0.11:8443
    iifname \"h*\" ip daddr 10.0.0.100 udp dport 53 dnat ip to numgen inc mod 3 map {{ 0 : 10.0.0.11 . 5353, 1 : 10.0.0.12 . 5353, 2 : 10.0.0.13 . 53 }}
  }}
}}
"
        )
    );
    // The gateway maps each mapping to the VIP, by protocol.
    let gw = script(&p, "vpcep-g-0");
    for line in [
        "add element ip vpcep ep_tcp { 1 . 10.0.0.50 . 80 : 10.0.0.100 . 80, 1 . 10.0.0.50 . 443 : 10.0.0.100 . 443 }\n",
        "add element ip vpcep ep_udp { 1 . 10.0.0.50 . 53 : 10.0.0.100 . 53 }\n",
        "add element ip vpcep prov_udp { 1 . 10.0.0.50 . 53 : 20001 }\n",
    ] {
        assert!(gw.contains(line), "{line} in\n{gw}");
    }
}

/// Prints what the test got when it differs, ready to paste as the expectation.
fn assert_text(got: &str, want: &str) {
    if got != want {
        eprintln!("---- got ----\n{got}---- end ----");
    }
    assert_eq!(got, want);
}

#[test]
fn vm_backend_on_a_secondary_nic() {
    let p = two_vpcs()
        .subnet(PROV_NET2, PROV, "10.0.1.0/24", "10.0.1.1")
        .port("cccc0001", PROV_NET, "10.0.0.10", &["99990001"])
        .port("cccc0002", PROV_NET2, "10.0.1.10", &["99990001"])
        .server("dddd0001", &["cccc0001", "cccc0002"], &["99990001"])
        .rule(
            "12340001",
            "99990001",
            "ingress",
            Some("tcp"),
            Some((8080, 8080)),
            Some("198.19.128.0/20"),
            None,
        )
        .service("cccc0002", false, &[(80, 8080, "TCP")])
        .endpoint("e0000001", CONS_NET, "10.0.0.50", None)
        .plan();
    // Both NICs on their subnets' bridges; the default route only through the primary one.
    assert_text(&describe(ns(&p, "vpcep-s-dddd0001")), "link add eth0 address fa:16:3e:cc:00:01 type veth peer name ncccc0001 address 32:4f:25:e7:3a:b6 netns vpcep-r-aaaa0001
  in vpcep-r-aaaa0001: link set ncccc0001 master bbbbb0001
link add eth1 address fa:16:3e:cc:00:02 type veth peer name ncccc0002 address 5a:d0:6e:af:a5:32 netns vpcep-r-aaaa0001
  in vpcep-r-aaaa0001: link set ncccc0002 master bbbbb0002
addr add 10.0.0.10/24 dev eth0
addr add 10.0.1.10/24 dev eth1
route replace default via 10.0.0.1 dev eth0
add table inet vpcep_sg
delete table inet vpcep_sg
table inet vpcep_sg {
  chain in {
    type filter hook input priority filter; policy drop;
    ct state established,related accept
    ct state invalid drop
    iif \"lo\" accept
    ip saddr 198.19.128.0/20 tcp dport 8080 accept comment \"rule 12340001\"
  }
  chain out {
    type filter hook output priority filter; policy drop;
    ct state established,related accept
    ct state invalid drop
    oif \"lo\" accept
  }
}
");
    assert_text(&describe(ns(&p, "vpcep-g-0")), "sysctl net.ipv4.ip_forward=1
sysctl net.ipv4.conf.all.rp_filter=0
sysctl net.ipv4.conf.default.rp_filter=0
sysctl net.ipv4.conf.all.arp_ignore=1
sysctl net.ipv4.conf.all.accept_local=1
sysctl net.netfilter.nf_conntrack_acct=1
sysctl net.netfilter.nf_conntrack_timestamp=1
link add cbbbb0003 address 22:cc:3d:48:91:41 type veth peer name gbbbb0003 address 3a:bf:be:ff:e0:bd netns vpcep-r-aaaa0002
  in vpcep-r-aaaa0002: link set gbbbb0003 master bbbbb0003
link add paaaa0001 address 4a:6b:92:2a:0b:ae type veth peer name h0xaaaa0001 address 0a:a9:4d:d4:3f:45 netns vpcep-r-aaaa0001
addr add 10.0.0.50/32 dev cbbbb0003
addr add 198.19.128.1/32 dev lo
addr add 169.254.0.1/32 dev paaaa0001
route replace 10.0.0.0/16 via 169.254.0.2 dev paaaa0001 onlink table 20001
route replace 10.0.0.0/24 dev cbbbb0003 table 10001
rule add pref 1000 fwmark 10001 lookup 10001
rule add pref 1000 fwmark 20001 lookup 20001
rule add pref 32000 lookup local
rule add pref 32766 lookup main
rule add pref 32767 lookup default
add table ip vpcep
delete table ip vpcep
table ip vpcep {
  set consumer_ifs { typeof iifname; }
  set ep_allow { typeof ct zone . ip daddr . ip saddr; flags interval; }
  set ep_drop { typeof ct zone . ip daddr; counter; }
  set ep_new { typeof ct zone . ip daddr; counter; }
  set ep_restricted { typeof ct zone . ip daddr; }
  set ep_rx { typeof ct zone . ip daddr; counter; }
  map ep_tcp { typeof ct zone . ip daddr . tcp dport : ip daddr . tcp dport; }
  set ep_tx { typeof ct zone . ip saddr; counter; }
  map ep_udp { typeof ct zone . ip daddr . udp dport : ip daddr . udp dport; }
  map prov_tcp { typeof ct zone . ip daddr . tcp dport : meta mark; }
  map prov_udp { typeof ct zone . ip daddr . udp dport : meta mark; }
  set provider_ifs { typeof iifname; }
  map snat_of_zone { typeof ct zone : ip saddr; }
  map table_of_zone { typeof ct zone : meta mark; }
  map zone_of_if { typeof iifname : ct zone; }
  chain raw_pre {
    type filter hook prerouting priority raw; policy accept;
    ct original zone set iifname map @zone_of_if
  }
  chain mangle_pre {
    type filter hook prerouting priority mangle; policy accept;
    ct direction reply meta mark set ct zone map @table_of_zone
    ct direction original ct mark != 0 meta mark set ct mark
    iifname @consumer_ifs ct state new ct zone . ip daddr @ep_restricted ct zone . ip daddr . ip saddr != @ep_allow ct zone . ip daddr @ep_drop drop
    ct direction original ct zone . ip daddr @ep_rx
  }
  chain nat_pre {
    type nat hook prerouting priority dstnat; policy accept;
    ct zone . ip daddr @ep_new
    iifname @consumer_ifs meta l4proto tcp ct mark set ct zone . ip daddr . tcp dport map @prov_tcp meta mark set ct mark dnat ip to ct zone . ip daddr . tcp dport map @ep_tcp
    iifname @consumer_ifs meta l4proto udp ct mark set ct zone . ip daddr . udp dport map @prov_udp meta mark set ct mark dnat ip to ct zone . ip daddr . udp dport map @ep_udp
  }
  chain nat_post {
    type nat hook postrouting priority srcnat; policy accept;
    ct mark != 0 oifname @provider_ifs snat ip to ct zone map @snat_of_zone
  }
  chain forward_f {
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    iifname @consumer_ifs ct mark != 0 accept
    iifname @consumer_ifs meta l4proto tcp reject with tcp reset
  }
  chain input_f {
    type filter hook input priority filter; policy drop;
    ct state established,related accept
    iifname @consumer_ifs ct mark != 0 accept
  }
  chain acct_post {
    type filter hook postrouting priority srcnat + 10; policy accept;
    ct direction reply ct zone . ip saddr @ep_tx
  }
}
add element ip vpcep consumer_ifs { \"cbbbb0003\" }
add element ip vpcep ep_drop { 1 . 10.0.0.50 }
add element ip vpcep ep_new { 1 . 10.0.0.50 }
add element ip vpcep ep_rx { 1 . 10.0.0.50 }
add element ip vpcep ep_tcp { 1 . 10.0.0.50 . 80 : 10.0.1.10 . 8080 }
add element ip vpcep ep_tx { 1 . 10.0.0.50 }
add element ip vpcep prov_tcp { 1 . 10.0.0.50 . 80 : 20001 }
add element ip vpcep provider_ifs { \"paaaa0001\" }
add element ip vpcep snat_of_zone { 1 : 198.19.128.1 }
add element ip vpcep table_of_zone { 1 : 10001 }
add element ip vpcep zone_of_if { \"cbbbb0003\" : 1 }
");
    assert_text(
        &describe(ns(&p, "vpcep-r-aaaa0001")),
        "sysctl net.ipv4.ip_forward=1
sysctl net.ipv4.conf.all.rp_filter=0
sysctl net.ipv4.conf.default.rp_filter=0
link add bbbbb0001 address d2:0e:18:9e:50:9b type bridge
link add bbbbb0002 address ae:c7:cd:59:ac:cf type bridge
addr add 10.0.0.1/24 dev bbbbb0001
addr add 10.0.1.1/24 dev bbbbb0002
addr add 169.254.0.2/32 dev h0xaaaa0001
addr add 169.254.169.253/32 dev lo
route replace 198.19.128.0/25 via 169.254.0.1 dev h0xaaaa0001 onlink
",
    );
}

#[test]
fn site_joins_its_vpc_router() {
    let p = two_vpcs().site("5173e001", PROV, "172.16.0.0/24").plan();
    assert_text(&describe(ns(&p, "vpcep-x-5173e001")), "link add vpn0 address f6:25:ca:cf:c8:7a type veth peer name x5173e001 address c6:1d:8f:3d:0e:11 netns vpcep-r-aaaa0001
addr add 172.16.0.1/32 dev lo
addr add 169.254.0.2/32 dev vpn0
route replace 10.0.0.0/16 via 169.254.0.1 dev vpn0 onlink src 172.16.0.1
");
    assert_text(
        &describe(ns(&p, "vpcep-r-aaaa0001")),
        "sysctl net.ipv4.ip_forward=1
sysctl net.ipv4.conf.all.rp_filter=0
sysctl net.ipv4.conf.default.rp_filter=0
link add bbbbb0001 address d2:0e:18:9e:50:9b type bridge
addr add 10.0.0.1/24 dev bbbbb0001
addr add 169.254.169.253/32 dev lo
addr add 169.254.0.1/32 dev x5173e001
route replace 172.16.0.0/24 via 169.254.0.2 dev x5173e001 onlink
",
    );
}

/// A site reaches its VPC's endpoints: the gateway routes each site of the consumer VPC back
/// through that VPC's consumer legs (each leg's table, via the subnet gateway, onlink), exactly
/// where a subnet host's replies go; sites of other VPCs (same CIDRs) get nothing there.
#[test]
fn sites_of_a_consumer_vpc_are_routed_back_through_its_legs() {
    const CONS_NET2: &str = "bbbb0004";
    const OTHER: &str = "aaaa0003";
    const OTHER_NET: &str = "bbbb0005";
    let p = lb_service("TCP", 1)
        .subnet(CONS_NET2, CONS, "10.0.1.0/24", "10.0.1.1")
        .endpoint("e0000002", CONS_NET2, "10.0.1.50", None)
        .site("5173e001", CONS, "172.16.0.0/24")
        .site("5173e002", CONS, "192.168.8.0/22")
        // Another consumer VPC, identical CIDRs, with a site but no endpoint; and a site of the
        // provider.
        .vpc(OTHER, "10.0.0.0/16")
        .subnet(OTHER_NET, OTHER, "10.0.0.0/24", "10.0.0.1")
        .site("5173e003", OTHER, "172.16.0.0/24")
        .site("5173e004", PROV, "172.16.0.0/24")
        .plan();
    let gw = ns(&p, "vpcep-g-0");
    let routes: Vec<String> = gw
        .routes
        .iter()
        .filter(|r| r.table.is_some_and(|t| t < PROVIDER_TABLE_BASE))
        .map(|r| {
            let n = |d: Dst| match d {
                Dst::Net(n) => n.to_string(),
                Dst::Default => "default".into(),
            };
            format!(
                "{} via {:?} dev {} onlink {} table {:?}",
                n(r.dst),
                r.via,
                r.dev,
                r.onlink,
                r.table
            )
        })
        .collect();
    assert_eq!(
        routes,
        [
            "10.0.0.0/24 via None dev cbbbb0003 onlink false table Some(10001)",
            "10.0.1.0/24 via None dev cbbbb0004 onlink false table Some(10002)",
            "172.16.0.0/24 via Some(10.0.0.1) dev cbbbb0003 onlink true table Some(10001)",
            "172.16.0.0/24 via Some(10.0.1.1) dev cbbbb0004 onlink true table Some(10002)",
            "192.168.8.0/22 via Some(10.0.0.1) dev cbbbb0003 onlink true table Some(10001)",
            "192.168.8.0/22 via Some(10.0.1.1) dev cbbbb0004 onlink true table Some(10002)",
        ],
        "{routes:#?}"
    );
    // The typed value (what the kernel gets) of one of them.
    let site = "172.16.0.0/24".parse().expect("net");
    assert!(
        gw.routes.contains(
            &Route::via(Dst::Net(site), "10.0.0.1".parse().expect("ip"), "cbbbb0003")
                .onlink()
                .table(CONSUMER_TABLE_BASE + 1)
        )
    );
    // Replies are steered by zone → table as for hosts; the rules are the legs' own.
    let rules = gw.rules.as_ref().expect("rules");
    for t in [10_001, 10_002] {
        assert!(rules.contains(&IpRule {
            pref: FWMARK_PREF,
            fwmark: Some(t),
            table: Lookup::Table(t),
        }));
    }
    // The consumer router reaches the site, and the endpoint's subnet through its bridge.
    let router = describe(ns(&p, "vpcep-r-aaaa0002"));
    assert!(
        router.contains("route replace 172.16.0.0/24 via 169.254.0.2 dev x5173e001 onlink"),
        "{router}"
    );
    assert!(
        router.contains("addr add 10.0.0.1/24 dev bbbbb0003"),
        "{router}"
    );
    // Without endpoints the legs, and their site routes, go.
    let mut bare = lb_service("TCP", 1).site("5173e001", CONS, "172.16.0.0/24");
    bare.0.endpoints.clear();
    assert!(!bare.plan().namespaces.contains_key("vpcep-g-0"));
}

#[test]
fn security_groups_with_remote_groups_and_port_ranges() {
    let g = "99990001";
    let p = two_vpcs()
        .port("cccc0001", PROV_NET, "10.0.0.10", &[g])
        .port("cccc0003", PROV_NET, "10.0.0.13", &["99990002"])
        .port("cccc0004", PROV_NET, "10.0.0.14", &["99990002", g])
        .server("dddd0001", &["cccc0001"], &[g])
        .rule(
            "12340001",
            g,
            "ingress",
            Some("tcp"),
            Some((8000, 8100)),
            Some("198.19.128.0/20"),
            None,
        )
        .rule(
            "12340002",
            g,
            "ingress",
            Some("udp"),
            Some((53, 53)),
            None,
            Some("99990002"),
        )
        .rule("12340003", g, "ingress", None, None, None, Some(g))
        .rule(
            "12340004",
            g,
            "ingress",
            Some("icmp"),
            None,
            Some("10.0.0.0/8"),
            None,
        )
        .rule(
            "12340005",
            g,
            "ingress",
            Some("tcp"),
            None,
            None,
            Some("99990003"),
        )
        .rule("12340006", g, "egress", None, None, None, None)
        .rule(
            "12340007",
            g,
            "egress",
            Some("tcp"),
            Some((443, 443)),
            Some("0.0.0.0/0"),
            None,
        )
        .rule("12340008", "99990002", "ingress", None, None, None, None)
        .plan();
    assert_text(
        &script(&p, "vpcep-s-dddd0001"),
        "add table inet vpcep_sg
delete table inet vpcep_sg
table inet vpcep_sg {
  chain in {
    type filter hook input priority filter; policy drop;
    ct state established,related accept
    ct state invalid drop
    iif \"lo\" accept
    ip saddr 198.19.128.0/20 tcp dport 8000-8100 accept comment \"rule 12340001\"
    ip saddr { 10.0.0.13, 10.0.0.14 } udp dport 53 accept comment \"rule 12340002\"
    ip saddr { 10.0.0.10, 10.0.0.14 } accept comment \"rule 12340003\"
    ip saddr 10.0.0.0/8 meta l4proto icmp accept comment \"rule 12340004\"
  }
  chain out {
    type filter hook output priority filter; policy drop;
    ct state established,related accept
    ct state invalid drop
    oif \"lo\" accept
    accept comment \"rule 12340006\"
    ip daddr 0.0.0.0/0 tcp dport 443 accept comment \"rule 12340007\"
  }
}
",
    );
}

#[test]
fn endpoint_whitelists_are_interval_elements() {
    let p = lb_service("TCP", 1)
        .endpoint(
            "e0000002",
            CONS_NET,
            "10.0.0.51",
            Some(&["10.1.0.0/16", "192.168.0.7", "10.2.3.4/16"]),
        )
        .endpoint("e0000003", CONS_NET, "10.0.0.52", Some(&[]))
        .plan();
    let gw = script(&p, "vpcep-g-0");
    let elements: Vec<&str> = gw
        .lines()
        .filter(|l| l.starts_with("add element"))
        .collect();
    assert_text(&elements.join("\n"), "add element ip vpcep consumer_ifs { \"cbbbb0003\" }
add element ip vpcep ep_allow { 1 . 10.0.0.51 . 10.1.0.0/16, 1 . 10.0.0.51 . 10.2.0.0/16, 1 . 10.0.0.51 . 192.168.0.7/32 }
add element ip vpcep ep_drop { 1 . 10.0.0.50, 1 . 10.0.0.51, 1 . 10.0.0.52 }
add element ip vpcep ep_new { 1 . 10.0.0.50, 1 . 10.0.0.51, 1 . 10.0.0.52 }
add element ip vpcep ep_restricted { 1 . 10.0.0.51, 1 . 10.0.0.52 }
add element ip vpcep ep_rx { 1 . 10.0.0.50, 1 . 10.0.0.51, 1 . 10.0.0.52 }
add element ip vpcep ep_tcp { 1 . 10.0.0.50 . 80 : 10.0.0.100 . 80, 1 . 10.0.0.51 . 80 : 10.0.0.100 . 80, 1 . 10.0.0.52 . 80 : 10.0.0.100 . 80 }
add element ip vpcep ep_tx { 1 . 10.0.0.50, 1 . 10.0.0.51, 1 . 10.0.0.52 }
add element ip vpcep prov_tcp { 1 . 10.0.0.50 . 80 : 20001, 1 . 10.0.0.51 . 80 : 20001, 1 . 10.0.0.52 . 80 : 20001 }
add element ip vpcep provider_ifs { \"paaaa0001\" }
add element ip vpcep snat_of_zone { 1 : 198.19.128.1 }
add element ip vpcep table_of_zone { 1 : 10001 }
add element ip vpcep zone_of_if { \"cbbbb0003\" : 1 }");
}

/// A scratch namespace for `nft -c`, removed on drop (also when the test fails).
struct Scratch(String);

impl Scratch {
    /// `None` (the test is skipped) when not root or `nft` is missing.
    fn new() -> Option<Scratch> {
        let ok = |c: &mut std::process::Command| c.output().is_ok_and(|o| o.status.success());
        let root = std::process::Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        if !root || !ok(std::process::Command::new("nft").arg("--version")) {
            eprintln!("skipped: needs root and nft");
            return None;
        }
        // Not the product's `vpcep-` prefix: `vpcep lab down` (the demo) removes those.
        let name = format!("vptplancheck-{}", std::process::id());
        assert!(
            ok(std::process::Command::new("ip").args(["netns", "add", &name])),
            "ip netns add {name}"
        );
        Some(Scratch(name))
    }

    /// `nft -c -f -`: the kernel's verdict on a script, without applying it.
    fn check(&self, script: &str) -> Result<(), String> {
        self.nft(&["-c", "-f", "-"], script).map(drop)
    }

    /// `nft ARGS` in the namespace with `stdin`; its output, or its error.
    fn nft(&self, args: &[&str], stdin: &str) -> Result<String, String> {
        use std::io::Write as _;
        let mut child = std::process::Command::new("ip")
            .args(["netns", "exec", &self.0, "nft"])
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())?;
        if let Some(mut pipe) = child.stdin.take() {
            pipe.write_all(stdin.as_bytes())
                .map_err(|e| e.to_string())?;
        }
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.0])
            .status();
    }
}

/// A security-group rule's (protocol, port range, remote prefix, remote group).
type RuleShape<'a> = (
    Option<&'a str>,
    Option<(u16, u16)>,
    Option<&'a str>,
    Option<&'a str>,
);

/// Varied topologies: listeners with 0…8 members over TCP and UDP, several at once, VM and LB
/// backends, sites, security groups of every rule shape, whitelists, several consumer subnets.
fn varied_topologies() -> Vec<Topology> {
    let mut out = Vec::new();
    let protos = ["TCP", "UDP"];
    for (i, members) in [0usize, 1, 2, 3, 8].into_iter().enumerate() {
        let addrs: Vec<String> = (0..members).map(|m| format!("10.0.0.{}", 11 + m)).collect();
        let tcp: Vec<(&str, u16)> = addrs.iter().map(|a| (a.as_str(), 8080)).collect();
        let udp: Vec<(&str, u16)> = addrs.iter().rev().map(|a| (a.as_str(), 5353)).collect();
        let proto = protos[i % 2];
        out.push(lb_service(proto, members));
        let whitelist: &[&str] = match i % 3 {
            0 => &["10.1.0.0/16", "192.168.3.4"],
            1 => &[],
            _ => &["0.0.0.0/0"],
        };
        out.push(
            two_vpcs()
                .subnet("bbbb0004", CONS, "10.0.9.0/24", "10.0.9.1")
                .lb(
                    PROV_NET,
                    "10.0.0.100",
                    &[
                        ("TCP", 80, &tcp),
                        ("UDP", 53, &udp),
                        ("TCP", 443, &tcp[..members / 2]),
                    ],
                )
                .service(
                    VIP_PORT,
                    true,
                    &[(80, 80, "TCP"), (53, 53, "UDP"), (8443, 443, "TCP")],
                )
                .endpoint("e0000001", CONS_NET, "10.0.0.50", None)
                .endpoint("e0000002", "bbbb0004", "10.0.9.50", Some(whitelist))
                .site("5173e001", PROV, "172.16.0.0/24")
                .site("5173e002", CONS, "172.17.0.0/16"),
        );
    }
    let g = "99990001";
    let mut sg = two_vpcs()
        .port("cccc0001", PROV_NET, "10.0.0.10", &[g])
        .port("cccc0002", PROV_NET, "10.0.0.12", &["99990002"])
        .server("dddd0001", &["cccc0001"], &[g, "99990002"])
        .service("cccc0001", false, &[(80, 8080, "TCP"), (53, 5353, "UDP")])
        .endpoint("e0000001", CONS_NET, "10.0.0.50", Some(&["10.0.0.0/24"]));
    let shapes: [RuleShape<'_>; 8] = [
        (Some("tcp"), Some((80, 80)), Some("198.19.128.0/20"), None),
        (Some("udp"), Some((1000, 2000)), None, Some("99990002")),
        (Some("icmp"), None, Some("10.0.0.0/8"), None),
        (None, None, None, Some(g)),
        (None, None, Some("0.0.0.0/0"), None),
        (Some("tcp"), None, Some("10.0.0.5/24"), Some("99990002")),
        (Some("udp"), Some((53, 53)), Some("10.9.9.9"), None),
        (Some("tcp"), Some((1, 65535)), None, Some("99990009")),
    ];
    for (i, (proto, ports, prefix, remote)) in shapes.into_iter().enumerate() {
        for dir in ["ingress", "egress"] {
            let id = format!("1234{}{:03}", if dir == "ingress" { 0 } else { 1 }, i);
            sg = sg.rule(&id, g, dir, proto, ports, prefix, remote);
        }
    }
    out.push(sg);
    out
}

#[test]
fn the_kernel_accepts_every_planned_table() {
    let Some(scratch) = Scratch::new() else {
        return;
    };
    // The check is not vacuous: the router table as the text planner left it with two members
    // (its chain unclosed) is refused.
    let unclosed = "table ip vpcep_router {\n  chain pre {\n    type nat hook prerouting priority dstnat; policy accept;\n    iifname \"h*\" ip daddr 10.0.0.100 tcp dport 80 dnat ip to numgen inc mod 2 map { 0 : 10.0.0.11 . 8080, 1 : 10.0.0.12 . 8080 }\n}\n";
    assert!(scratch.check(unclosed).is_err());
    let mut checked = 0;
    for t in varied_topologies() {
        for (name, ns) in &t.plan().namespaces {
            if let Some(table) = &ns.nft {
                let script = table.script();
                if let Err(e) = scratch.check(&script) {
                    panic!("{name}: nft refused the planned table:\n{e}\n{script}");
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 30, "only {checked} tables checked");
}

/// The netlink encoding is the text's twin: every planned table, loaded as an nf_tables batch,
/// lists (`nft list table`) exactly as the same table loaded from its `nft -f` script; loading
/// it again replaces it; a stale table is deleted.
#[test]
fn netlink_batches_load_what_the_script_loads() {
    let Some(scratch) = Scratch::new() else {
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut link = rt
        .block_on(async { crate::kernel::netlink::NsLink::open(&scratch.0) })
        .expect("sockets in the scratch namespace");
    let (mut compared, mut with_stamps) = (0, 0);
    for t in varied_topologies() {
        for (name, ns) in &t.plan().namespaces {
            let Some(table) = &ns.nft else { continue };
            let (family, tname) = (table.family.to_string(), table.name);
            let list = || {
                scratch
                    .nft(&["list", "table", &family, tname], "")
                    .expect("list table")
            };
            scratch
                .nft(&["-f", "-"], &table.script())
                .expect("script loads");
            let by_text = list();
            // What a restarted agent checks before it keeps a table: the script's table is the
            // batch's twin, stamp and elements (interval ones included) alike.
            let holds = |link: &mut crate::kernel::netlink::NsLink| {
                rt.block_on(link.holds_table(table))
                    .unwrap_or_else(|e| panic!("{name}: {e}"))
            };
            assert!(holds(&mut link), "{name}: the script's table is the plan's");
            scratch.nft(&["flush", "ruleset"], "").expect("flush");
            assert!(!holds(&mut link), "{name}: no table is not the plan's");
            for round in ["loaded", "replaced"] {
                rt.block_on(link.load_tables(Some(table), &[]))
                    .unwrap_or_else(|e| panic!("{name}: batch refused: {e}"));
                assert_eq!(list(), by_text, "{name}: {round} over netlink");
                assert!(holds(&mut link), "{name}: {round} table is the plan's");
            }
            // One element fewer, or a table with the plan's contents but not its stamp (another
            // agent's encoding), is not the plan's.
            if let Some((set, _)) = table.sets.iter().find(|(_, s)| !s.elements.is_empty()) {
                scratch
                    .nft(&["flush", "set", &family, tname, set], "")
                    .expect("flush set");
                assert!(!holds(&mut link), "{name}: set {set} emptied");
                scratch
                    .nft(&["-f", "-"], &unstamped(&table.script()))
                    .expect("script loads");
                assert!(!holds(&mut link), "{name}: no stamp");
                with_stamps += 1;
            }
            rt.block_on(link.load_tables(None, &[(table.family, tname.to_string())]))
                .expect("stale table deleted");
            assert_eq!(scratch.nft(&["list", "tables"], "").expect("tables"), "");
            compared += 1;
        }
    }
    assert!(compared > 30, "only {compared} tables compared");
    assert!(with_stamps > 10, "only {with_stamps} tables with elements");
}

/// `proxy_open`: the TCP mapping is DNATed to the leg's PROXY-v2 listener (its SNAT address,
/// port 1) and marked for local delivery; UDP stays on the kernel path; the route names the
/// endpoint and the backend; the patch path gives the same plan as planning from scratch.
#[test]
fn proxy_open_tcp_goes_to_the_legs_listener() {
    use crate::plan::proxy::{PROXY_MARK, PROXY_PORT, ProxyRoute};
    let mut t = two_vpcs()
        .port("cccc0001", PROV_NET, "10.0.0.10", &[])
        .service("cccc0001", false, &[(80, 8080, "TCP"), (53, 5353, "UDP")])
        .endpoint("e0000001", CONS_NET, "10.0.0.50", None);
    let svc = &mut t.0.services.get_mut(SVC).expect("service").spec;
    svc.tcp_proxy = vpcep_core::model::TcpProxy::ProxyOpen;
    let p = t.plan();
    let gw = script(&p, "vpcep-g-0");
    for line in [
        format!(
            "add element ip vpcep ep_tcp {{ 1 . 10.0.0.50 . 80 : 198.19.128.1 . {PROXY_PORT} }}"
        ),
        format!("add element ip vpcep prov_tcp {{ 1 . 10.0.0.50 . 80 : {PROXY_MARK} }}"),
        "add element ip vpcep ep_udp { 1 . 10.0.0.50 . 53 : 10.0.0.10 . 5353 }".to_string(),
        "add element ip vpcep prov_udp { 1 . 10.0.0.50 . 53 : 20001 }".to_string(),
    ] {
        assert!(gw.contains(&line), "{line} in\n{gw}");
    }
    let routes: Vec<&ProxyRoute> = p.proxies.iter().collect();
    assert_eq!(routes.len(), 1);
    let r = routes[0];
    assert_eq!((r.shard, r.zone, r.client_port), (0, 1, 80));
    assert_eq!(r.endpoint_id, "e0000001");
    assert_eq!(r.backend.to_string(), "10.0.0.10:8080");
    assert_eq!(r.provider_mark, 20001);
    assert_eq!(r.listener().addr.to_string(), "198.19.128.1:1");

    // Patched for the endpoint's removal and return: the same as the full plans.
    let names = Namespaces::default();
    let mut legs = Legs::default();
    let mut patched = plan(&t.0, &names, &mut legs);
    let spec = t.0.endpoints.remove("e0000001").expect("endpoint").spec;
    let before = BTreeMap::from([("e0000001".to_string(), Some(spec))]);
    // The endpoint was the leg's last: the patch declines and a full plan is needed.
    assert!(patch_endpoints(&mut patched, &t.0, &names, &legs, &before).is_none());
    let without = plan(&t.0, &names, &mut legs);
    assert!(without.proxies.is_empty());
}

/// Two consumer VPCs on the same CIDR, an endpoint at the same address in each: a gateway's
/// conntrack entry names its endpoint by (gateway, zone, address), never by address alone.
#[test]
fn flow_index_tells_consumers_with_the_same_cidr_apart_by_zone() {
    const CONS2: &str = "aaaa0003";
    const CONS2_NET: &str = "bbbb0004";
    let mut t = two_vpcs()
        .vpc(CONS2, "10.0.0.0/16")
        .subnet(CONS2_NET, CONS2, "10.0.0.0/24", "10.0.0.1")
        .port("cccc0001", PROV_NET, "10.0.0.10", &[])
        .service("cccc0001", false, &[(80, 8080, "TCP")])
        .endpoint("e0000001", CONS_NET, "10.0.0.50", None)
        .endpoint("e0000002", CONS2_NET, "10.0.0.50", None);
    if let Some(e) = t.0.endpoints.get_mut("e0000002") {
        e.spec.project_id = "consumer2".into();
        e.spec.domain_id = "d2".into();
    }
    let names = Namespaces::default();
    let mut legs = Legs::default();
    let p = plan(&t.0, &names, &mut legs);
    let index = flows::FlowIndex::build(&p, &t.0, &names);
    assert_eq!(index.len(), 2);
    let ip: Ipv4Addr = "10.0.0.50".parse().expect("ip");
    let (gw1, z1) = legs.zones[CONS_NET];
    let (gw2, z2) = legs.zones[CONS2_NET];
    assert_ne!((gw1, z1), (gw2, z2));
    let one = index.lookup(&names.gateway(gw1), z1, ip).expect("first");
    let two = index.lookup(&names.gateway(gw2), z2, ip).expect("second");
    assert_eq!(one.endpoint_id, "e0000001");
    assert_eq!(one.project_id, "p");
    assert_eq!(one.service_id, SVC);
    assert_eq!(one.service_project_id, "p");
    assert_eq!(
        (two.endpoint_id.as_str(), two.project_id.as_str()),
        ("e0000002", "consumer2")
    );
    assert_eq!(two.domain_id, "d2");
    assert!(index.lookup(&names.gateway(gw1), z1 + 7, ip).is_none());
    assert!(index.lookup("vpcep-g-9", z1, ip).is_none());
    assert_eq!(index.gateways().len(), 1);
    // Following only the changed endpoints of a plan gives what following all of it gives.
    let mut patched = flows::FlowIndex::default();
    patched.follow(&p, &t.0, &names, Some(&["e0000002"]));
    assert_eq!(patched.len(), 1);
    patched.follow(&p, &t.0, &names, Some(&["e0000001", "nope"]));
    assert_eq!(patched, index);
    // An endpoint that leaves is still named by the index that follows (its flows' end
    // records come after it left), until another endpoint takes its place.
    t.0.endpoints.remove("e0000002");
    let mut later = index.clone();
    later.follow(&plan(&t.0, &names, &mut legs), &t.0, &names, None);
    assert_eq!(
        later
            .lookup(&names.gateway(gw2), z2, ip)
            .map(|o| o.endpoint_id.as_str()),
        Some("e0000002")
    );
}

/// The routers' fast path (`plan/fast.rs`): a provider router that only forwards lists every
/// server port of its VPC (both NICs of a two-NIC server, with their bridge's MAC) and the leg
/// of each shard; a router that spreads a load balancer's traffic (its own table) gets no router
/// skip; a consumer subnet's bridge skip lists its hosts and the gateway's leg, both ways.
#[test]
fn fast_path_only_where_the_provider_router_only_forwards() {
    let vm = two_vpcs()
        .subnet(PROV_NET2, PROV, "10.0.1.0/24", "10.0.1.1")
        .port("cccc0001", PROV_NET, "10.0.0.10", &[])
        .port("cccc0002", PROV_NET2, "10.0.1.10", &[])
        .server("dddd0001", &["cccc0001", "cccc0002"], &[])
        .service("cccc0002", false, &[(80, 8080, "TCP")])
        .endpoint("e0000001", CONS_NET, "10.0.0.50", None)
        .plan();
    let router = ns(&vm, "vpcep-r-aaaa0001");
    assert!(router.nft.is_none());
    let fast = router
        .fast
        .as_ref()
        .expect("a forwarding-only provider router's fast path");
    let ports: Vec<(String, String, String, String)> = fast
        .ports
        .iter()
        .map(|(ip, p)| {
            (
                ip.to_string(),
                p.dev.clone(),
                p.mac.to_string(),
                p.bridge_mac.to_string(),
            )
        })
        .collect();
    let bridge_mac = |name: &str| {
        router
            .links
            .iter()
            .find_map(|l| match l {
                Link::Bridge { name: n, mac } if n == name => Some(mac.to_string()),
                _ => None,
            })
            .expect("bridge")
    };
    assert_eq!(
        ports,
        vec![
            (
                "10.0.0.10".into(),
                "ncccc0001".into(),
                "fa:16:3e:cc:00:01".into(),
                bridge_mac("bbbbb0001")
            ),
            (
                "10.0.1.10".into(),
                "ncccc0002".into(),
                "fa:16:3e:cc:00:02".into(),
                bridge_mac("bbbbb0002")
            ),
        ]
    );
    // The leg's ends: this router's end and the gateway's, with the MACs their veth gets.
    let gw = ns(&vm, "vpcep-g-0");
    let (leg_dev, leg_mac, gw_mac) = gw
        .links
        .iter()
        .find_map(|l| match l {
            Link::Veth {
                mac,
                peer,
                peer_mac,
                peer_ns,
                ..
            } if peer_ns == "vpcep-r-aaaa0001" => Some((peer.clone(), *peer_mac, *mac)),
            _ => None,
        })
        .expect("the provider leg");
    assert_eq!(fast.legs.len(), 1);
    assert_eq!(
        (
            &fast.legs[&0].dev,
            fast.legs[&0].mac,
            fast.legs[&0].peer_mac
        ),
        (&leg_dev, leg_mac, gw_mac)
    );
    // The bridge skip: the provider VPC has no consumer leg; without hosts in the consumer
    // subnet there is nothing to skip.
    assert!(fast.to_hosts.is_empty() && fast.to_legs.is_empty());
    assert!(
        ns(&vm, "vpcep-r-aaaa0002").fast.is_none(),
        "a consumer subnet without hosts"
    );
    let with_client = two_vpcs()
        .port("cccc0001", PROV_NET, "10.0.0.10", &[])
        .server("dddd0001", &["cccc0001"], &[])
        .port("cccc0003", CONS_NET, "10.0.0.30", &[])
        .server("dddd0003", &["cccc0003"], &[])
        .service("cccc0001", false, &[(80, 8080, "TCP")])
        .endpoint("e0000001", CONS_NET, "10.0.0.50", None)
        .plan();
    let consumer = ns(&with_client, "vpcep-r-aaaa0002");
    let fast = consumer
        .fast
        .as_ref()
        .expect("the consumer subnet's bridge skip");
    assert!(
        !fast.skips_router(),
        "a consumer router forwards no endpoint traffic"
    );
    let gw = ns(&with_client, "vpcep-g-0");
    let leg_mac = gw
        .links
        .iter()
        .find_map(|l| match l {
            Link::Veth {
                name, mac, peer, ..
            } if name.starts_with('c') && peer == "gbbbb0003" => Some(*mac),
            _ => None,
        })
        .expect("the consumer leg");
    let client_mac: Mac = "fa:16:3e:cc:00:03".parse().expect("mac");
    assert_eq!(
        fast.to_legs.iter().collect::<Vec<_>>(),
        vec![(
            &("ncccc0003".to_string(), leg_mac),
            &"gbbbb0003".to_string()
        )]
    );
    assert_eq!(
        fast.to_hosts.iter().collect::<Vec<_>>(),
        vec![(
            &("gbbbb0003".to_string(), client_mac),
            &"ncccc0003".to_string()
        )]
    );

    let lb = lb_service("TCP", 2).plan();
    assert!(
        ns(&lb, "vpcep-r-aaaa0001").fast.is_none(),
        "a router with a table of its own keeps the normal path"
    );
}
