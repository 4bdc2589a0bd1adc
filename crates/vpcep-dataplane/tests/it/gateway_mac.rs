//! Stable MACs (issue 9, item 6): when the last endpoint of a consumer subnet goes, the gateway
//! leg leaves the subnet's bridge. The bridge must keep its MAC (it has a fixed one of its own,
//! not the lowest of its ports'), so hosts keep reaching their default gateway without a pause.

use serde_json::Value;
use vpcep_client::services::ConnectionAction;
use vpcep_dataplane::plan::naming::{bridge, consumer_leg};

use crate::lab::*;

/// The MAC of `dev` in `ns`.
async fn mac_of(ns: &str, dev: &str) -> String {
    let (ok, out) = exec_in(ns, &["ip", "-j", "link", "show", dev]).await;
    assert!(ok, "{dev} in {ns}");
    let v: Value = serde_json::from_str(&out).expect("ip -j");
    v[0]["address"].as_str().expect("address").to_string()
}

/// The link-layer address `ns` has for its neighbour `ip`.
async fn neighbour(ns: &str, ip: &str) -> String {
    let (_, out) = exec_in(ns, &["ip", "-j", "neigh", "show", ip]).await;
    let v: Value = serde_json::from_str(&out).unwrap_or_default();
    v[0]["lladdr"].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subnet_gateway_keeps_its_mac_when_the_last_endpoint_goes() {
    if !can_run() {
        return;
    }
    let mut lab = Lab::start().await;
    let a = lab.account("alice").await;
    let s = vm_service(&a, "10.8.0", "10.8.0.0/16").await;
    let (eid, _) = create_endpoint(&a, &s.service, &s.consumer).await;
    wait_for("endpoint accepted", || async {
        status_of(&a, &format!("/vpc-endpoints/{eid}")).await == "accepted"
    })
    .await;
    let client_ns = lab.names.server(&s.client);
    let router = lab.names.router(&s.consumer.vpc);
    let (br, leg) = (
        bridge(&s.consumer.subnet),
        consumer_leg(&s.consumer.subnet).1,
    );
    lab.namespace(&client_ns).await;
    // The gateway answers on its own address (a UDP echo in the consumer's router).
    lab.spawn_in(&router, &["python3", "-c", ECHO]).await;
    assert!(exec_in(&router, &["ip", "link", "show", &leg]).await.0);
    wait_for("the host reaches its gateway", || async {
        exec_in(&client_ns, &["sh", "-c", ASK_GATEWAY]).await.1 == "pong"
    })
    .await;
    let bridge_mac = mac_of(&router, &br).await;
    // Its MAC is set (addr_assign_type 3, NET_ADDR_SET), not taken from a port: whichever
    // port happens to have the lowest MAC (the leg, half of the time) may leave.
    let (_, assign) = exec_in(
        &router,
        &["cat", &format!("/sys/class/net/{br}/addr_assign_type")],
    )
    .await;
    assert_eq!(assign, "3", "the bridge's MAC is its own");
    assert_eq!(
        neighbour(&client_ns, "10.8.0.1").await,
        bridge_mac,
        "the host's entry for its gateway is the bridge's MAC"
    );

    // Keep asking the gateway for 5 s while the endpoint is rejected, then deleted.
    let talk = tokio::spawn({
        let ns = client_ns.clone();
        async move { exec_in(&ns, &["python3", "-c", KEEP_ASKING]).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    a.connection_action(&s.service, ConnectionAction::Reject, &eid)
        .await
        .expect("reject");
    wait_for("the gateway leg leaves the bridge", || async {
        !exec_in(&router, &["ip", "link", "show", &leg]).await.0
    })
    .await;
    assert_eq!(
        a.delete(&a.project_path(&format!("/vpc-endpoints/{eid}")))
            .await
            .expect("delete"),
        204
    );
    let (_, out) = talk.await.expect("talk");
    eprintln!("requests sent, answered, longest silence (ms): {out}");
    let n: Vec<u64> = out.split(' ').filter_map(|n| n.parse().ok()).collect();
    let [sent, answered, silence] = n[..] else {
        panic!("{out}");
    };
    assert!(sent > 100, "{out}");
    assert!(answered + 2 >= sent, "the gateway kept answering: {out}");
    assert!(silence < 1000, "no pause in the gateway's answers: {out}");
    assert_eq!(
        mac_of(&router, &br).await,
        bridge_mac,
        "the bridge kept its MAC"
    );
    assert_eq!(
        exec_in(&client_ns, &["sh", "-c", ASK_GATEWAY]).await.1,
        "pong"
    );
    assert_eq!(
        neighbour(&client_ns, "10.8.0.1").await,
        bridge_mac,
        "the host's neighbour entry for its gateway is unchanged"
    );
}

/// One UDP request to the gateway's echo.
const ASK_GATEWAY: &str = "echo ping | timeout 2 socat -T1 - UDP:10.8.0.1:7777";

/// A UDP echo on the gateway (one process, no fork per request).
const ECHO: &str = "import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('0.0.0.0', 7777))
while True:
    _, peer = s.recvfrom(64)
    s.sendto(b'pong\\n', peer)
";

/// A request to the gateway every 20 ms for 5 s: `sent answered longest-silence-in-ms`.
const KEEP_ASKING: &str = "import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect(('10.8.0.1', 7777))
s.settimeout(0.02)
sent = answered = silence = 0
end = time.monotonic() + 5
last = time.monotonic()
while time.monotonic() < end:
    s.send(b'ping')
    sent += 1
    while True:
        try:
            s.recv(64)
        except (socket.timeout, ConnectionRefusedError):
            break
        now = time.monotonic()
        answered += 1
        silence = max(silence, now - last)
        last = now
silence = max(silence, time.monotonic() - last)
print(sent, answered, int(silence * 1000))
";
