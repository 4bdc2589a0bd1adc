//! Metering end to end (docs/metering.md): bytes sent through an endpoint are billed in the
//! endpoint owner's usage (`GET /v1/{project_id}/usage`, what `vpcep usage` prints) and equal
//! the kernel's counter `/metrics` exports, within the documented precision; after an agent
//! restart (no clean-up, as after kill -9) more traffic is billed once — the usage total is still the kernel's
//! cumulative counter, not twice it — and `/metrics` did not go backwards. Time in `accepted`
//! is billed by the metering tick, never more than the endpoint was accepted. Traffic just
//! before the endpoint is deleted is billed by the report the agent sends before removing it.

use vpcep_client::Client;

use crate::lab::*;
use crate::metrics::{DOWN, UP, exchange, resent, scrape, table_handle, value};

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
    let serve = format!("wc -c >/dev/null; head -c {DOWN} /dev/zero");
    lab.spawn_in(
        &web_ns,
        &[
            "socat",
            "TCP-LISTEN:80,fork,reuseaddr",
            &format!("SYSTEM:{serve}"),
        ],
    )
    .await;
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
