//! `vpcep doctor` (SPEC S10, FAQ 4.2): why an endpoint service or endpoint carries no traffic.
//! Reads the resources over the API, checks the backend's security groups admit the SNAT range
//! on every mapped port, and probes each mapping live from the provider's router with a source
//! in 198.19.128.0/20. One line per finding: what is wrong, and the command that fixes it.

use ipnet::Ipv4Net;
use serde_json::Value;
use vpcep_client::Client;

use crate::kernel::linux;
use crate::plan::Plan;
use crate::plan::naming::Namespaces;

mod kernel;

pub use kernel::{Expected, KernelCheck, Object, compare, expected, fetch_desired, kernel_check};

/// Address the live probe uses: the last of the SNAT range, never given to a shard's leg.
pub const PROBE_SOURCE: &str = "198.19.143.254";

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    /// `ok`, `warn` or `error`.
    pub level: &'static str,
    /// The namespace the finding is about (kernel comparisons).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub message: String,
    /// What fixes it, when it is one action (kernel comparisons; the older checks keep their
    /// fix in the message).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:5} ", self.level)?;
        if let Some(ns) = &self.namespace {
            write!(f, "{ns}: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(fix) = &self.fix {
            write!(f, " — fix: {fix}")?;
        }
        Ok(())
    }
}

fn finding(level: &'static str, message: String) -> Finding {
    Finding {
        level,
        namespace: None,
        message,
        fix: None,
    }
}

/// Does a security-group rule (Huawei VPC v1 JSON) admit `proto`/`port` from the whole SNAT
/// range?
pub fn rule_admits_snat(rule: &Value, proto: &str, port: u16) -> bool {
    if rule["direction"] != "ingress" {
        return false;
    }
    let snat = vpcep_core::validate::snat_range();
    let remote_ok = match rule["remote_ip_prefix"].as_str() {
        None => rule["remote_group_id"].is_null(),
        Some(p) => p.parse::<Ipv4Net>().is_ok_and(|n| n.contains(&snat)),
    };
    let proto_ok = match rule["protocol"].as_str() {
        None | Some("") => true,
        Some(p) => p.eq_ignore_ascii_case(proto),
    };
    let port_ok = match (
        rule["port_range_min"].as_u64(),
        rule["port_range_max"].as_u64(),
    ) {
        (Some(a), Some(b)) => (a..=b).contains(&u64::from(port)),
        (None, None) => true,
        (Some(a), None) | (None, Some(a)) => a == u64::from(port),
    };
    remote_ok && proto_ok && port_ok
}

