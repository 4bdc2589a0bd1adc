//! Traffic accounting end to end: bytes sent through an endpoint appear in the control plane's
//! `/metrics` under the endpoint's and its service's Cloud Eye names and labels, within the
//! documented precision (IP bytes: the payload plus at most the headers of its packets), and
//! the counters never go backwards — not across an agent restart (no clean-up, as after kill -9:
//! the kernel keeps the counters and the starting agent's reload starts from them), nor when the gateway namespace
//! is deleted behind the agent's back (its counters are rebuilt from the last reading), nor
//! for the service when one of its endpoints is rejected (its totals stay in the service's).

use std::collections::BTreeMap;

use vpcep_client::services::ConnectionAction;

use crate::lab::*;

/// Bytes the client sends through the endpoint per request, and the backend sends back.
pub(crate) const UP: u64 = 200_000;
pub(crate) const DOWN: u64 = 300_000;

/// The backend's side of [`exchange`] in `ns`, port 80: reads what comes, sends DOWN bytes.
pub(crate) async fn serve_exchanges(lab: &mut Lab, ns: &str) {
    let serve = format!("wc -c >/dev/null; head -c {DOWN} /dev/zero");
    lab.spawn_in(
        ns,
        &[
            "socat",
            "TCP-LISTEN:80,fork,reuseaddr",
            &format!("SYSTEM:{serve}"),
        ],
    )
    .await;
}

/// One exchange through the endpoint: UP bytes to the backend, DOWN bytes back.
pub(crate) async fn exchange(client_ns: &str, ip: &str) {
    let script = format!(
        "head -c {UP} /dev/zero | timeout 10 socat -t 5 - TCP:{ip}:80,connect-timeout=2 | wc -c"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (ok, out) = exec_in(client_ns, &["sh", "-c", &script]).await;
        if ok && out.trim() == DOWN.to_string() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "exchange through {ip} failed: {out:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// TCP segments sent again from `ns` so far (`RetransSegs` of its /proc/net/snmp).
pub(crate) async fn resent(ns: &str) -> u64 {
    let (ok, snmp) = exec_in(ns, &["cat", "/proc/net/snmp"]).await;
    assert!(ok, "read /proc/net/snmp in {ns}");
    let mut tcp = snmp.lines().filter(|l| l.starts_with("Tcp:"));
    let (names, values) = (
        tcp.next().unwrap_or_default(),
        tcp.next().unwrap_or_default(),
    );
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == "RetransSegs")
        .and_then(|(_, v)| v.parse().ok())
        .expect("RetransSegs in /proc/net/snmp")
}

/// `/metrics` samples: (name, labels) → value.
pub(crate) type Samples = BTreeMap<(String, BTreeMap<String, String>), f64>;

pub(crate) async fn scrape(url: &str) -> Samples {
    let text = reqwest::get(format!("{url}/metrics"))
        .await
        .expect("scrape")
        .text()
        .await
        .expect("body");
    let mut out = Samples::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        let labels = labels
            .split("\",")
            .filter_map(|kv| kv.split_once("=\""))
            .map(|(k, v)| (k.to_string(), v.trim_end_matches('"').to_string()))
            .collect();
        if let Ok(v) = value.parse() {
            out.insert((name.to_string(), labels), v);
        }
    }
    out
}

/// The value of `name` for the series whose labels include `want` (exactly one must match).
pub(crate) fn value(s: &Samples, name: &str, want: &[(&str, &str)]) -> f64 {
    let hits: Vec<f64> = s
        .iter()
        .filter(|((n, l), _)| {
            n == name
                && want
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, v)| *v)
        .collect();
    assert_eq!(hits.len(), 1, "one series {name} {want:?} in {s:?}");
    hits[0]
}

/// The kernel's own reading of the endpoint's `ep_rx` element in the gateway (bytes; 0 while
/// the table is not there).
async fn kernel_rx_bytes(gw: &str) -> u64 {
    listed_elements(gw, "set", "ep_rx")
        .await
        .iter()
        .map(|e| e["elem"]["counter"]["bytes"].as_u64().unwrap_or(0))
        .sum()
}

