//! `vpcep demo`: the seed guide's quick start, built step by step on this machine and left
//! running: two VPCs with the same CIDR, an ELB-backed endpoint service with approval, an
//! endpoint in the other VPC, accepted, and a real HTTP request through it; then private DNS and
//! the guide's quick start 2.1: the endpoint's name resolving in the consumer VPC, a DNS endpoint
//! of the built-in DNS cloud service, and an on-premises site resolving the cloud's private names
//! through it and reaching the service by name.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use vpcep_client::Client;

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Data directory of the demo's server. The demo starts afresh each time: it empties this
    /// directory, but only one it made itself (it carries a `.vpcep-demo` marker).
    #[arg(long, env = "VPCEP_DEMO_DIR", default_value = "./vpcep-demo")]
    data_dir: PathBuf,
    #[arg(long, env = "VPCEP_LISTEN", default_value = "127.0.0.1:8480")]
    listen: String,
    /// Build, check, then stop everything instead of leaving it running.
    #[arg(long)]
    once: bool,
}

struct Step {
    started: Instant,
}

impl Step {
    fn start(text: &str) -> Step {
        eprint!("  • {text} … ");
        Step {
            started: Instant::now(),
        }
    }
    fn done(self, detail: &str) {
        eprintln!(
            "done in {:.0?}{}",
            self.started.elapsed(),
            if detail.is_empty() {
                String::new()
            } else {
                format!(" ({detail})")
            }
        );
    }
}

