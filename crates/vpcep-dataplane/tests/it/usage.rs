//! Metering end to end (docs/metering.md): bytes sent through an endpoint are billed in the
//! endpoint owner's usage (`GET /v1/{project_id}/usage`, what `vpcep usage` prints) and equal
//! the kernel's counter `/metrics` exports, within the documented precision; after an agent
//! restart (no clean-up, as after kill -9) more traffic is billed once — the usage total is still the kernel's
//! cumulative counter, not twice it — and `/metrics` did not go backwards. Time in `accepted`
//! is billed by the metering tick, never more than the endpoint was accepted. Traffic just
//! before the endpoint is deleted is billed by the report the agent sends before removing it.
//! With two gateway shards, each endpoint is billed from its own shard's counters, never the
//! other's.

use vpcep_client::Client;

use crate::lab::*;
use crate::metrics::{
    DOWN, UP, exchange, listed_elements, resent, scrape, serve_exchanges, table_handle, value,
};

/// The endpoint's usage summed over hours: (accepted seconds, rx bytes, rx packets, tx bytes).
async fn billed(c: &Client, eid: &str) -> (i64, u64, u64, u64) {
    let u = c.usage(None, None).await.expect("usage");
    u.usage
        .iter()
        .filter(|r| r.endpoint_id == eid)
        .fold((0, 0, 0, 0), |t, r| {
            (
                t.0 + r.accepted_seconds,
                t.1 + r.rx_bytes,
                t.2 + r.rx_packets,
                t.3 + r.tx_bytes,
            )
        })
}