/// Diagnose a service the caller owns. `names` enables the live probe (root, same host).
pub async fn service(
    c: &Client,
    id: &str,
    names: Option<&Namespaces>,
) -> Result<Vec<Finding>, vpcep_client::ClientError> {
    let mut out = Vec::new();
    let svc: Value = c
        .get(
            &c.project_path(&format!("/vpc-endpoint-services/{id}")),
            &[],
        )
        .await?;
    let name = svc["service_name"].as_str().unwrap_or(id).to_string();
    match svc["status"].as_str() {
        Some("available") => out.push(finding("ok", format!("service {name} is available"))),
        Some("failed") => out.push(finding(
            "error",
            format!("service {name} failed: {}", svc["error"]),
        )),
        Some(s) => out.push(finding(
            "warn",
            format!("service {name} is {s}: the data-plane agent has not confirmed it yet"),
        )),
        None => {}
    }
    // Which ports (NICs) receive the traffic, and on which server port.
    let port_id = svc["port_id"].as_str().unwrap_or_default();
    let ports: Value = c.get(&c.project_path("/ports"), &[]).await?;
    let all_ports = ports["ports"].as_array().cloned().unwrap_or_default();
    let mut targets: Vec<(Value, String, u16)> = Vec::new(); // (port, proto, port number)
    let mappings = svc["ports"].as_array().cloned().unwrap_or_default();
    if svc["server_type"] == "LB" {
        let lbs: Value = c.get(&c.project_path("/lab/loadbalancers"), &[]).await?;
        let lb = lbs["loadbalancers"]
            .as_array()
            .and_then(|l| l.iter().find(|lb| lb["vip_port_id"] == port_id).cloned());
        let Some(lb) = lb else {
            out.push(finding(
                "error",
                format!("service {name}: its load balancer (VIP port {port_id}) no longer exists"),
            ));
            return Ok(out);
        };
        for m in &mappings {
            let (proto, sport) = (
                m["protocol"].as_str().unwrap_or("TCP").to_ascii_lowercase(),
                m["server_port"].as_u64().unwrap_or(0) as u16,
            );
            let listener = lb["listeners"].as_array().and_then(|l| {
                l.iter()
                    .find(|x| {
                        x["port"].as_u64() == Some(u64::from(sport))
                            && x["protocol"]
                                .as_str()
                                .is_some_and(|p| p.eq_ignore_ascii_case(&proto))
                    })
                    .cloned()
            });
            let Some(listener) = listener else {
                out.push(finding(
                    "error",
                    format!("service {name}: load balancer {} has no {} listener on port {sport} — fix: vpcep lab lb update {} --listener {}:{sport}=<member>:<port>", lb["name"], proto.to_uppercase(), lb["id"].as_str().unwrap_or(""), proto.to_uppercase()),
                ));
                continue;
            };
            for member in listener["members"].as_array().cloned().unwrap_or_default() {
                let addr = member["address"].as_str().unwrap_or_default();
                let mport = member["port"].as_u64().unwrap_or(0) as u16;
                match all_ports
                    .iter()
                    .find(|p| p["fixed_ips"][0]["ip_address"] == addr)
                {
                    Some(p) => targets.push((p.clone(), proto.clone(), mport)),
                    None => out.push(finding(
                        "error",
                        format!(
                            "service {name}: member {addr}:{mport} is not a NIC in this project"
                        ),
                    )),
                }
            }
        }
    } else if let Some(p) = all_ports.iter().find(|p| p["id"] == port_id) {
        for m in &mappings {
            targets.push((
                p.clone(),
                m["protocol"].as_str().unwrap_or("TCP").to_ascii_lowercase(),
                m["server_port"].as_u64().unwrap_or(0) as u16,
            ));
        }
    } else {
        out.push(finding(
            "error",
            format!("service {name}: its backend port {port_id} no longer exists"),
        ));
        return Ok(out);
    }
    // Security groups of each target.
    let rules: Value = c.get(&c.project_path("/security-group-rules"), &[]).await?;
    let rules = rules["security_group_rules"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for (port, proto, num) in &targets {
        let ip = port["fixed_ips"][0]["ip_address"]
            .as_str()
            .unwrap_or_default();
        let groups: Vec<String> = port["security_groups"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter_map(|g| g.as_str().map(str::to_string))
            .collect();
        let admitted = rules.iter().any(|r| {
            groups.iter().any(|g| r["security_group_id"] == g.as_str())
                && rule_admits_snat(r, proto, *num)
        });
        if admitted {
            out.push(finding(
                "ok",
                format!("backend {ip}: security group admits 198.19.128.0/20 on {proto}/{num}"),
            ));
        } else {
            let g = groups.first().cloned().unwrap_or_default();
            out.push(finding(
                "error",
                format!("backend {ip}: no security-group rule admits 198.19.128.0/20 on {proto}/{num} — fix: vpcep lab sg-rule add {g} --direction ingress --protocol {proto} --ports {num} --remote-ip 198.19.128.0/20"),
            ));
        }
        // Live probe from the provider's router, with a source in the SNAT range.
        if let Some(names) = names
            && proto == "tcp"
        {
            let router = names.router(svc["vpc_id"].as_str().unwrap_or_default());
            let ok = probe_tcp(&router, ip, *num).await;
            out.push(if ok {
                finding("ok", format!("probe {ip}:{num}/tcp from 198.19.128.0/20 connects"))
            } else {
                finding("error", format!("probe {ip}:{num}/tcp from 198.19.128.0/20 fails: check the rule above, and that a program listens on {num} in the backend (vpcep lab exec …)"))
            });
        }
    }
    Ok(out)
}

/// What the agent makes of every namespace in `plan`, as the commands and the `nft` script it
/// applies (the very text it loads): to compare with `ip …` and `nft list ruleset` when the
/// kernel and the plan seem to disagree.
pub fn planned(plan: &Plan) -> String {
    let mut out = String::new();
    for (ns, p) in &plan.namespaces {
        out += &format!("## {ns}\n");
        out += &linux::describe(p);
    }
    out
}

/// Connect from `router` to `ip:port` with the probe source; true when the handshake completes.
pub async fn probe_tcp(router: &str, ip: &str, port: u16) -> bool {
    let addr = format!("{PROBE_SOURCE}/32");
    if linux::run(
        "ip",
        &["-n", router, "addr", "add", &addr, "dev", "lo"],
        None,
    )
    .await
    .is_err()
    {
        return false;
    }
    let target = format!("TCP:{ip}:{port},bind={PROBE_SOURCE},connect-timeout=2");
    let ok = linux::run(
        "ip",
        &[
            "netns",
            "exec",
            router,
            "timeout",
            "3",
            "socat",
            "-u",
            "OPEN:/dev/null",
            &target,
        ],
        None,
    )
    .await
    .is_ok();
    let _ = linux::run(
        "ip",
        &["-n", router, "addr", "del", &addr, "dev", "lo"],
        None,
    )
    .await;
    ok
}

/// Diagnose an endpoint the caller owns (and its service, when the caller owns that too).
pub async fn endpoint(
    c: &Client,
    id: &str,
    names: Option<&Namespaces>,
) -> Result<Vec<Finding>, vpcep_client::ClientError> {
    let mut out = Vec::new();
    let e: Value = c
        .get(&c.project_path(&format!("/vpc-endpoints/{id}")), &[])
        .await?;
    let sid = e["endpoint_service_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    match e["status"].as_str().unwrap_or_default() {
        "accepted" => out.push(finding("ok", format!("endpoint {id} is accepted at {}", e["ip"].as_str().unwrap_or("?")))),
        "pendingAcceptance" => out.push(finding("warn", format!("endpoint {id} waits for the service owner to accept it (vpcep service accept {sid} {id})"))),
        "rejected" => out.push(finding("error", format!("endpoint {id} was rejected by the service owner: it carries nothing"))),
        "failed" => out.push(finding("error", format!("endpoint {id} failed: {}", e["error"]))),
        s => out.push(finding("warn", format!("endpoint {id} is {s}: the data-plane agent has not confirmed it yet"))),
    }
    if e["enable_whitelist"] == true {
        out.push(finding(
            "warn",
            format!("endpoint {id} only admits sources in {}", e["whitelist"]),
        ));
    }
    match service(c, &sid, names).await {
        Ok(more) => out.extend(more),
        Err(err) if err.status() == Some(404) => out.push(finding(
            "warn",
            format!("service {sid} belongs to another account: ask its owner to run `vpcep doctor service {sid}`"),
        )),
        Err(err) => return Err(err),
    }
    Ok(out)
}
