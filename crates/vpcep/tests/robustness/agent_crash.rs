//! `kill -9` of the data-plane agent (`vpcep agent`, a child process) in the middle of
//! programming the kernel, twice: during its first apply of a fresh lab, and during a change
//! after it had converged. An agent started afterwards must converge to exactly the plan: every
//! live endpoint accepted and carrying traffic to the ELB's members, the rejected and the
//! deleted endpoint carrying nothing with their legs gone, no namespace of ours the plan does
//! not have, and the kernel equal to the plan in every namespace (the doctor's comparison).
//!
//! The kill moments are read from the kernel (namespace handles appearing under /run/netns),
//! not guessed with sleeps; how far each apply had got is printed. Replay a run's kill points
//! with `VPCEP_AGENT_CRASH_SEED=<seed it printed>` (thread timing still varies).
//!
//! Needs root, `nft` and `socat` (skipped otherwise, saying why). The control plane runs in
//! this process (`vpcep-test-support`); only the agent is the built binary, so only it dies.

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vpcep_client::Client;
use vpcep_client::services::ConnectionAction;
use vpcep_control::Settings;
use vpcep_dataplane::doctor::{self, Object};
use vpcep_dataplane::kernel::linux;
use vpcep_dataplane::plan::naming::consumer_leg;
use vpcep_dataplane::plan::{self, Plan};
use vpcep_test_support::lab::{
    Lab, Net, backend_group, create_endpoint, network, server, status_of,
};

use crate::support::{BIN, Rng, seed_from_env};

/// Every VPC, the provider's and each consumer's, is this same range: the shape users have
/// (default VPC ranges), which the gateway's zones and SNAT must keep apart.
const CIDR: &str = "10.20.0.0/16";
const SUBNET: &str = "10.20.0.0/24";
const GATEWAY: &str = "10.20.0.1";
/// The ELB's members, and the client host of every consumer VPC at the very address of the
/// first member.
const MEMBERS: [&str; 2] = ["10.20.0.11", "10.20.0.12"];
const CLIENT_IP: &str = "10.20.0.11";
const VIP: &str = "10.20.0.100";
/// What the members listen on behind the ELB's TCP 80.
const MEMBER_PORT: u16 = 8080;
/// A bound for each wait on the agent (polled, it ends as soon as the state is there): a
/// converge of this lab takes a few seconds on a loaded 2-core machine.
const CONVERGE_WITHIN: Duration = Duration::from_secs(60);
/// How long the kill watcher waits for the moment it aims at.
const KILL_WITHIN: Duration = Duration::from_secs(30);
/// How often the kill watcher looks at /run/netns: a namespace takes milliseconds to make, so
/// this sees the handles appear one by one.
const KILL_POLL: Duration = Duration::from_micros(200);

/// The same check as the data-plane tests': root for namespaces, `nft` and `socat` for the
/// agent's tables and the traffic.
fn can_run() -> bool {
    let ok = |cmd: &str, arg: &str| {
        std::process::Command::new(cmd)
            .arg(arg)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    let (nft, socat) = (ok("nft", "--version"), ok("socat", "-V"));
    if !(root && nft && socat) {
        println!("skipped: needs root, nft and socat (root={root} nft={nft} socat={socat})");
    }
    root && nft && socat
}

/// A `vpcep agent` child. Killed (SIGKILL) and reaped when dropped, so a failing test leaves
/// no agent behind to recreate namespaces the teardown removes.
struct AgentProc {
    child: std::process::Child,
    name: String,
}

impl AgentProc {
    fn pid(&self) -> String {
        self.child.id().to_string()
    }

    /// SIGKILL and reap: nothing of the agent runs any more when this returns.
    fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Send `sig` (`STOP`, `CONT`) with kill(1).
    fn signal(&self, sig: &str) {
        let ok = std::process::Command::new("kill")
            .args([&format!("-{sig}"), &self.pid()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -{sig} {} failed", self.pid());
    }

    /// Panic (with the log) if the agent has exited: it only ends when killed.
    fn assert_running(&mut self, log: &Path) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "agent {} exited by itself ({status}):\n{}",
                self.name,
                log_tail(log)
            );
        }
    }
}