fn now_ms() -> i64 {
    vpcep_control::now_ms()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_through_an_endpoint_are_billed_once_across_an_agent_restart() {
    if !can_run() {
        return;
    }
    let mut lab = Lab::start().await;
    let a = lab.account("alice").await;
    let v = vm_service(&a, "10.8.0", "10.8.0.0/16").await;
    let (web_ns, client_ns) = (lab.names.server(&v.web), lab.names.server(&v.client));
    lab.namespace(&web_ns).await;
    serve_exchanges(&mut lab, &web_ns).await;
    let created = now_ms();
    let (eid, ip) = create_endpoint(&a, &v.service, &v.consumer).await;
    wait_for("accepted", || async {
        status_of(&a, &format!("/vpc-endpoints/{eid}")).await == "accepted"
    })
    .await;
    let seen_accepted = now_ms();
    lab.namespace(&client_ns).await;
    let resent_before = resent(&client_ns).await;
    exchange(&client_ns, &ip).await;

    // Billed = the kernel's counter as `/metrics` shows it, once the agent has reported (it
    // reports every 500 ms in the lab; 15 s in `vpcep serve`).
    let url = lab.server.url();
    let ep = [("endpoint_id", eid.as_str())];
    let metric = |name: &'static str| {
        let url = url.clone();
        async move { value(&scrape(&url).await, name, &ep) as u64 }
    };
    let mut usage = (0, 0, 0, 0);
    wait_for("the traffic billed as counted", async || {
        usage = billed(&a, &eid).await;
        usage.1 > 0 && usage.1 == metric("vpcep_rx_byte_total").await
    })
    .await;
    let (_, rx, rx_pkts, tx) = usage;
    // Precision: IP bytes, the payload plus at most 60 bytes of headers per packet (one
    // connection per exchange when the first attempt works; a retry adds its own bytes).
    // Segments the client sent again (a loaded machine drops from a full backlog) crossed the
    // gateway twice and are billed twice, as a cloud bills them: at most one MSS each.
    let conns = metric("vpcep_connections").await;
    let again = (resent(&client_ns).await - resent_before) * 1448;
    assert!(
        rx >= UP && rx <= conns * UP + 60 * rx_pkts + again,
        "billed rx {rx} B in {rx_pkts} packets for {UP} B sent over {conns} connection(s), {again} B sent again"
    );
    assert!(tx >= DOWN, "billed tx {tx} for {DOWN} sent back");
    wait_for("tx billed as counted", || async {
        billed(&a, &eid).await.3 == metric("vpcep_tx_byte_total").await
    })
    .await;

    // Agent restart (no clean-up, as after kill -9): the kernel keeps the counter, the new agent reports it again;
    // billed once.
    let gw = lab.names.gateway(0);
    let handle = table_handle(&gw).await;
    lab.restart_agent().await;
    let resent_before = resent(&client_ns).await;
    exchange(&client_ns, &ip).await;
    // `/metrics` reads the counters the new agent knows of once its first converge is done.
    wait_for(
        "/metrics counting the exchange after the restart",
        || async { metric("vpcep_rx_byte_total").await >= rx + UP },
    )
    .await;
    // The new agent found the gateway's table as planned and kept it (the same counters).
    assert_eq!(table_handle(&gw).await, handle, "table loaded again");
    wait_for("the second exchange billed as counted", async || {
        usage = billed(&a, &eid).await;
        usage.1 == metric("vpcep_rx_byte_total").await && usage.1 >= rx + UP
    })
    .await;
    let (_, rx2, rx2_pkts, _) = usage;
    let conns2 = metric("vpcep_connections").await;
    let again = (resent(&client_ns).await - resent_before) * 1448;
    assert!(
        rx2 - rx <= (conns2 - conns).max(1) * UP + 60 * (rx2_pkts - rx_pkts) + again,
        "billed {} B for one more exchange of {UP} B: counted twice?",
        rx2 - rx
    );
    // Reports keep coming (every 500 ms): the bill stays the counter, not a multiple of it.
    // (A wait for nothing to happen over three report periods, not a readiness wait.)
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(
        billed(&a, &eid).await.1,
        rx2,
        "billed again without traffic"
    );
    eprintln!("billed rx: {rx} B → restart + {UP} B → {rx2} B (= /metrics)");

    // Time in `accepted`: the metering tick (every 15 s in `vpcep serve`) bills from the
    // acceptance to now, never more than the endpoint existed.
    let control = &lab.server.control;
    let t1 = now_ms();
    control.meter(t1).await.expect("tick");
    control.meter(t1).await.expect("repeated tick");
    let secs = billed(&a, &eid).await.0;
    assert!(
        secs <= (t1 - created) / 1000 && secs >= (t1 - seen_accepted) / 1000 - 1,
        "accepted {secs} s; created {} s ago, seen accepted {} s ago",
        (t1 - created) / 1000,
        (t1 - seen_accepted) / 1000
    );
    eprintln!("accepted: {secs} s billed");

    // The endpoint deleted right after more traffic, with an agent whose periodic report is an
    // hour away: the report sent before the removal bills it.
    lab.restart_agent_reporting_every(std::time::Duration::from_secs(3600))
        .await;
    exchange(&client_ns, &ip).await;
    // As above: counted once the new agent's first converge is done.
    wait_for("/metrics counting the last exchange", || async {
        metric("vpcep_rx_byte_total").await >= rx2 + UP
    })
    .await;
    let counted = metric("vpcep_rx_byte_total").await;
    a.delete(&a.project_path(&format!("/vpc-endpoints/{eid}")))
        .await
        .expect("delete");
    wait_gone(&a, &format!("/vpc-endpoints/{eid}")).await;
    // The last reading is taken before the removal and sent beside it, not ahead of it.
    wait_for("the last reading billed", || async {
        billed(&a, &eid).await.1 >= rx2 + UP
    })
    .await;
    let rx3 = billed(&a, &eid).await.1;
    assert!(
        rx3 >= rx2 + UP && rx3 <= counted,
        "billed {rx3} after deleting; {rx2} before the last {UP} B, /metrics {counted}"
    );
    eprintln!("billed rx: {rx2} B → {UP} B, endpoint deleted → {rx3} B (/metrics {counted})");
}

/// One endpoint's element in the counted set `set` (`ep_rx`, `ep_tx`) of gateway `gw`, as the
/// kernel reads it: (packets, bytes), `None` when the element (or the table) is not there.
async fn element(gw: &str, set: &str, zone: u16, ip: &str) -> Option<(u64, u64)> {
    listed_elements(gw, "set", set).await.iter().find_map(|e| {
        let key = e["elem"]["val"]["concat"].as_array()?;
        let same =
            key.first()?.as_u64() == Some(u64::from(zone)) && key.get(1)?.as_str() == Some(ip);
        let c = &e["elem"]["counter"];
        same.then(|| {
            (
                c["packets"].as_u64().unwrap_or(0),
                c["bytes"].as_u64().unwrap_or(0),
            )
        })
    })
}

/// The consumer legs of gateway `gw`: leg interface → conntrack zone (its `zone_of_if` map).
async fn legs_of(gw: &str) -> std::collections::BTreeMap<String, u16> {
    listed_elements(gw, "map", "zone_of_if")
        .await
        .iter()
        .filter_map(|pair| {
            let leg = pair.get(0)?.as_str()?.to_string();
            let zone = u16::try_from(pair.get(1)?.as_u64()?).ok()?;
            Some((leg, zone))
        })
        .collect()
}

