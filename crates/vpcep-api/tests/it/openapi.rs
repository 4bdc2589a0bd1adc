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

/// Every parameter of every operation has a schema (OpenAPI 3 requires `schema` or `content`;
/// generators and fuzzers skip operations without), and the query parameters the handlers read
/// are documented.
#[test]
fn every_parameter_has_a_schema() {
    let doc = serde_json::to_value(vpcep_api::openapi::document()).expect("json");
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            for seg in path.split('/').filter(|s| s.starts_with('{')) {
                let name = seg.trim_matches(|c| c == '{' || c == '}');
                assert!(
                    params
                        .iter()
                        .any(|p| p["in"] == "path" && p["name"] == name),
                    "{method} {path}: path parameter {name} is not declared"
                );
            }
            for p in &params {
                assert!(
                    p["schema"].is_object() || p["content"].is_object(),
                    "{method} {path}: parameter {} has neither schema nor content",
                    p["name"]
                );
                checked += 1;
            }
            for (status, resp) in op["responses"].as_object().expect("responses") {
                if status.starts_with('2') {
                    continue;
                }
                assert_eq!(
                    resp["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ErrorBody",
                    "{method} {path}: {status} is not an ErrorBody"
                );
            }
            assert!(
                op["responses"]["default"].is_object(),
                "{method} {path}: no default error response"
            );
        }
    }
    assert!(checked > 100, "only {checked} parameters");
    let list = &doc["paths"]["/v1/{project_id}/vpc-endpoint-services"]["get"]["parameters"];
    let names: Vec<&str> = list
        .as_array()
        .expect("parameters")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    for want in [
        "limit",
        "offset",
        "sort_key",
        "sort_dir",
        "endpoint_service_name",
        "id",
        "status",
    ] {
        assert!(names.contains(&want), "ListEndpointService lacks {want}");
    }
    let limit = list
        .as_array()
        .and_then(|l| l.iter().find(|p| p["name"] == "limit"))
        .expect("limit");
    assert_eq!(limit["schema"]["maximum"], 1000);
    assert_eq!(
        doc["components"]["schemas"]["Port"]["properties"]["binding:profile"]["type"],
        "object"
    );
}
