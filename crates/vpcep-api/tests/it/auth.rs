//! Signature and tenancy checks (SPEC R2, Q4).

use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::harness::*;

/// Sign a request like the SDK, let `tamper` change the signed headers afterwards, send it.
pub async fn signed_raw(
    acc: &Account,
    method: reqwest::Method,
    path: &str,
    query: &str,
    body: &[u8],
    tamper: impl FnOnce(&mut Vec<(String, String)>),
) -> (u16, Value) {
    signed_with(
        acc,
        &acc.info.secret_key,
        method,
        path,
        query,
        body,
        OffsetDateTime::now_utc(),
        tamper,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
pub async fn signed_with(
    acc: &Account,
    secret: &str,
    method: reqwest::Method,
    path: &str,
    query: &str,
    body: &[u8],
    now: OffsetDateTime,
    tamper: impl FnOnce(&mut Vec<(String, String)>),
) -> (u16, Value) {
    let url = acc.base_url.clone();
    let host = url.trim_start_matches("http://").to_string();
    let mut headers = vec![
        ("Host".to_string(), host),
        ("Content-Type".to_string(), "application/json".to_string()),
        ("X-Project-Id".to_string(), acc.info.project_id.clone()),
    ];
    vpcep_auth::sign_request(
        &acc.info.access_key,
        secret,
        method.as_str(),
        path,
        query,
        &mut headers,
        body,
        now,
    );
    tamper(&mut headers);
    let full = if query.is_empty() {
        format!("{url}{path}")
    } else {
        format!("{url}{path}?{query}")
    };
    let mut req = reqwest::Client::new()
        .request(method, full)
        .body(body.to_vec());
    for (k, v) in &headers {
        if k != "Host" {
            req = req.header(k.as_str(), v.as_str());
        }
    }
    let resp = req.send().await.expect("send");
    let status = resp.status().as_u16();
    assert!(
        resp.headers().contains_key("x-request-id"),
        "every response carries X-Request-Id"
    );
    let text = resp.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn signatures_are_verified() {
    let srv = Server::start().await;
    let alice = srv.account("alice").await;
    let bob = srv.account("bob").await;
    let path = alice.client.project_path("/vpc-endpoint-services");
    let get = reqwest::Method::GET;

    let (st, _) = signed_raw(&alice, get.clone(), &path, "limit=10&offset=0", b"", |_| {}).await;
    assert_eq!(st, 200, "a correct signature passes");

    let unauth = |(st, body): (u16, Value)| {
        assert_eq!(st, 401);
        assert_eq!(body["error_code"], "EndPoint.0003");
        // Never a hint about which part was wrong.
        assert_eq!(
            body["error_msg"],
            "Authentication failed or authentication information is invalid."
        );
    };
    unauth(
        signed_with(
            &alice,
            "wrong-secret",
            get.clone(),
            &path,
            "",
            b"",
            OffsetDateTime::now_utc(),
            |_| {},
        )
        .await,
    );
    // Query altered after signing: the query is part of the signature.
    let mut signed = vec![];
    let _ = signed_raw(&alice, get.clone(), &path, "limit=10", b"", |h| {
        signed = h.clone()
    })
    .await;
    unauth(send_headers(&alice, &format!("{path}?limit=11"), &signed).await);
    // Path altered after signing.
    unauth(send_headers(&alice, &format!("{path}/describe?limit=10"), &signed).await);
    let post = reqwest::Method::POST;
    // Body altered after signing.
    let body = json!({"action": "receive"}).to_string();
    let (st, _) = signed_raw(
        &alice,
        post.clone(),
        &format!("{path}/x/connections/action"),
        "",
        body.as_bytes(),
        |h| {
            h.retain(|(k, _)| k != "Content-Length");
        },
    )
    .await;
    assert_ne!(st, 401, "untampered body verifies");
    // Signed header altered.
    unauth(
        signed_raw(&alice, get.clone(), &path, "", b"", |h| {
            for (k, v) in h.iter_mut() {
                if k == "X-Project-Id" {
                    *v = "0".repeat(32);
                }
            }
        })
        .await,
    );
    // Replayed outside the skew window.
    let old = OffsetDateTime::now_utc() - time::Duration::minutes(20);
    unauth(
        signed_with(
            &alice,
            &alice.info.secret_key,
            get.clone(),
            &path,
            "",
            b"",
            old,
            |_| {},
        )
        .await,
    );
    // No Authorization at all; unknown access key.
    unauth(
        signed_raw(&alice, get.clone(), &path, "", b"", |h| {
            h.retain(|(k, _)| k != "Authorization")
        })
        .await,
    );
    unauth(
        signed_raw(&alice, get.clone(), &path, "", b"", |h| {
            for (k, v) in h.iter_mut() {
                if k == "Authorization" {
                    *v = v.replace(
                        &format!("Access={}", alice.info.access_key),
                        "Access=NOSUCHKEY0000000000",
                    );
                }
            }
        })
        .await,
    );

    // Valid signature, but another tenant's project in the path: refused.
    let bobs = format!("/v1/{}/vpc-endpoint-services", bob.info.project_id);
    let (st, body) = signed_raw(&alice, get.clone(), &bobs, "", b"", |_| {}).await;
    assert_eq!(
        (st, body["error_code"].as_str()),
        (403, Some("EndPoint.0004"))
    );
}

/// Send a GET with headers signed for something else.
async fn send_headers(
    acc: &Account,
    path_and_query: &str,
    signed: &[(String, String)],
) -> (u16, Value) {
    let mut req = reqwest::Client::new().get(format!("{}{path_and_query}", acc.base_url.clone()));
    for (k, v) in signed {
        if k != "Host" {
            req = req.header(k.as_str(), v.as_str());
        }
    }
    let resp = req.send().await.expect("send");
    let st = resp.status().as_u16();
    (st, resp.json().await.unwrap_or(Value::Null))
}