/// An endpoint of `service` in `net` at `ip`: its id.
async fn endpoint_at(c: &Client, service: &str, net: &Net, ip: &str) -> String {
    let e: serde_json::Value = c
        .post(
            &c.project_path("/vpc-endpoints"),
            &serde_json::json!({"endpoint_service_id": service, "vpc_id": net.vpc,
                "subnet_id": net.subnet, "port_ip": ip}),
        )
        .await
        .expect("endpoint");
    assert_eq!(e["ip"], ip, "endpoint address as requested");
    e["id"].as_str().expect("id").to_string()
}

/// Subnet `cidr` (gateway `gw`) in `vpc`: its id.
async fn subnet(c: &Client, vpc: &str, cidr: &str, gw: &str) -> String {
    let name = cidr.replace(['.', '/'], "-");
    let s: serde_json::Value = c
        .post(
            &c.project_path("/subnets"),
            &serde_json::json!({"subnet": {"name": name, "cidr": cidr, "gateway_ip": gw, "vpc_id": vpc}}),
        )
        .await
        .expect("subnet");
    s["subnet"]["id"].as_str().expect("subnet id").to_string()
}

/// How many of the account's endpoints are `accepted` (programmed by the agent).
async fn accepted(c: &Client) -> usize {
    let v: serde_json::Value = c
        .get(
            &c.project_path("/vpc-endpoints"),
            &[("limit", "1000".into())],
        )
        .await
        .expect("list");
    v["endpoints"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["status"] == "accepted")
        .count()
}

/// Rx bytes, rx packets, tx bytes: what is compared between an endpoint's kernel counters, its
/// bill and `/metrics`.
type Amounts = (u64, u64, u64);

/// An endpoint on a gateway shard, its client, and what the test has sent through it.
struct OnShard {
    eid: String,
    ip: String,
    gw: String,
    zone: u16,
    client_ns: String,
    exchanges: u64,
    resent_before: u64,
}

impl OnShard {
    /// The endpoint's series of `name` in `/metrics` (read from the kernel at the scrape).
    async fn metric(&self, url: &str, name: &str) -> u64 {
        value(&scrape(url).await, name, &[("endpoint_id", &self.eid)]) as u64
    }

    /// `n` exchanges ([`exchange`]) through the endpoint. `/metrics` reads the kernel when
    /// scraped: right after, it shows at least their payload (read in the wrong gateway, the
    /// other endpoint's counter or none).
    async fn send(&mut self, n: u64, url: &str) {
        for _ in 0..n {
            exchange(&self.client_ns, &self.ip).await;
        }
        self.exchanges += n;
        let (rx, tx) = (
            self.metric(url, "vpcep_rx_byte_total").await,
            self.metric(url, "vpcep_tx_byte_total").await,
        );
        let n = self.exchanges;
        assert!(
            rx >= n * UP && tx >= n * DOWN,
            "{} on {}: /metrics rx {rx} B, tx {tx} B after {n} exchange(s) of {UP} B up, {DOWN} \
             B back",
            self.eid,
            self.gw
        );
    }

    /// The kernel's counters of the endpoint's elements in its own gateway (`ep_rx`, `ep_tx`
    /// under its zone and address).
    async fn counted(&self) -> Amounts {
        let rx = element(&self.gw, "ep_rx", self.zone, &self.ip).await;
        let tx = element(&self.gw, "ep_tx", self.zone, &self.ip).await;
        match (rx, tx) {
            (Some((rx_pkts, rx)), Some((_, tx))) => (rx, rx_pkts, tx),
            _ => panic!("{}: no ep_rx/ep_tx element in {}", self.eid, self.gw),
        }
    }

    /// What the endpoint is billed, summed over hours.
    async fn billed(&self, c: &Client) -> Amounts {
        let (_, rx, rx_pkts, tx) = billed(c, &self.eid).await;
        (rx, rx_pkts, tx)
    }

    /// The endpoint's bill and its kernel counters, read in that order. A bill is an earlier
    /// reading of the endpoint's own counters, which only grow: above them, it holds traffic
    /// that element did not count (another endpoint's), and this panics.
    async fn not_billed_ahead(&self, c: &Client) -> (Amounts, Amounts) {
        let b = self.billed(c).await;
        let k = self.counted().await;
        assert!(
            b.0 <= k.0 && b.1 <= k.1 && b.2 <= k.2,
            "{} on {}: billed {b:?}, its counters say {k:?} (rx B, rx packets, tx B): billed \
             for traffic it did not carry",
            self.eid,
            self.gw
        );
        (b, k)
    }