async fn wait_status(c: &Client, path: &str, want: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let v: Value = c.get(&c.project_path(path), &[]).await?;
        let s = v["status"].as_str().unwrap_or_default();
        if s == want {
            return Ok(());
        }
        if s == "failed" || Instant::now() > deadline {
            bail!("{path} is {s}, expected {want}: {}", v["error"]);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn admin_account(exe: &PathBuf, data_dir: &PathBuf, name: &str) -> anyhow::Result<Value> {
    let out = Command::new(exe)
        .args([
            "admin",
            "account",
            "create",
            name,
            "-o",
            "json",
            "--data-dir",
        ])
        .arg(data_dir)
        .output()
        .context("running vpcep admin")?;
    if !out.status.success() {
        bail!(
            "creating account {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

pub async fn run(a: DemoArgs) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("locating the vpcep binary")?;
    for tool in ["nft", "socat", "curl", "conntrack"] {
        if Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .map(|s| !s.success())
            .unwrap_or(true)
        {
            bail!(
                "the demo needs `{tool}` (Debian: apt-get install nftables socat curl conntrack)"
            );
        }
    }
    let marker = a.data_dir.join(".vpcep-demo");
    if a.data_dir.exists() {
        let empty = std::fs::read_dir(&a.data_dir)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if !marker.exists() && !empty {
            bail!(
                "{} exists and is not a demo directory: choose another with --data-dir",
                a.data_dir.display()
            );
        }
        std::fs::remove_dir_all(&a.data_dir)?;
    }
    std::fs::create_dir_all(&a.data_dir)?;
    std::fs::write(&marker, "made by vpcep demo; emptied at each run\n")?;
    eprintln!("vpcep demo — the user guide's quick start (2.2.2), for real, on this machine\n");
    let step = Step::start("creating accounts (provider and consumer)");
    let prov_acc = admin_account(&exe, &a.data_dir, "provider")?;
    let cons_acc = admin_account(&exe, &a.data_dir, "consumer")?;
    step.done("");

    let step = Step::start(&format!("starting vpcep serve on {}", a.listen));
    let mut server: Child = Command::new(&exe)
        .args(["serve", "--listen", &a.listen, "--data-dir"])
        .arg(&a.data_dir)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(a.data_dir.join("serve.log"))?)
        .spawn()
        .context("starting vpcep serve")?;
    let url = format!("http://{}", a.listen);
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if http
            .get(format!("{url}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            break;
        }
        if Instant::now() > deadline || server.try_wait()?.is_some() {
            bail!(
                "the server did not start; see {}",
                a.data_dir.join("serve.log").display()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    step.done(&url);
    let client = |acc: &Value| {
        Client::new(
            &url,
            acc["access_key"].as_str().unwrap_or_default(),
            acc["secret_key"].as_str().unwrap_or_default(),
            acc["project_id"].as_str().unwrap_or_default(),
        )
    };
    let p = client(&prov_acc)?;
    let c = client(&cons_acc)?;
    let result = build(&p, &c, &cons_acc, &prov_acc, &url).await;
    match result {
        Ok(summary) => {
            eprintln!("\n{summary}");
            if a.once {
                let _ = server.kill();
                let _ = server.wait();
                let _ = Command::new(&exe).args(["lab", "down"]).status();
                return Ok(());
            }
            eprintln!(
                "The demo keeps running (Ctrl-C to stop; `vpcep lab down` removes the namespaces)."
            );
            // Stop the server with us: Ctrl-C reaches both, but SIGTERM (a service manager,
            // `timeout`) reaches only this process, and a server left behind would keep its
            // agent re-creating what `vpcep lab down` removes.
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            loop {
                tokio::select! {
                    _ = term.recv() => break,
                    _ = tokio::signal::ctrl_c() => break,
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {
                        if let Some(status) = server.try_wait()? {
                            eprintln!("server exited: {status}");
                            return Ok(());
                        }
                    }
                }
            }
            let _ = server.kill();
            let _ = server.wait();
            eprintln!("stopped; the namespaces stay until `vpcep lab down`");
            Ok(())
        }
        Err(e) => {
            let _ = server.kill();
            let _ = server.wait();
            let _ = Command::new(&exe).args(["lab", "down"]).status();
            Err(e)
        }
    }
}

async fn build(
    p: &Client,
    c: &Client,
    cons_acc: &Value,
    prov_acc: &Value,
    url: &str,
) -> anyhow::Result<String> {
    let step =
        Step::start("provider VPC 192.168.0.0/16, subnet 192.168.0.0/24, web host 192.168.0.10");
    let v: Value = p
        .post(
            &p.project_path("/vpcs"),
            &json!({"vpc": {"name": "provider-vpc", "cidr": "192.168.0.0/16"}}),
        )
        .await?;
    let pvpc = v["vpc"]["id"].as_str().unwrap_or_default().to_string();
    let s: Value = p
        .post(&p.project_path("/subnets"), &json!({"subnet": {"name": "web", "cidr": "192.168.0.0/24", "gateway_ip": "192.168.0.1", "vpc_id": pvpc}}))
        .await?;
    let psub = s["subnet"]["id"].as_str().unwrap_or_default().to_string();
    let g: Value = p
        .post(
            &p.project_path("/security-groups"),
            &json!({"security_group": {"name": "web"}}),
        )
        .await?;
    let sg = g["security_group"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    // FAQ 4.2: the backend's group must admit the endpoint source range.
    let _: Value = p
        .post(
            &p.project_path("/security-group-rules"),
            &json!({"security_group_rule": {"security_group_id": sg, "direction": "ingress", "protocol": "tcp", "port_range_min": 8080,
                "port_range_max": 8080, "remote_ip_prefix": "198.19.128.0/20"}}),
        )
        .await?;
    let web: Value = p
        .post(&p.project_path("/lab/servers"), &json!({"server": {"name": "web", "vpc_id": pvpc, "nics": [{"subnet_id": psub, "ip_address": "192.168.0.10"}], "security_groups": [sg]}}))
        .await?;
    step.done("");
    let step = Step::start("load balancer (ELB) 192.168.0.100:80 → web 192.168.0.10:8080");
    let lb: Value = p
        .post(
            &p.project_path("/lab/loadbalancers"),
            &json!({"loadbalancer": {"name": "elb", "vpc_id": pvpc, "subnet_id": psub, "vip_address": "192.168.0.100",
                "listeners": [{"protocol": "TCP", "port": 80, "members": [{"address": "192.168.0.10", "port": 8080}]}]}}),
        )
        .await?;
    step.done("");
    let web_id = web["server"]["id"].as_str().unwrap_or_default().to_string();
    let step = Step::start("starting an HTTP server inside the web host");
    let names = vpcep_dataplane::plan::naming::Namespaces::default();
    let web_ns = names.server(&web_id);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !Command::new("ip")
        .args(["netns", "list"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains(&web_ns))
        .unwrap_or(false)
    {
        if Instant::now() > deadline {
            bail!("the agent did not build the web host (is this root?)");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Command::new("ip")
        .args(["netns", "exec", &web_ns, "socat", "TCP-LISTEN:8080,fork,reuseaddr"])
        // socat reads `:` and `,` in an address as separators: keep the reply free of them.
        .arg("SYSTEM:echo HTTP/1.0 200 OK; echo; echo hello from the provider web host - you are $SOCAT_PEERADDR")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting the web server")?;
    step.done(&format!("namespace {web_ns}"));

    let step = Step::start("endpoint service 'web' (ELB backend, 80→80, connection approval on)");
    let svc: Value = p
        .post(
            &p.project_path("/vpc-endpoint-services"),
            &json!({"port_id": lb["loadbalancer"]["vip_port_id"], "vpc_id": pvpc, "server_type": "LB", "service_name": "web",
                "approval_enabled": true, "ports": [{"client_port": 80, "server_port": 80, "protocol": "TCP"}]}),
        )
        .await?;
    let sid = svc["id"].as_str().unwrap_or_default().to_string();
    wait_status(p, &format!("/vpc-endpoint-services/{sid}"), "available").await?;
    step.done(svc["service_name"].as_str().unwrap_or_default());
    let step = Step::start("whitelisting the consumer account");
    let _: Value = p
        .post(
            &p.project_path(&format!("/vpc-endpoint-services/{sid}/permissions/batch-create")),
            &json!({"permissions": [{"permission": format!("iam:domain::{}", cons_acc["domain_id"].as_str().unwrap_or_default()), "description": "demo consumer"}]}),
        )
        .await?;
    step.done("");

    let step =
        Step::start("consumer VPC with the SAME CIDR 192.168.0.0/16, client host 192.168.0.10");
    let v: Value = c
        .post(
            &c.project_path("/vpcs"),
            &json!({"vpc": {"name": "consumer-vpc", "cidr": "192.168.0.0/16"}}),
        )
        .await?;
    let cvpc = v["vpc"]["id"].as_str().unwrap_or_default().to_string();
    let s: Value = c
        .post(&c.project_path("/subnets"), &json!({"subnet": {"name": "app", "cidr": "192.168.0.0/24", "gateway_ip": "192.168.0.1", "vpc_id": cvpc}}))
        .await?;
    let csub = s["subnet"]["id"].as_str().unwrap_or_default().to_string();
    let cl: Value = c
        .post(&c.project_path("/lab/servers"), &json!({"server": {"name": "client", "vpc_id": cvpc, "nics": [{"subnet_id": csub, "ip_address": "192.168.0.10"}]}}))
        .await?;
    step.done("");
    let step = Step::start("consumer finds the service by name (验证) and creates an endpoint");
    let name = svc["service_name"].as_str().unwrap_or_default().to_string();
    let found: Value = c
        .get(
            &c.project_path("/vpc-endpoint-services/describe"),
            &[("endpoint_service_name", name.clone())],
        )
        .await?;
    let ep: Value = c
        .post(&c.project_path("/vpc-endpoints"), &json!({"endpoint_service_id": found["id"], "vpc_id": cvpc, "subnet_id": csub, "enable_dns": true}))
        .await?;
    let eid = ep["id"].as_str().unwrap_or_default().to_string();
    let ip = ep["ip"].as_str().unwrap_or_default().to_string();
    step.done(&format!(
        "{} at {ip}",
        ep["status"].as_str().unwrap_or_default()
    ));
    let step = Step::start("provider accepts the connection (连接管理 → 接受)");
    let _: Value = p
        .post(
            &p.project_path(&format!("/vpc-endpoint-services/{sid}/connections/action")),
            &json!({"action": "receive", "endpoints": [eid]}),
        )
        .await?;
    wait_status(c, &format!("/vpc-endpoints/{eid}"), "accepted").await?;
    step.done("accepted");
    let step = Step::start(&format!(
        "HTTP GET http://{ip}/ from the consumer's client host"
    ));
    let client_ns = names.server(cl["server"]["id"].as_str().unwrap_or_default());
    let deadline = Instant::now() + Duration::from_secs(10);
    let body = loop {
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &client_ns,
                "curl",
                "-s",
                "--max-time",
                "2",
                &format!("http://{ip}/"),
            ])
            .output()?;
        if out.status.success() && !out.stdout.is_empty() {
            break String::from_utf8_lossy(&out.stdout).trim().to_string();
        }
        if Instant::now() > deadline {
            bail!("no answer through the endpoint; try `vpcep doctor endpoint {eid}`");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    step.done("");
    let dns = private_dns(c, &client_ns, &ep, &cvpc, &csub).await?;
    Ok(format!(
        "Through the endpoint: \"{body}\"\n{dns}\n\
         Provider account: AK {pak} / SK {psk} / project {pp}\n\
         Consumer account: AK {cak} / SK {csk} / project {cp}\n\
         Try:\n  vpcep lab exec client --endpoint {url} --access-key {cak} --secret-key {csk} --project-id {cp} -- curl -s http://{ip}/\n  \
         vpcep doctor endpoint {eid} --endpoint {url} --access-key {cak} --secret-key {csk} --project-id {cp}",
        pak = prov_acc["access_key"].as_str().unwrap_or_default(),
        psk = prov_acc["secret_key"].as_str().unwrap_or_default(),
        pp = prov_acc["project_id"].as_str().unwrap_or_default(),
        cak = cons_acc["access_key"].as_str().unwrap_or_default(),
        csk = cons_acc["secret_key"].as_str().unwrap_or_default(),
        cp = cons_acc["project_id"].as_str().unwrap_or_default(),
    ))
}

/// Run `argv` inside namespace `ns` until it succeeds with output (at most 10 s): its output.
async fn in_ns_until(ns: &str, argv: &[&str], what: &str) -> anyhow::Result<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(argv)
            .output()
            .with_context(|| format!("running {}", argv.join(" ")))?;
        if out.status.success() && !out.stdout.is_empty() {
            return Ok(String::from_utf8_lossy(&out.stdout).trim().to_string());
        }
        if Instant::now() > deadline {
            bail!(
                "{what}: `{}` in {ns} failed: {}",
                argv.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Private DNS and the guide's quick start 2.1 ("配置通过内网访问 DNS 服务的终端节点"): the
/// endpoint's name from the consumer's host; a DNS endpoint of the DNS cloud service; a site (the
/// on-premises data centre on its VPN) whose resolv.conf names the DNS endpoint, resolving the
/// cloud's private names and reaching the service by name. A summary of what was shown.
async fn private_dns(
    c: &Client,
    client_ns: &str,
    ep: &Value,
    cvpc: &str,
    csub: &str,
) -> anyhow::Result<String> {
    let name = ep["dns_names"][0].as_str().unwrap_or_default().to_string();
    let ip = ep["ip"].as_str().unwrap_or_default().to_string();
    let step = Step::start(&format!(
        "the endpoint's private name {name} from the client host (its VPC's resolver, 169.254.169.253)"
    ));
    let got = in_ns_until(client_ns, &["getent", "hosts", &name], "private name").await?;
    if !got.starts_with(&ip) {
        bail!("{name} resolved to {got}, expected {ip}");
    }
    step.done(&ip);

    let step = Step::start(
        "quick start 2.1: 云服务 → the DNS cloud service → an endpoint in the consumer VPC",
    );
    let public: Value = c
        .get(&c.project_path("/vpc-endpoint-services/public"), &[])
        .await?;
    let Some(dns_svc) = public["endpoint_services"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| {
            s["service_name"]
                .as_str()
                .is_some_and(|n| n.ends_with(".dns"))
        })
        .cloned()
    else {
        bail!("no DNS cloud service is listed (was the server started with --no-builtin-dns?)");
    };
    let dep: Value = c
        .post(
            &c.project_path("/vpc-endpoints"),
            &json!({"endpoint_service_id": dns_svc["id"], "vpc_id": cvpc, "subnet_id": csub}),
        )
        .await?;
    let did = dep["id"].as_str().unwrap_or_default().to_string();
    let dns_ip = dep["ip"].as_str().unwrap_or_default().to_string();
    wait_status(c, &format!("/vpc-endpoints/{did}"), "accepted").await?;
    step.done(&format!(
        "{} at {dns_ip}, accepted without approval",
        dns_svc["service_name"].as_str().unwrap_or_default()
    ));

    let step = Step::start(
        "on-premises data centre 172.16.0.0/24 joined over its VPN, resolv.conf → the DNS endpoint",
    );
    let site: Value = c
        .post(
            &c.project_path("/lab/sites"),
            &json!({"site": {"name": "idc", "vpc_id": cvpc, "cidr": "172.16.0.0/24"}}),
        )
        .await?;
    let site_id = site["site"]["id"].as_str().unwrap_or_default().to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s: Value = c
            .get(&c.project_path(&format!("/lab/sites/{site_id}")), &[])
            .await?;
        match s["site"]["status"].as_str() {
            Some("ACTIVE") => break,
            Some("ERROR") => bail!("the site failed: {}", s["site"]["error"]),
            _ if Instant::now() > deadline => bail!("the site did not become ACTIVE"),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let site_ns = vpcep_dataplane::plan::naming::Namespaces::default().site(&site_id);
    // The site's resolver is the operator's choice, as on premises: the DNS endpoint's address.
    let etc = std::path::Path::new("/etc/netns").join(&site_ns);
    std::fs::create_dir_all(&etc)?;
    std::fs::write(etc.join("resolv.conf"), format!("nameserver {dns_ip}\n"))?;
    step.done(&format!("namespace {site_ns}"));

    // The cloud's private names, as the data centre sees them: the consumer's host and endpoint.
    let region = name
        .rsplit_once(".internal")
        .and_then(|(head, _)| head.rsplit_once(".vpcep."))
        .map(|(_, region)| region.to_string())
        .unwrap_or_default();
    let host = format!("client.consumer-vpc.{region}.internal");
    let step = Step::start(&format!("from the data centre: {host} and {name}"));
    let got_host = in_ns_until(&site_ns, &["getent", "hosts", &host], "host name").await?;
    let got_ep = in_ns_until(&site_ns, &["getent", "hosts", &name], "endpoint name").await?;
    if !got_ep.starts_with(&ip) {
        bail!("{name} resolved to {got_ep} from the site, expected {ip}");
    }
    let host_ip = got_host
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    step.done(&format!("{host_ip}, {ip}"));
    let step = Step::start(&format!("HTTP GET http://{name}/ from the data centre"));
    let body = in_ns_until(
        &site_ns,
        &["curl", "-s", "--max-time", "2", &format!("http://{name}/")],
        "through the endpoint by name",
    )
    .await?;
    step.done("");
    Ok(format!(
        "Private DNS: {name} → {ip} in the consumer VPC; DNS endpoint {dns_ip} (quick start 2.1); \
         from the data centre ({site_ns}): {host} → {host_ip}, and by name: \"{body}\""
    ))
}
