//! The OpenAPI document matches the router: every documented operation is a live route, and the
//! document references only schemas it defines.

use serde_json::Value;

use crate::harness::*;

#[tokio::test]
async fn every_documented_operation_is_routed() {
    let srv = Server::start().await;
    let client = reqwest::Client::new();
    for op in vpcep_api::openapi::OPERATIONS {
        let path = op
            .path
            .split('/')
            .map(|s| {
                if s.starts_with('{') {
                    "0123456789abcdef0123456789abcdef"
                } else {
                    s
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let path = if path.is_empty() {
            "/".to_string()
        } else {
            path
        };
        let method = reqwest::Method::from_bytes(op.method.as_bytes()).expect("method");
        let resp = client
            .request(method, format!("{}{path}", srv.url()))
            .send()
            .await
            .expect("send");
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        let unrouted = status == 405
            || (status == 404
                && body["error_msg"]
                    .as_str()
                    .is_some_and(|m| m.contains("no such API path")));
        assert!(
            !unrouted,
            "{} {} ({}) is documented but not routed: {status} {body}",
            op.method, op.path, op.id
        );
    }

    let doc: Value = reqwest::get(format!("{}/openapi.json", srv.url()))
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let text = doc.to_string();
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for piece in text.split("#/components/schemas/").skip(1) {
        let name: String = piece.chars().take_while(|c| *c != '"').collect();
        assert!(
            schemas.contains_key(&name),
            "dangling schema reference {name}"
        );
    }
    assert!(
        doc["paths"]["/v1/{project_id}/vpc-endpoint-services"]["post"]["operationId"]
            == "CreateEndpointService"
    );
}