    /// Wait until the endpoint's bill has caught up with its kernel counters, neither it nor
    /// `other` billed ahead of its own meanwhile; then check that `/metrics` exports the same,
    /// and that it is what was sent through this endpoint alone: at least its payload, at most
    /// its packets' headers more (and segments sent again). Returns what is billed.
    async fn billed_as_counted(&self, other: &OnShard, c: &Client, url: &str) -> Amounts {
        let mut seen = None;
        wait_for(
            &format!("{} on {} billed as its counters", self.eid, self.gw),
            async || {
                other.not_billed_ahead(c).await;
                let (b, k) = self.not_billed_ahead(c).await;
                if seen != Some((b, k)) {
                    eprintln!(
                        "{}: billed {b:?}, counted {k:?} (rx B, rx packets, tx B)",
                        self.gw
                    );
                    seen = Some((b, k));
                }
                b == k
            },
        )
        .await;
        // Billed as counted (the last values seen, equal).
        let ((rx, rx_pkts, tx), _) = seen.unwrap_or_default();
        assert_eq!(
            (
                self.metric(url, "vpcep_rx_byte_total").await,
                self.metric(url, "vpcep_tx_byte_total").await,
            ),
            (rx, tx),
            "{} on {}: /metrics vs billed (rx, tx) bytes",
            self.eid,
            self.gw
        );
        let conns = self.metric(url, "vpcep_connections").await;
        let again = (resent(&self.client_ns).await - self.resent_before) * 1448;
        let n = self.exchanges;
        assert!(
            rx >= n * UP && rx <= conns * UP + 60 * rx_pkts + again,
            "{} on {}: billed rx {rx} B in {rx_pkts} packets for {n} × {UP} B sent over \
             {conns} connection(s), {again} B sent again",
            self.eid,
            self.gw
        );
        assert!(
            tx >= n * DOWN,
            "{} on {}: billed tx {tx} B for {n} × {DOWN} B sent back",
            self.eid,
            self.gw
        );
        (rx, rx_pkts, tx)
    }

    /// The endpoint's counters, bill and `/metrics` still `was` while only the other endpoint
    /// carried traffic.
    async fn unchanged(&self, c: &Client, url: &str, was: Amounts, why: &str) {
        assert_eq!(self.counted().await, was, "{}: {why}", self.gw);
        assert_eq!(self.billed(c).await, was, "{}: billed {why}", self.eid);
        assert_eq!(
            (
                self.metric(url, "vpcep_rx_byte_total").await,
                self.metric(url, "vpcep_tx_byte_total").await,
            ),
            (was.0, was.2),
            "{}: /metrics {why}",
            self.eid
        );
    }
}