impl Drop for AgentProc {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Programs run inside lab namespaces (the members' listeners), killed when dropped.
#[derive(Default)]
struct Backends(Vec<std::process::Child>);

impl Drop for Backends {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// One consumer VPC: its owner, network, client host (its namespace) and endpoint.
#[derive(Clone, Debug)]
struct Consumer {
    /// Index into [`Rig::accounts`].
    owner: usize,
    name: String,
    net: Net,
    host_ns: String,
    endpoint: String,
    ip: String,
}

/// Everything the test made. Fields drop in order: the agent first (so nothing recreates
/// namespaces), the listeners, then the lab, whose drop kills whatever still runs in its
/// namespaces and deletes every namespace with its prefix, also when the test fails half-way
/// (`VPCEP_KEEP_LAB=1` keeps them for a look).
struct Rig {
    agent: Option<AgentProc>,
    backends: Backends,
    lab: Lab,
    accounts: Vec<Client>,
    /// The agent token and log (kept, like the namespaces, when `VPCEP_KEEP_LAB` is set).
    dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

impl Rig {
    fn token_file(&self) -> PathBuf {
        self.dir.join("agent.token")
    }

    fn log(&self) -> PathBuf {
        self.dir.join("agent.log")
    }

    fn prefix(&self) -> &str {
        &self.lab.names.prefix
    }

    /// Start `vpcep agent` on this lab's control plane and prefix, its output appended to the
    /// rig's log.
    fn start_agent(&mut self, name: &str) {
        assert!(self.agent.is_none(), "an agent is still running");
        use std::io::Write;
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log())
            .expect("agent log");
        writeln!(log, "===== {name} =====").expect("agent log");
        let child = std::process::Command::new(BIN)
            .arg("agent")
            .args(["--control-url", &self.lab.server.url()])
            .arg("--token-file")
            .arg(self.token_file())
            .args(["--ns-prefix", self.prefix(), "--name", name])
            .env("VPCEP_LOG", "info")
            // Nothing from the environment that would make it write or listen elsewhere.
            .env_remove("VPCEP_FLOW_DIR")
            .env_remove("VPCEP_METRICS_LISTEN")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .spawn()
            .expect("spawning vpcep agent");
        self.agent = Some(AgentProc {
            child,
            name: name.to_string(),
        });
    }

    fn agent(&mut self) -> &mut AgentProc {
        self.agent.as_mut().expect("an agent runs")
    }

    /// Watch /run/netns and SIGKILL the agent the moment `now` (the namespaces of ours that
    /// exist) satisfies `hit`; then reap it and return what the kernel holds. Blocking, on
    /// this worker thread (the control plane keeps the other one): polling in between
    /// awaits would be too coarse to see a namespace appear.
    fn kill_when(&mut self, mut hit: impl FnMut(&BTreeSet<String>) -> bool) -> KillPoint {
        let (prefix, log) = (self.prefix().to_string(), self.log());
        let agent = self.agent.as_mut().expect("an agent runs");
        let started = Instant::now();
        tokio::task::block_in_place(|| {
            loop {
                if hit(&owned(&prefix)) {
                    agent.kill9();
                    break;
                }
                agent.assert_running(&log);
                assert!(
                    started.elapsed() < KILL_WITHIN,
                    "the kill point never came within {KILL_WITHIN:?}; namespaces now: {:?}\n{}",
                    owned(&prefix),
                    log_tail(&log)
                );
                std::thread::sleep(KILL_POLL);
            }
        });
        self.agent = None;
        // After the reaping: a creation the kill interrupted shows as a handle with no
        // namespace mounted on it.
        let present = owned(&prefix);
        let unmounted = present.iter().filter(|n| !mounted(n)).cloned().collect();
        KillPoint {
            after: started.elapsed(),
            present,
            unmounted,
        }
    }

    /// The status of every consumer's endpoint (`error CODE` once it is gone).
    async fn statuses(&self, consumers: &[Consumer]) -> Vec<String> {
        let mut out = Vec::new();
        for c in consumers {
            out.push(
                status_of(
                    &self.accounts[c.owner],
                    &format!("/vpc-endpoints/{}", c.endpoint),
                )
                .await,
            );
        }
        out
    }

    /// Poll (bounded) until the service is `available` and each consumer's endpoint has the
    /// status `want` gives it; panic with the statuses and the agent's log otherwise.
    async fn converged(
        &mut self,
        what: &str,
        sid: &str,
        consumers: &[Consumer],
        want: impl Fn(&Consumer) -> &'static str,
    ) -> Duration {
        let started = Instant::now();
        let wanted: Vec<&str> = consumers.iter().map(&want).collect();
        loop {
            let service =
                status_of(&self.accounts[0], &format!("/vpc-endpoint-services/{sid}")).await;
            let got = self.statuses(consumers).await;
            let matches = got.iter().zip(&wanted).all(|(g, w)| {
                if *w == "gone" {
                    g.starts_with("error")
                } else {
                    g == w
                }
            });
            if service == "available" && matches {
                return started.elapsed();
            }
            let log = self.log();
            self.agent().assert_running(&log);
            assert!(
                started.elapsed() < CONVERGE_WITHIN,
                "{what}: not converged within {CONVERGE_WITHIN:?}: service {service}, endpoints \
                 {:?} (want {wanted:?}); namespaces {:?}\n{}",
                consumers
                    .iter()
                    .map(|c| &c.name)
                    .zip(&got)
                    .collect::<Vec<_>>(),
                owned(self.prefix()),
                log_tail(&log)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The plan an agent makes now: the control plane's snapshot as the agent reads it, the
    /// leg assignments the gateways hold, `plan::plan` (what `vpcep doctor` compares with).
    async fn plan(&self) -> (vpcep_dataplane::plan::desired::Desired, Plan) {
        let d = doctor::fetch_desired(&self.lab.server.url(), &self.lab.server.token)
            .await
            .expect("agent snapshot");
        let mut legs = linux::recover_legs(&self.lab.names, &d).await;
        let p = plan::plan(&d, &self.lab.names, &mut legs);
        (d, p)
    }

    /// Run `cmd` in `ns` until the rig drops; wait until it listens on TCP `port`.
    async fn listen_in(&mut self, ns: &str, port: u16, cmd: &[&str]) {
        let child = std::process::Command::new("ip")
            .args(["netns", "exec", ns])
            .args(cmd)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawning a listener");
        self.backends.0.push(child);
        let filter = format!("sport = :{port}");
        let started = Instant::now();
        loop {
            let (ok, out) = exec_in(ns, &["ss", "-Htln", &filter]).await;
            if ok && !out.is_empty() {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "nothing listens on {ns}:{port}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// What the kernel held when an agent was killed.
struct KillPoint {
    /// From the start of the watch to the reaped agent.
    after: Duration,
    /// Our namespace handles under /run/netns.
    present: BTreeSet<String>,
    /// Handles with no namespace mounted on them (a creation cut short).
    unmounted: Vec<String>,
}

/// Where in an apply a kill lands, as the kernel shows it. An apply (`Kernel::apply`) makes
/// the missing namespaces first (each a handle under /run/netns, then the namespace mounted on
/// it), then programs links, addresses, routes and tables in them, then deletes the namespaces
/// the plan dropped; the agent reports only after all of it.
#[derive(Clone, Debug)]
enum Aim {
    /// While namespaces are being made: at least this many of `new` have a handle.
    Creating(usize),
    /// Every one of `new` has its namespace mounted, none of `old` is deleted yet: the links,
    /// addresses and tables are being programmed.
    Programming,
    /// At least one of `old` is deleted (the apply's last kernel step).
    Removing,
}

impl Aim {
    /// Has the kernel (`now`: our handles) reached this point, `new` being the namespaces the
    /// apply adds and `old` those it removes?
    fn reached(&self, now: &BTreeSet<String>, new: &[String], old: &[String]) -> bool {
        match self {
            Aim::Creating(k) => new.iter().filter(|n| now.contains(*n)).count() >= *k,
            Aim::Programming => new.iter().all(|n| now.contains(n) && mounted(n)),
            Aim::Removing => old.iter().any(|n| !now.contains(n)),
        }
    }
}

/// Our namespace handles under /run/netns now (what `ip netns list` shows).
fn owned(prefix: &str) -> BTreeSet<String> {
    let Ok(dir) = std::fs::read_dir("/run/netns") else {
        return BTreeSet::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| n.starts_with(prefix))
        .collect()
}

/// Is a namespace mounted on handle `ns`? The bind mount puts the handle on nsfs, another
/// device than the /run/netns it sits in.
fn mounted(ns: &str) -> bool {
    let (Ok(dir), Ok(handle)) = (
        std::fs::metadata("/run/netns"),
        std::fs::metadata(format!("/run/netns/{ns}")),
    ) else {
        return false;
    };
    dir.dev() != handle.dev()
}

/// A progress line, with the time since the test started.
fn say(started: Instant, what: std::fmt::Arguments) {
    println!("[{:5.1} s] {what}", started.elapsed().as_secs_f64());
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let start = text.len().saturating_sub(8000);
    let start = (start..text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    format!("--- agent log (tail) ---\n{}", &text[start..])
}

/// Run a command in a namespace: (exit ok, trimmed stdout).
async fn exec_in(ns: &str, cmd: &[&str]) -> (bool, String) {
    let out = tokio::process::Command::new("ip")
        .args(["netns", "exec", ns])
        .args(cmd)
        .output()
        .await
        .expect("ip netns exec");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
    )
}

/// One TCP request to `ip`:80 from `ns`, connecting for at most `connect` seconds: what came
/// back.
async fn request(ns: &str, ip: &str, connect: u32) -> (bool, String) {
    exec_in(
        ns,
        &[
            "timeout",
            &(connect + 2).to_string(),
            "socat",
            "-u",
            &format!("TCP:{ip}:80,connect-timeout={connect}"),
            "STDOUT",
        ],
    )
    .await
}

/// A request through `c`'s endpoint answered by a member, retried for up to 5 s (the first
/// packets after a leg appears may wait for a neighbour entry); the member's answer.
async fn answered(c: &Consumer) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (ok, out) = request(&c.host_ns, &c.ip, 2).await;
        if ok && !out.is_empty() {
            return out;
        }
        assert!(
            Instant::now() < deadline,
            "{}: no answer through endpoint {} ({}) from {}: {out:?}",
            c.name,
            c.endpoint,
            c.ip,
            c.host_ns
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every consumer in `list` reaches a member through its endpoint, which sees a source in the
/// SNAT range (the gateway translated it).
async fn all_answer(list: &[&Consumer]) {
    for c in list {
        let out = answered(c).await;
        let (member, source) = out.split_once(' ').unwrap_or((&out, ""));
        assert!(
            member.starts_with('m')
                && source
                    .parse::<std::net::Ipv4Addr>()
                    .is_ok_and(|a| vpcep_core::validate::snat_range().contains(&a)),
            "{}: unexpected answer {out:?} (want a member and a 198.19.128.0/20 source)",
            c.name
        );
    }
}

/// A consumer VPC of `owner` on the shared range, a client host in it and an endpoint of
/// `sid`.
async fn consumer(rig: &Rig, owner: usize, name: &str, sid: &str) -> Consumer {
    let c = &rig.accounts[owner];
    let net = network(c, name, CIDR, SUBNET, GATEWAY).await;
    let (host, _) = server(c, &format!("{name}-host"), &net, CLIENT_IP, &[]).await;
    let (endpoint, ip) = create_endpoint(c, sid, &net).await;
    Consumer {
        owner,
        name: name.to_string(),
        host_ns: rig.lab.names.server(&host),
        net,
        endpoint,
        ip,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_killed_mid_apply_converges_to_the_plan() {
    if !can_run() {
        return;
    }
    let started = Instant::now();
    let seed = seed_from_env("VPCEP_AGENT_CRASH_SEED");
    println!("agent crash: seed {seed} (VPCEP_AGENT_CRASH_SEED replays the kill points)");
    let mut rng = Rng::new(seed);
    let lab = Lab::start("vak", Settings::default()).await;
    let alice = lab.account("alice").await;
    let bob = lab.account("bob").await;
    let bob_domain = lab.domain_id("bob").await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let (dir, tmp) = if std::env::var_os("VPCEP_KEEP_LAB").is_some() {
        let dir = tmp.keep();
        println!("keeping the agent's log in {}", dir.display());
        (dir, None)
    } else {
        (tmp.path().to_path_buf(), Some(tmp))
    };
    let mut rig = Rig {
        agent: None,
        backends: Backends::default(),
        lab,
        accounts: vec![alice, bob],
        dir,
        _tmp: tmp,
    };
    // Named as in the server's data directory (`<data-dir>/agent.token`).
    std::fs::write(rig.token_file(), &rig.lab.server.token).expect("token file");

    // Provider (alice): an ELB with two members in a VPC on the shared range, behind a service
    // without approval that bob may connect to.
    let a = &rig.accounts[0];
    let prov = network(a, "prov", CIDR, SUBNET, GATEWAY).await;
    let sg = backend_group(a, &[("tcp", MEMBER_PORT)]).await;
    let mut member_ns = Vec::new();
    for (i, ip) in MEMBERS.iter().enumerate() {
        let (id, _) = server(a, &format!("m{}", i + 1), &prov, ip, &[&sg]).await;
        member_ns.push((format!("m{}", i + 1), rig.lab.names.server(&id)));
    }
    let members: Vec<Value> = MEMBERS
        .iter()
        .map(|ip| json!({"address": ip, "port": MEMBER_PORT}))
        .collect();
    let lb: Value = a
        .post(
            &a.project_path("/lab/loadbalancers"),
            &json!({"loadbalancer": {"name": "elb", "vpc_id": prov.vpc, "subnet_id": prov.subnet,
                "vip_address": VIP, "listeners": [{"protocol": "TCP", "port": 80, "members": members}]}}),
        )
        .await
        .expect("load balancer");
    let vip_port = lb["loadbalancer"]["vip_port_id"]
        .as_str()
        .expect("vip port")
        .to_string();
    let svc: Value = a
        .post(
            &a.project_path("/vpc-endpoint-services"),
            &json!({"port_id": vip_port, "vpc_id": prov.vpc, "server_type": "LB", "service_name": "web",
                "approval_enabled": false, "ports": [{"client_port": 80, "server_port": 80, "protocol": "TCP"}]}),
        )
        .await
        .expect("service");
    let sid = svc["id"].as_str().expect("service id").to_string();
    a.add_permissions(
        &sid,
        "domainId",
        &[(format!("iam:domain::{bob_domain}"), "bob".into())],
    )
    .await
    .expect("permission for bob");

    // Consumers: three VPCs of each account, all on the provider's range, each with a client
    // host and an endpoint.
    let mut consumers = Vec::new();
    for (owner, who) in [(0, "a"), (1, "b")] {
        for i in 0..3 {
            consumers.push(consumer(&rig, owner, &format!("{who}c{i}"), &sid).await);
        }
    }
    // Bystander hosts (one per account) the change below deletes: namespaces to remove.
    let mut bystanders = Vec::new();
    for c in [&consumers[1], &consumers[4]] {
        let (id, _) = server(&rig.accounts[c.owner], "spare", &c.net, "10.20.0.30", &[]).await;
        bystanders.push((c.owner, id));
    }
    let bystander_ns: Vec<String> = bystanders
        .iter()
        .map(|(_, id)| rig.lab.names.server(id))
        .collect();

    say(started, format_args!("lab made in the control plane"));

    // ---- Kill 1: during the first apply of everything. ----
    let (_, first) = rig.plan().await;
    let new: Vec<String> = first.namespaces.keys().cloned().collect();
    assert!(new.len() > 10, "the lab plans {} namespaces", new.len());
    // The seed picks the point: strictly inside the making of the namespaces, or once they
    // are all made (their links, addresses and tables being programmed).
    let aim = match rng.range(0, 2) {
        0 => Aim::Programming,
        _ => Aim::Creating(rng.range(1, new.len() as u64 - 1) as usize),
    };
    rig.start_agent("agent-1");
    let hit = rig.kill_when(|now| aim.reached(now, &new, &[]));
    let statuses = rig.statuses(&consumers).await;
    let accepted = statuses.iter().filter(|s| *s == "accepted").count();
    let service = status_of(&rig.accounts[0], &format!("/vpc-endpoint-services/{sid}")).await;
    say(
        started,
        format_args!(
            "kill 1 (aimed at {aim:?}): {} of {} namespace handles existed, {} with no namespace \
             mounted {:?}; {accepted}/{} endpoints accepted, service {service}; {} ms after the \
             agent started",
            hit.present.len(),
            new.len(),
            hit.unmounted.len(),
            hit.unmounted,
            consumers.len(),
            hit.after.as_millis()
        ),
    );
    // The kill must have cut an apply short: an agent reports (and the control plane accepts)
    // only after the whole apply, so nothing accepted means it was still programming.
    assert!(
        accepted == 0 && service == "creating",
        "the first kill came after the apply finished: nothing was interrupted"
    );

    // A fresh agent converges from whatever was left.
    rig.start_agent("agent-2");
    let took = rig
        .converged("after kill 1", &sid, &consumers, |_| "accepted")
        .await;
    say(
        started,
        format_args!(
            "agent-2: every endpoint accepted {} ms after its start",
            took.as_millis()
        ),
    );
    for (name, ns) in &member_ns {
        rig.listen_in(
            ns,
            MEMBER_PORT,
            &[
                "socat",
                &format!("TCP-LISTEN:{MEMBER_PORT},fork,reuseaddr"),
                &format!("SYSTEM:echo {name} $SOCAT_PEERADDR"),
            ],
        )
        .await;
    }
    all_answer(&consumers.iter().collect::<Vec<_>>()).await;
    say(started, format_args!("every endpoint answers"));

    // ---- Kill 2: during a change. ----
    // The agent is stopped (SIGSTOP) while the change is made, standing for an agent busy
    // elsewhere while a burst of requests lands. It then takes the change in two batches: what
    // the long-poll it was waiting on had collected (the reject, perhaps more), then the rest in
    // one apply that adds namespaces (two new consumer VPCs with hosts), removes two (the
    // bystanders, deleted last so that they are in that apply) and adds and removes legs (two
    // new endpoints, one deleted).
    rig.agent().signal("STOP");
    let (deleted, rejected) = (consumers[0].clone(), consumers[3].clone());
    let a = &rig.accounts[0];
    a.connection_action(&sid, ConnectionAction::Reject, &rejected.endpoint)
        .await
        .expect("reject");
    let path = a.project_path(&format!("/vpc-endpoints/{}", deleted.endpoint));
    assert_eq!(a.delete(&path).await.expect("delete endpoint"), 204);
    let (n0, n1) = tokio::join!(
        consumer(&rig, 0, "an0", &sid),
        consumer(&rig, 1, "bn1", &sid)
    );
    consumers.push(n0);
    consumers.push(n1);
    for (owner, id) in &bystanders {
        rig.accounts[*owner]
            .delete_server(id)
            .await
            .expect("delete a bystander");
    }
    let before = owned(rig.prefix());
    let (_, target) = rig.plan().await;
    let target: BTreeSet<String> = target.namespaces.keys().cloned().collect();
    let adding: Vec<String> = target.difference(&before).cloned().collect();
    let removing: Vec<String> = before.difference(&target).cloned().collect();
    let mut leaving = bystander_ns.clone();
    leaving.sort();
    assert!(
        adding.len() >= 4 && removing == leaving,
        "the change adds {adding:?} and removes {removing:?}"
    );
    let aim = match rng.range(0, 3) {
        0 => Aim::Programming,
        1 => Aim::Removing,
        _ => Aim::Creating(rng.range(1, adding.len() as u64 - 1) as usize),
    };
    rig.agent().signal("CONT");
    let hit = rig.kill_when(|now| aim.reached(now, &adding, &removing));
    let statuses = rig.statuses(&consumers).await;
    let added = adding.iter().filter(|n| hit.present.contains(*n)).count();
    let removed = removing
        .iter()
        .filter(|n| !hit.present.contains(*n))
        .count();
    say(
        started,
        format_args!(
            "kill 2 (aimed at {aim:?}): {added} of {} namespaces added, {removed} of {} removed, {} \
             with no namespace mounted {:?}; endpoints {:?}; {} ms after SIGCONT",
            adding.len(),
            removing.len(),
            hit.unmounted.len(),
            hit.unmounted,
            consumers
                .iter()
                .map(|c| &c.name)
                .zip(&statuses)
                .collect::<Vec<_>>(),
            hit.after.as_millis()
        ),
    );
    let new_accepted = statuses[statuses.len() - 2..]
        .iter()
        .filter(|s| *s == "accepted")
        .count();
    let interrupted = hit.present != target || new_accepted < 2;
    // The deletions are the apply's last kernel step and take a millisecond each: a kill aimed
    // between them may come late on a loaded machine (then it hit the agent before or after
    // its report, still a crash to recover from). The other points are long enough to hit.
    if matches!(aim, Aim::Removing) && !interrupted {
        println!("kill 2 came after the apply had finished (its report may have gone out)");
    } else {
        assert!(
            interrupted,
            "the second kill came after the change was applied: nothing was interrupted"
        );
    }

    // ---- A fresh agent after the second kill. ----
    rig.start_agent("agent-3");
    let took = rig
        .converged("after kill 2", &sid, &consumers, |c| {
            if c.endpoint == deleted.endpoint {
                "gone"
            } else if c.endpoint == rejected.endpoint {
                "rejected"
            } else {
                "accepted"
            }
        })
        .await;
    say(
        started,
        format_args!("agent-3: converged {} ms after its start", took.as_millis()),
    );

    // Traffic through every live endpoint, to the listeners started before the second kill
    // (a namespace rebuilt under them would have cut them off).
    let live: Vec<&Consumer> = consumers
        .iter()
        .filter(|c| c.endpoint != deleted.endpoint && c.endpoint != rejected.endpoint)
        .collect();
    all_answer(&live).await;
    say(started, format_args!("{} endpoints answer", live.len()));
    // The rejected and the deleted endpoint carry nothing, and their legs are gone from the
    // gateways and from the consumers' routers.
    let (d, p) = rig.plan().await;
    // Gateway namespaces are `{prefix}g-{shard}`.
    let gateways = format!("{}g-", rig.prefix());
    // A live endpoint answers within milliseconds here; a dead one is given a second (both at
    // once) to connect.
    let (to_deleted, to_rejected) = tokio::join!(
        request(&deleted.host_ns, &deleted.ip, 1),
        request(&rejected.host_ns, &rejected.ip, 1)
    );
    for (c, (ok, out)) in [(&deleted, to_deleted), (&rejected, to_rejected)] {
        assert!(
            !ok,
            "{}: endpoint {} ({}) still answers: {out:?}",
            c.name, c.endpoint, c.ip
        );
        let (gw_side, router_side) = consumer_leg(&c.net.subnet);
        let router = rig.lab.names.router(&c.net.vpc);
        let mut holders = vec![(router.clone(), router_side)];
        for ns in p.namespaces.keys().filter(|n| n.starts_with(&gateways)) {
            holders.push((ns.clone(), gw_side.clone()));
        }
        for (ns, link) in holders {
            let (_, links) = exec_in(&ns, &["ip", "-br", "link"]).await;
            assert!(
                !links
                    .lines()
                    .any(|l| l.split(['@', ' ']).next() == Some(&link)),
                "{}: leg {link} still in {ns}:\n{links}",
                c.name
            );
        }
    }

    // No namespace of ours the plan does not have (the bystander's included), none missing.
    let now = owned(rig.prefix());
    let planned: BTreeSet<String> = p.namespaces.keys().cloned().collect();
    for ns in &bystander_ns {
        assert!(
            !now.contains(ns),
            "the deleted host's namespace {ns} is still there"
        );
    }
    assert_eq!(
        now,
        planned,
        "namespaces of ours vs the plan: extra {:?}, missing {:?}",
        now.difference(&planned).collect::<Vec<_>>(),
        planned.difference(&now).collect::<Vec<_>>()
    );
    say(
        started,
        format_args!("2 endpoints carry nothing, their legs are gone"),
    );
    // The kernel is the plan in every namespace: links (with MACs, masters, up), addresses,
    // routes, rules, sysctls, nftables tables; what the plan lacks counts too.
    let mut findings = Vec::new();
    for ns in &planned {
        let want = doctor::expected(&p, ns).expect("planned namespace");
        let have = linux::read_namespace(ns)
            .await
            .expect("reading a namespace");
        findings.extend(doctor::compare(ns, &want, have.as_ref()));
    }
    say(
        started,
        format_args!("{} namespaces compared with the plan", planned.len()),
    );
    // And the doctor's check along the service's and every live endpoint's path, which also
    // looks at the routers' fast path.
    let mut objects = vec![Object::Service(&sid)];
    objects.extend(live.iter().map(|c| Object::Endpoint(&c.endpoint)));
    for o in objects {
        let check = doctor::kernel_check(&d, &rig.lab.names, o)
            .await
            .expect("doctor");
        findings.extend(check.findings);
    }
    assert!(
        findings.is_empty(),
        "the kernel differs from the plan:\n{}\n{}",
        findings
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n"),
        log_tail(&rig.log())
    );
    say(
        started,
        format_args!(
            "{} namespaces as planned, {} endpoints answer, 2 carry nothing",
            planned.len(),
            live.len()
        ),
    );
}
