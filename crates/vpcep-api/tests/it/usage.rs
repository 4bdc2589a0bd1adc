//! Metering over HTTP (docs/metering.md): the agent's `POST /agent/v1/usage` (token only, a
//! repeated report billed once) and `GET /v1/{project_id}/usage` (the owner's endpoints only,
//! JSON or CSV, times checked), on every backend.

use reqwest::Method;
use serde_json::json;
use vpcep_client::ClientError;
use vpcep_huawei::usage::CSV_HEADER;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_readings_are_billed_once_to_the_endpoint_owner() {
    for srv in every_backend().await {
        let alice = srv.account("alice").await;
        let bob = srv.account("bob").await;
        let now = vpcep_control::now_ms();
        let report = |rx: u64, read_ms: i64| {
            json!({"agent": "t", "boot_id": "b", "counters": [{
                "endpoint_id": "e1", "project_id": alice.info.project_id, "service_id": "s1",
                "namespace": "gw0", "rx": {"packets": 3, "bytes": rx},
                "tx": {"packets": 4, "bytes": 2 * rx}, "read_ms": read_ms,
            }]})
        };

        // Without the token: refused.
        let resp = reqwest::Client::new()
            .post(format!("{}/agent/v1/usage", srv.url()))
            .json(&report(1, now))
            .send()
            .await
            .expect("post");
        assert_eq!(resp.status().as_u16(), 401, "{}", srv.backend);

        let (st, ack) = srv
            .agent(Method::POST, "/usage", Some(report(1000, now)))
            .await;
        assert_eq!((st, &ack), (200, &json!({"counted": 1, "unchanged": 0})));
        // The same reading again (a retried request, a restarted agent): nothing more.
        let (_, ack) = srv
            .agent(Method::POST, "/usage", Some(report(1000, now + 1)))
            .await;
        assert_eq!(ack, json!({"counted": 0, "unchanged": 1}));
        let (_, ack) = srv
            .agent(Method::POST, "/usage", Some(report(1500, now + 2)))
            .await;
        assert_eq!(ack, json!({"counted": 1, "unchanged": 0}));
        // A malformed report is a 400, not a 500.
        let (st, _) = srv
            .agent(Method::POST, "/usage", Some(json!({"counters": 5})))
            .await;
        assert_eq!(st, 400);

        let u = alice.client.usage(None, None).await.expect("usage");
        assert_eq!(u.usage.len(), 1, "{u:?}");
        let row = &u.usage[0];
        assert_eq!(
            (row.endpoint_id.as_str(), row.rx_bytes, row.tx_bytes),
            ("e1", 1500, 3000)
        );
        assert!(row.hour.ends_with(":00:00Z"), "{}", row.hour);
        // Bob sees none of it.
        assert!(
            bob.client
                .usage(None, None)
                .await
                .expect("usage")
                .usage
                .is_empty()
        );
        // A range before the traffic: nothing.
        let earlier = alice
            .client
            .usage(Some("2020-01-01T00:00:00Z"), Some("2020-01-02T00:00:00Z"))
            .await
            .expect("usage");
        assert_eq!(
            (earlier.from.as_str(), earlier.usage.len()),
            ("2020-01-01T00:00:00Z", 0)
        );

        // Bad times and formats: 400 with a parameter code.
        for (from, to) in [
            (Some("yesterday"), None),
            (Some("2026-01-02T00:00:00Z"), Some("2026-01-01T00:00:00Z")),
        ] {
            let e = alice.client.usage(from, to).await.expect_err("bad range");
            assert!(
                matches!(&e, ClientError::Api { status: 400, code, .. } if code == "EndPoint.0002"),
                "{e}"
            );
        }
        let path = alice.client.project_path("/usage");
        let e = alice
            .client
            .call(Method::GET, &path, &[("format", "xml".into())], None)
            .await
            .expect_err("bad format");
        assert!(matches!(e, ClientError::Api { status: 400, .. }), "{e}");

        // The CSV export: the same row (the typed client reads JSON, so it reports the text).
        match alice
            .client
            .call(Method::GET, &path, &[("format", "csv".into())], None)
            .await
        {
            Err(ClientError::Decode { status: 200, body }) => {
                let lines: Vec<&str> = body.split("\r\n").collect();
                assert_eq!(lines[0], CSV_HEADER);
                assert!(
                    lines[1].ends_with(&format!("e1,s1,{},0,1500,3,3000,4", alice.info.project_id)),
                    "{body}"
                );
            }
            other => panic!("CSV expected: {other:?}"),
        }
    }
}
