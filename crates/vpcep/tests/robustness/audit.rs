//! The audit log through the binary (issue 12): `vpcep admin` records its changes (front
//! `admin`, source `local:<user>`), `vpcep serve` records API changes with the peer address,
//! `vpcep audit` lists the account's entries, no secret key appears, and the log is the same
//! after the server is stopped and started again on the same data.

use std::time::Duration;

use serde_json::Value;
use tokio::process::Command;

use crate::support::{BIN, DataSpec, ServerProc, admin, free_port};

/// A resource command as the account, `-o json`; the parsed output.
async fn cli(server: &ServerProc, acc: &Value, home: &std::path::Path, args: &[&str]) -> Value {
    let s = |k: &str| acc[k].as_str().expect("admin output field").to_string();
    let out = Command::new(BIN)
        .args(args)
        .args(["-o", "json"])
        .env("VPCEP_ENDPOINT", server.url())
        .env("VPCEP_ACCESS_KEY", s("access_key"))
        .env("VPCEP_SECRET_KEY", s("secret_key"))
        .env("VPCEP_PROJECT_ID", s("project_id"))
        // Never the user's own config file (`$HOME/.config/vpcep/config.json`).
        .env("HOME", home)
        .env_remove("VPCEP_CONFIG")
        .kill_on_drop(true)
        .output()
        .await
        .expect("running vpcep");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "vpcep {args:?} failed: {}{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !stdout.contains(&s("secret_key")) || args[0] != "audit",
        "the secret key in the audit output"
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?}: no JSON ({e}): {stdout}"))
}

fn ops(log: &Value) -> Vec<(String, String, u64)> {
    log["audit_logs"]
        .as_array()
        .expect("audit_logs")
        .iter()
        .map(|e| {
            (
                e["operation"].as_str().unwrap_or_default().to_string(),
                e["front"].as_str().unwrap_or_default().to_string(),
                e["seq"].as_u64().unwrap_or_default(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_api_and_cli_share_one_audit_log_that_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = DataSpec {
        data_dir: dir.path().join("data"),
        database_url: None,
    };
    let config = dir.path();
    let acc = admin(&data, &["account", "create", "auditee"]).await;
    admin(
        &data,
        &[
            "quota", "set", "auditee", "--type", "endpoint", "--limit", "7",
        ],
    )
    .await;
    let addr = format!("127.0.0.1:{}", free_port())
        .parse()
        .expect("address");
    let mut server = ServerProc::start(data.clone(), addr, &dir.path().join("serve.log")).await;
    let vpc = cli(
        &server,
        &acc,
        config,
        &["lab", "vpc", "create", "v1", "--cidr", "10.0.0.0/16"],
    )
    .await;
    let vpc_id = vpc["id"]
        .as_str()
        .or(vpc["vpc"]["id"].as_str())
        .unwrap_or_else(|| panic!("no vpc id in {vpc}"))
        .to_string();
    let log = cli(&server, &acc, config, &["audit"]).await;
    let got = ops(&log);
    assert_eq!(
        got.iter()
            .map(|(op, front, _)| (op.as_str(), front.as_str()))
            .collect::<Vec<_>>(),
        [
            ("CreateVpc", "api"),
            ("admin.quota.set", "admin"),
            ("admin.account.create", "admin"),
        ],
        "{log}"
    );
    let entries = log["audit_logs"].as_array().expect("entries");
    assert_eq!(entries[0]["resource_ids"][0], vpc_id.as_str());
    assert!(
        entries[0]["source"]
            .as_str()
            .is_some_and(|s| s.starts_with("127.0.0.1:")),
        "{log}"
    );
    assert_eq!(entries[0]["access_key_id"], acc["access_key"]);
    assert!(
        entries[1]["source"]
            .as_str()
            .is_some_and(|s| s.starts_with("local:")),
        "{log}"
    );
    assert_eq!(entries[2]["resource_ids"][1], acc["access_key"]);
    let secret = acc["secret_key"].as_str().expect("secret");
    assert!(!log.to_string().contains(secret), "a secret in {log}");

    // Stopped and started again on the same data: the same log.
    let status = server.sigterm_and_wait(Duration::from_secs(10)).await;
    assert!(status.success(), "{}", server.log_tail());
    server.restart().await;
    let again = cli(&server, &acc, config, &["audit"]).await;
    // The listing itself is a read: nothing was added.
    assert_eq!(ops(&again), got, "the log after a restart");
}