/// Metering with two gateway shards: the agent reports one gateway at a time
/// (`Reporter::report`), each endpoint's counters read in its own shard's table. An endpoint
/// on `g-0` and one on `g-1` with the same element key (the first leg of each shard: zone 1,
/// and the same address in two consumer VPCs on one CIDR), so counters taken from the wrong
/// shard would be the other endpoint's, not missing. Each is billed its own traffic (1
/// exchange against 3), equal to its kernel counter and to `/metrics`, never the other's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_gateway_shard_bills_its_own_endpoints() {
    use vpcep_dataplane::plan::LEGS_PER_SHARD;
    use vpcep_dataplane::plan::naming::consumer_leg;
    if !can_run() {
        return;
    }
    let started = std::time::Instant::now();
    // A shard's worth of endpoints and one more: above the default quota.
    let settings = vpcep_control::Settings {
        default_quotas: vpcep_core::model::Quotas {
            endpoint_service: 20,
            endpoint: 200,
        },
        ..Default::default()
    };
    let mut lab = Lab::start_with(settings).await;
    let a = lab.account("alice").await;
    let v = vm_service(&a, "10.9.0", "10.9.0.0/16").await;
    let web_ns = lab.names.server(&v.web);
    lab.namespace(&web_ns).await;
    serve_exchanges(&mut lab, &web_ns).await;
    // A second consumer VPC on the same CIDR, with a client at the same address.
    let two = network(&a, "two", "10.9.0.0/16", "10.9.0.0/24", "10.9.0.1").await;
    let (client2, _) = server(&a, "client2", &two, "10.9.0.20", &[]).await;

    // The first endpoint: the first leg of shard 0.
    let ip = "10.9.0.5";
    let e0 = endpoint_at(&a, &v.service, &v.consumer, ip).await;
    wait_for("the first endpoint accepted", async || {
        accepted(&a).await == 1
    })
    .await;
    // The rest of shard 0: one subnet and endpoint per leg (a leg is a consumer subnet with an
    // endpoint that carries traffic).
    for i in 1..LEGS_PER_SHARD {
        let subnet = subnet(
            &a,
            &v.consumer.vpc,
            &format!("10.9.{i}.0/24"),
            &format!("10.9.{i}.1"),
        )
        .await;
        let net = Net {
            vpc: v.consumer.vpc.clone(),
            subnet,
        };
        create_endpoint(&a, &v.service, &net).await;
    }
    let full = usize::from(LEGS_PER_SHARD);
    wait_for("shard 0's endpoints accepted", async || {
        accepted(&a).await == full
    })
    .await;
    let g0 = lab.names.gateway(0);
    let legs0 = legs_of(&g0).await;
    assert_eq!(legs0.len(), full, "legs of {g0}");
    eprintln!("{:?}: {full} endpoints on {g0}", started.elapsed());
    // The next subnet's endpoint: shard 0 is full, so the first leg of shard 1.
    let e1 = endpoint_at(&a, &v.service, &two, ip).await;
    wait_for("the endpoint on shard 1 accepted", async || {
        accepted(&a).await == full + 1
    })
    .await;
    let g1 = lab.names.gateway(1);
    lab.namespace(&g1).await;
    let legs1 = legs_of(&g1).await;
    let (leg0, leg1) = (
        consumer_leg(&v.consumer.subnet).0,
        consumer_leg(&two.subnet).0,
    );
    assert_eq!(
        legs1.keys().collect::<Vec<_>>(),
        [&leg1],
        "{g1}: the new subnet's leg alone"
    );
    assert_eq!(legs_of(&g0).await, legs0, "{g0} unchanged");
    // The same element key on both shards.
    let zone = legs0[&leg0];
    assert_eq!(
        (zone, legs1[&leg1]),
        (1, 1),
        "zones of the two endpoints' legs"
    );
    eprintln!("{:?}: endpoint on {g1}", started.elapsed());

    let (c0, c1) = (lab.names.server(&v.client), lab.names.server(&client2));
    lab.namespace(&c0).await;
    lab.namespace(&c1).await;
    let on = |eid: String, gw: &str, client_ns: String, resent_before| OnShard {
        eid,
        ip: ip.into(),
        gw: gw.into(),
        zone,
        client_ns,
        exchanges: 0,
        resent_before,
    };
    let mut on0 = on(e0, &g0, c0.clone(), resent(&c0).await);
    let mut on1 = on(e1, &g1, c1.clone(), resent(&c1).await);
    let url = lab.server.url();
    // Both counted by the agent (its accounting follows the `accepted` report).
    wait_for("both endpoints in /metrics", || async {
        let s = scrape(&url).await;
        [&on0, &on1].iter().all(|e| {
            s.keys().any(|(n, l)| {
                n == "vpcep_rx_byte_total"
                    && l.get("endpoint_id").map(String::as_str) == Some(e.eid.as_str())
            })
        })
    })
    .await;

    // Traffic through shard 1's endpoint only. Each report reads g-0 before g-1: once the bill
    // of shard 1's endpoint has caught up, shard 0's endpoint was read after that traffic too.
    on1.send(2, &url).await;
    let b1 = on1.billed_as_counted(&on0, &a, &url).await;
    on0.unchanged(&a, &url, (0, 0, 0), "counted shard 1's traffic")
        .await;

    // Then through shard 0's endpoint, less of it.
    on0.send(1, &url).await;
    let b0 = on0.billed_as_counted(&on1, &a, &url).await;
    on1.unchanged(&a, &url, b1, "counted shard 0's traffic")
        .await;

    // And shard 1's again: its bill caught up with its own counter only (shard 0's traffic,
    // had it been added to it, would be above), and, g-0 being read first in a report, shard
    // 0's endpoint was read after this traffic too.
    on1.send(1, &url).await;
    let b1 = on1.billed_as_counted(&on0, &a, &url).await;
    on0.unchanged(&a, &url, b0, "counted shard 1's later traffic")
        .await;
    // Different amounts (1 exchange against 3; each within its own traffic's bounds above).
    assert!(
        b1.0 > b0.0 + UP && b1.2 > b0.2 + DOWN,
        "billed (rx B, rx packets, tx B): {b0:?} on {g0} for 1 exchange, {b1:?} on {g1} for 3"
    );
    eprintln!(
        "{:?}: billed {b0:?} on {g0}, {b1:?} on {g1} (rx B, rx packets, tx B)",
        started.elapsed()
    );
}