/// The elements of `kind` (`set` or `map`) `name` in gateway `gw`'s table as `nft -j` lists
/// them; none when it is not there (yet).
pub(crate) async fn listed_elements(gw: &str, kind: &str, name: &str) -> Vec<serde_json::Value> {
    let (ok, out) = exec_in(gw, &["nft", "-j", "list", kind, "ip", "vpcep", name]).await;
    if !ok {
        return Vec::new();
    }
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
    v["nftables"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| o[kind]["elem"].as_array())
        .flatten()
        .cloned()
        .collect()
}

/// The handle of the gateway's table: it changes when the table is reloaded.
pub(crate) async fn table_handle(gw: &str) -> String {
    let (_, out) = exec_in(gw, &["nft", "-a", "list", "table", "ip", "vpcep"]).await;
    out.lines().next().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_traffic_is_counted_in_the_kernel_and_never_goes_backwards() {
    if !can_run() {
        return;
    }
    let mut lab = Lab::start().await;
    let a = lab.account("alice").await;
    let v = vm_service(&a, "10.7.0", "10.7.0.0/16").await;
    let (web_ns, client_ns) = (lab.names.server(&v.web), lab.names.server(&v.client));
    lab.namespace(&web_ns).await;
    serve_exchanges(&mut lab, &web_ns).await;
    let (eid, ip) = create_endpoint(&a, &v.service, &v.consumer).await;
    wait_for("accepted", || async {
        status_of(&a, &format!("/vpc-endpoints/{eid}")).await == "accepted"
    })
    .await;
    lab.namespace(&client_ns).await;
    let resent_before = (resent(&client_ns).await, resent(&web_ns).await);
    exchange(&client_ns, &ip).await;

    // Labels: the endpoint, its service, the consumer's project.
    let url = lab.server.url();
    let ep = [
        ("endpoint_id", eid.as_str()),
        ("service_id", v.service.as_str()),
        ("project_id", a.project_id.as_str()),
    ];
    let s = scrape(&url).await;
    let rx = value(&s, "vpcep_rx_byte_total", &ep) as u64;
    let tx = value(&s, "vpcep_tx_byte_total", &ep) as u64;
    let rx_pkts = value(&s, "vpcep_rx_pkt_total", &ep) as u64;
    let tx_pkts = value(&s, "vpcep_tx_pkt_total", &ep) as u64;
    // Precision: IP bytes, so at least the payload and at most its packets' headers more
    // (IP 20 + TCP 32 bytes with timestamps; the handshake and FINs are packets without payload).
    // A connection that did not succeed at once (a retry of `exchange`) adds its own bytes.
    assert!(rx_pkts > 0 && tx_pkts > 0, "packets {rx_pkts}/{tx_pkts}");
    let conns = value(&s, "vpcep_connections", &ep) as u64;
    assert!(conns >= 1, "new connections {conns}");
    // Segments sent again (a loaded machine drops from a full backlog) crossed the gateway
    // twice and count twice, at most one MSS each.
    let again_up = (resent(&client_ns).await - resent_before.0) * 1448;
    let again_down = (resent(&web_ns).await - resent_before.1) * 1448;
    assert!(
        rx >= UP && rx <= conns * UP + 60 * rx_pkts + again_up,
        "rx {rx} bytes in {rx_pkts} packets for {UP} sent over {conns} connection(s), {again_up} sent again"
    );
    assert!(
        tx >= DOWN && tx <= conns * DOWN + 60 * tx_pkts + again_down,
        "tx {tx} bytes in {tx_pkts} packets for {DOWN} sent back, {again_down} sent again"
    );
    eprintln!(
        "counted: rx {rx} B / {rx_pkts} pkts for {UP} B payload, tx {tx} B / {tx_pkts} pkts for {DOWN} B, {conns} connection(s)"
    );
    assert_eq!(value(&s, "vpcep_drop_num", &ep), 0.0);
    // The service's set: the sum over its endpoints (one here).
    let svc = [("service_id", v.service.as_str())];
    assert_eq!(value(&s, "vpcep_eps_rx_byte_total", &svc) as u64, rx);
    assert_eq!(value(&s, "vpcep_eps_tx_byte_total", &svc) as u64, tx);
    assert_eq!(value(&s, "vpcep_eps_connections", &svc) as u64, conns);
    // A connection held open shows as established.
    hold_connection(&mut lab, &client_ns, &ip, &url, &ep).await;

    // Agent restart (no clean-up, as after kill -9): the starting agent finds the gateway's
    // table as planned and keeps it, counters and all.
    let gw = lab.names.gateway(0);
    let handle = table_handle(&gw).await;
    lab.restart_agent().await;
    exchange(&client_ns, &ip).await;
    // `/metrics` reads the counters the new agent knows of once its first converge is done.
    wait_for(
        "/metrics counting on from the kernel after the restart",
        || async {
            let s2 = scrape(&url).await;
            value(&s2, "vpcep_rx_byte_total", &ep) as u64 >= rx + UP
                && value(&s2, "vpcep_tx_byte_total", &ep) as u64 >= tx + DOWN
        },
    )
    .await;
    assert_eq!(
        table_handle(&gw).await,
        handle,
        "the new agent loaded again a table that was as planned"
    );
    let rx1 = value(&scrape(&url).await, "vpcep_rx_byte_total", &ep) as u64;

    // The table changed while no agent ran (one of its maps emptied): the next agent loads it
    // again, and the reloaded counters start from the kernel's.
    lab.stop_agent().await;
    let before = kernel_rx_bytes(&gw).await;
    let (ok, out) = exec_in(
        &gw,
        &["nft", "flush", "map", "ip", "vpcep", "table_of_zone"],
    )
    .await;
    assert!(ok, "{out}");
    lab.restart_agent().await;
    wait_for("the gateway's table reloaded by the new agent", || async {
        table_handle(&gw).await != handle
    })
    .await;
    let after = kernel_rx_bytes(&gw).await;
    assert!(
        after >= before,
        "counter went back across the reload: {before} → {after}"
    );
    exchange(&client_ns, &ip).await;
    wait_for("/metrics counting on after the reload", || async {
        value(&scrape(&url).await, "vpcep_rx_byte_total", &ep) as u64 >= rx1 + UP
    })
    .await;
    let rx2 = value(&scrape(&url).await, "vpcep_rx_byte_total", &ep) as u64;

    // The gateway namespace deleted behind the agent's back: rebuilt, its counters start from
    // the last reading (the scrape above), and `/metrics` does not go back either.
    let status = std::process::Command::new("ip")
        .args(["netns", "del", &gw])
        .status()
        .expect("ip netns del");
    assert!(status.success());
    lab.namespace(&gw).await;
    wait_for(
        "the rebuilt gateway counts from the last reading",
        || async { kernel_rx_bytes(&gw).await >= rx2 },
    )
    .await;
    let rx3 = value(&scrape(&url).await, "vpcep_rx_byte_total", &ep) as u64;
    assert!(rx3 >= rx2, "rebuilt gateway: {rx2} → {rx3}");
    eprintln!("rx bytes: {rx} → restart → {rx2} → gateway rebuilt → {rx3}");

    // The endpoint leaves (reject: one endpoint's patch, not a full converge): the service keeps
    // what it counted, and nothing is established through it any more.
    hold_connection(&mut lab, &client_ns, &ip, &url, &ep).await;
    let svc_rx = value(&scrape(&url).await, "vpcep_eps_rx_byte_total", &svc) as u64;
    a.connection_action(&v.service, ConnectionAction::Reject, &eid)
        .await
        .expect("reject");
    wait_for(
        "no established connection through the rejected endpoint",
        || async { value(&scrape(&url).await, "vpcep_act_connections", &ep) == 0.0 },
    )
    .await;
    let s4 = scrape(&url).await;
    assert!(
        value(&s4, "vpcep_eps_rx_byte_total", &svc) as u64 >= svc_rx,
        "the service's total went back when its endpoint left"
    );
}

/// Open a connection from `client_ns` through the endpoint at `ip` and hold it (30 s), until
/// `/metrics` shows it established for the endpoint labelled `ep`.
async fn hold_connection(lab: &mut Lab, client_ns: &str, ip: &str, url: &str, ep: &[(&str, &str)]) {
    lab.spawn_in(
        client_ns,
        &["socat", "-u", &format!("TCP:{ip}:80"), "EXEC:sleep 30"],
    )
    .await;
    wait_for("an established connection", || async {
        value(&scrape(url).await, "vpcep_act_connections", ep) >= 1.0
    })
    .await;
}
