//! P4 (root): scale. `vpcs` consumer VPCs all on 10.0.0.0/16 and one provider; endpoints
//! (`per_vpc` per VPC) are added in stages. It drives the agent's kernel layer directly
//! (plan → `Kernel::apply`), so each step is timed alone:
//!   * one more endpoint at each stage (0, 1,000, 10,000 present): the agent's step after a feed
//!     change — patch the plan, program the dirty shard over the long-lived netlink sockets
//!     (SPEC: ≤ 1 ms); the figure is the programming (address + element batch, acknowledged).
//!     A sample whose endpoint brought a new gateway leg (the first of its VPC: the layout path,
//!     P1's "new consumer VPC") is not counted;
//!   * a host reboot: every namespace, link, route and table of all VPCs with every endpoint,
//!     from empty, by a fresh kernel layer in a second namespace prefix (SPEC ≤ 10 s), and an
//!     agent restart over it with nothing to change (≤ 1 s);
//!   * every endpoint's map elements into an empty gateway table in one netlink batch (SPEC: "a
//!     full reconcile of 10,000 from empty ≤ 200 ms, in one atomic transaction");
//!   * the agent's memory: the real agent (`agent_exe agent`, the code `vpcep agent` runs) in a
//!     process of its own following the same control plane into a third prefix; its RSS with the
//!     VPCs and no endpoint, and once every endpoint is accepted, each the highest reading over
//!     `Config::rss_watch` (SPEC ≤ 50 MB per 10,000).
//!     It is stopped (SIGSTOP) while the steps above are timed, so it takes no CPU from them.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use vpcep_dataplane::kernel::linux::Kernel;
use vpcep_dataplane::kernel::netlink::NsLink;
use vpcep_dataplane::plan::desired::Desired;
use vpcep_dataplane::plan::nft::{Elem, Family, Field, L4, NftSet, NftTable, Val, element_delta};
use vpcep_dataplane::plan::{Legs, Plan, patch_endpoints, plan};
use vpcep_test_support::lab::{Net, ScratchNames, create_endpoint, network, server};

use crate::figure::{Figure, Target, num};
use crate::lab::{Bench, pct};

#[derive(Clone, Debug)]
pub struct Config {
    pub vpcs: usize,
    pub per_vpc: usize,
    /// Endpoints present when "one more" is timed, ascending; the last is the full size.
    pub stages: Vec<usize>,
    /// "One more" endpoints timed per stage.
    pub samples: usize,
    /// An executable whose `agent` subcommand runs the agent (the harness passes itself); no
    /// memory figure without it.
    pub agent_exe: Option<PathBuf>,
    /// How long the agent's memory is watched for its figure (the highest reading counts): its
    /// heap moves after it has caught up, as each metering read (every 15 s, all 40,000
    /// counters) and each full converge of a quiet feed (every 25 s) allocates and frees
    /// megabytes. Read once right after catching up, the figure depended on which of them had
    /// run yet (measured at 10,060 endpoints: 46 MB of heap then, 70 MB 25 s later); 40 s
    /// holds two metering reads and a quiet converge.
    pub rss_watch: Duration,
}

impl Config {
    pub fn full() -> Config {
        Config {
            vpcs: 1000,
            per_vpc: 10,
            stages: vec![0, 1000, 10_000],
            samples: 20,
            agent_exe: None,
            rss_watch: Duration::from_secs(40),
        }
    }
    pub fn quick() -> Config {
        Config {
            vpcs: 10,
            per_vpc: 10,
            stages: vec![0, 20, 100],
            samples: 5,
            agent_exe: None,
            // The quick run checks the harness, not the figure.
            rss_watch: Duration::from_secs(1),
        }
    }
}

/// An empty gateway-shaped table and the same with `n` endpoints' DNAT and routing elements.
pub fn synthetic(n: usize) -> (NftTable, NftTable) {
    let key = || vec![Field::CtZone, Field::IpDaddr, Field::Dport(L4::Tcp)];
    let mut empty = NftTable::new(Family::Ip, "vpcep");
    empty.sets.insert(
        "ep_tcp",
        NftSet::map(key(), vec![Field::IpDaddr, Field::Dport(L4::Tcp)]),
    );
    empty
        .sets
        .insert("prov_tcp", NftSet::map(key(), vec![Field::MetaMark]));
    let mut full = empty.clone();
    let (mut ep, mut prov) = (BTreeSet::new(), BTreeSet::new());
    for i in 0..n {
        // one zone per consumer VPC, ten endpoint addresses in each
        let zone = (i / 10) as u16 + 1;
        let ip = Ipv4Addr::new(10, 0, 0, 2 + (i % 10) as u8);
        let key = vec![Val::Zone(zone), Val::Ip(ip), Val::Port(80)];
        ep.insert(Elem::map(
            key.clone(),
            vec![Val::Ip(Ipv4Addr::new(10, 0, 0, 20)), Val::Port(80)],
        ));
        prov.insert(Elem::map(key, vec![Val::Mark(20_001)]));
    }
    if let Some(s) = full.sets.get_mut("ep_tcp") {
        s.elements = ep;
    }
    if let Some(s) = full.sets.get_mut("prov_tcp") {
        s.elements = prov;
    }
    (empty, full)
}

/// A child process killed when dropped (also when the bench panics), and whether it leads a
/// process group of its own (a wrapped agent).
struct Child(std::process::Child, bool);

impl Child {
    fn pid(&self) -> Pid {
        Pid::from_raw(self.0.id() as i32)
    }
    /// Signal the agent: under `VPCEP_BENCH_AGENT_WRAP` the child is the wrapper (a profiler)
    /// and leads a process group of its own, the agent in it; else the child is the agent.
    fn signal(&self, s: Signal) {
        let _ = if self.1 {
            killpg(self.pid(), s)
        } else {
            kill(self.pid(), s)
        };
    }
    /// Resident memory in MB (VmRSS).
    fn rss_mb(&self) -> f64 {
        self.status_mb("VmRSS:")
    }
    /// One memory line of /proc/PID/status in MB (`VmRSS:`, `RssAnon:`, `RssFile:`).
    fn status_mb(&self, key: &str) -> f64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.0.id()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with(key))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|kb| kb.parse::<f64>().ok())
            })
            .map_or(f64::NAN, |kb| kb / 1024.0)
    }
}

/// One reading of the agent's memory, in MB.
#[derive(Clone, Copy)]
struct Memory {
    /// `VmRSS`: what the SPEC's figure is.
    rss: f64,
    /// `RssAnon`: heap and stacks.
    anon: f64,
    /// `RssFile`: the binary's (and libraries') pages.
    file: f64,
}

impl Child {
    fn memory(&self) -> Memory {
        Memory {
            rss: self.rss_mb(),
            anon: self.status_mb("RssAnon:"),
            file: self.status_mb("RssFile:"),
        }
    }

    /// The first reading, and the one with the highest RSS over `watch` (every 250 ms).
    async fn peak_memory(&self, watch: Duration) -> (Memory, Memory) {
        let first = self.memory();
        let mut peak = first;
        let started = Instant::now();
        while started.elapsed() < watch {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let m = self.memory();
            // A NaN (the process gone) never compares higher: the figure then stays the last
            // real reading.
            if m.rss > peak.rss {
                peak = m;
            }
        }
        (first, peak)
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        // The group, not only the child: a wrapper's agent would outlive it (and go on holding
        // its 1,013 namespaces).
        self.signal(Signal::SIGKILL);
        let _ = self.0.wait();
    }
}

/// The programming time of one more endpoint in `last`, `samples` times: (the times of the
/// samples that took the element path, how many brought a new leg instead).
#[allow(clippy::too_many_arguments)]
async fn one_more(
    b: &Bench,
    sid: &str,
    last: &Net,
    d: &mut Desired,
    p: &mut Plan,
    legs: &mut Legs,
    kernel: &mut Kernel,
    samples: usize,
) -> (Vec<Duration>, usize) {
    let (mut programmed, mut layout) = (vec![], 0);
    for _ in 0..samples {
        let (id, _) = create_endpoint(&b.c, sid, last).await;
        // As the agent does: the change from the feed onto the desired state it keeps.
        let changes = b
            .server
            .control
            .agent_changes(d.revision, Duration::from_secs(5))
            .await
            .expect("changes");
        d.apply(&changes.changes, changes.revision);
        let before = BTreeMap::from([(id, None)]);
        match patch_endpoints(p, d, &b.names, legs, &before) {
            Some(dirty) => {
                let failed = kernel.apply_changed(p, &dirty).await.expect("apply");
                assert!(failed.is_empty(), "{failed:?}");
            }
            None => {
                // A new leg: the agent plans everything and takes the layout path.
                *p = plan(d, &b.names, legs);
                let failed = kernel.apply(p).await.expect("apply");
                assert!(failed.is_empty(), "{failed:?}");
            }
        }
        if kernel.last.by_layout == 0 && kernel.last.by_elements == 1 {
            programmed.push(kernel.last.element_time);
        } else {
            layout += 1;
        }
    }
    (programmed, layout)
}

/// Bring the kernel layer up to everything in the control plane (a new snapshot, planned whole).
async fn converge(b: &Bench, legs: &mut Legs, kernel: &mut Kernel) -> (Desired, Plan) {
    let snapshot = b.server.control.agent_snapshot().await.expect("snapshot");
    let d = Desired::from_snapshot(&snapshot);
    let p = plan(&d, &b.names, legs);
    let failed = kernel.apply(&p).await.expect("apply");
    assert!(failed.is_empty(), "{failed:?}");
    (d, p)
}

pub async fn measure(cfg: &Config) -> Vec<Figure> {
    let b = Bench::start("s").await;
    let (sid, _web) = b.provider().await;
    let mut consumers = Vec::new();
    let vpc_names: Vec<String> = (0..cfg.vpcs).map(|i| format!("c{i}")).collect();
    for chunk in vpc_names.chunks(25) {
        consumers.extend(
            futures_util::future::join_all(
                chunk
                    .iter()
                    .map(|n| network(&b.c, n, "10.0.0.0/16", "10.0.0.0/24", "10.0.0.1")),
            )
            .await,
        );
    }
    let last = consumers.last().cloned().expect("a consumer VPC");
    let (client, _) = server(&b.c, "client", &last, "10.0.0.250", &[]).await;
    let mut legs = Legs::default();
    let mut kernel = Kernel::new(b.names.clone());
    converge(&b, &mut legs, &mut kernel).await;

    // The real agent in its own process and prefix, for its memory.
    let agent_names = ScratchNames::new("vbm");
    let agent = cfg.agent_exe.as_ref().map(|exe| {
        // `VPCEP_BENCH_AGENT_WRAP` runs the agent under a profiler (one that execs it, or one that
        // runs it as a child, as heaptrack does; `vpcep-bench`'s
        // docs, "Profiling the agent's memory"); the RSS figure then counts the profiler too.
        let wrap = std::env::var("VPCEP_BENCH_AGENT_WRAP").unwrap_or_default();
        let mut wrap = wrap.split_whitespace();
        let (mut command, wrapped) = match wrap.next() {
            Some(program) => {
                let mut c = std::process::Command::new(program);
                c.args(wrap).arg(exe);
                (c, true)
            }
            None => (std::process::Command::new(exe), false),
        };
        // A wrapped agent gets a process group of its own, so that the stops, the resume and
        // the final kill reach it too, not only its wrapper. (An agent run directly stays in
        // the bench's group, where an interrupt from the terminal reaches it.)
        if wrapped {
            std::os::unix::process::CommandExt::process_group(&mut command, 0);
        }
        let child = command
            .args([
                "agent",
                "--control-url",
                &b.server.url(),
                "--ns-prefix",
                &agent_names.names.prefix,
            ])
            .env("VPCEP_BENCH_AGENT_TOKEN", &b.server.token)
            .spawn()
            .expect("agent process");
        Child(child, wrapped)
    });
    let mut rss_empty = f64::NAN;
    if let Some(a) = &agent {
        vpcep_test_support::lab::wait_server_active(&b.c, &client).await;
        // Over the same window as the figure with every endpoint, so the growth compares like
        // with like.
        let (first, peak) = a.peak_memory(cfg.rss_watch).await;
        eprintln!(
            "P4: agent with the VPCs alone: {} MB heap when caught up, {} MB highest over {} s",
            num(first.anon),
            num(peak.anon),
            cfg.rss_watch.as_secs()
        );
        rss_empty = peak.rss;
        a.signal(Signal::SIGSTOP);
    }

    let mut figures = vec![];
    let mut created = 0;
    for &stage in &cfg.stages {
        let all: Vec<&Net> = consumers
            .iter()
            .flat_map(|n| std::iter::repeat_n(n, cfg.per_vpc))
            .skip(created)
            .take(stage.saturating_sub(created))
            .collect();
        for chunk in all.chunks(50) {
            futures_util::future::join_all(chunk.iter().map(|n| create_endpoint(&b.c, &sid, n)))
                .await;
        }
        created += all.len();
        let (mut d, mut p) = converge(&b, &mut legs, &mut kernel).await;
        let (mut programmed, layout) = one_more(
            &b,
            &sid,
            &last,
            &mut d,
            &mut p,
            &mut legs,
            &mut kernel,
            cfg.samples,
        )
        .await;
        let name = |q: &str| {
            format!(
                "one more endpoint at {}: programmed, {q}{}",
                num(stage as f64),
                if layout > 0 {
                    format!(" ({layout} first of their VPC not counted)")
                } else {
                    String::new()
                }
            )
        };
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let n = programmed.len();
        let mut p50 = Figure::absolute(
            "P4",
            name("p50"),
            if n == 0 {
                f64::NAN
            } else {
                ms(pct(&mut programmed, 0.5))
            },
            "ms",
            Some(Target::at_most(1.0)),
        );
        let mut p99 = Figure::absolute(
            "P4",
            name("p99"),
            if n == 0 {
                f64::NAN
            } else {
                ms(pct(&mut programmed, 0.99))
            },
            "ms",
            Some(Target::at_most(1.0)),
        );
        p50.rounds = n;
        p99.rounds = n;
        figures.extend([p50, p99]);
    }
    let endpoints = created + cfg.samples * cfg.stages.len();

    // Memory: let the agent catch up with everything, then read its RSS.
    if let Some(a) = &agent {
        a.signal(Signal::SIGCONT);
        b.wait_accepted(endpoints).await;
        let (first, peak) = a.peak_memory(cfg.rss_watch).await;
        eprintln!(
            "P4: agent with every endpoint: {} MB heap when caught up, {} MB highest over {} s",
            num(first.anon),
            num(peak.anon),
            cfg.rss_watch.as_secs()
        );
        let rss = peak.rss;
        figures.push(Figure::absolute(
            "P4",
            format!(
                "agent RSS with {} endpoints in {} VPCs, highest over {} s (heap and stacks {} MB, the binary's pages {} MB)",
                num(endpoints as f64),
                num(cfg.vpcs as f64),
                cfg.rss_watch.as_secs(),
                num(peak.anon),
                num(peak.file),
            ),
            rss,
            "MB",
            // SPEC: ≤ 50 MB at 10,000 endpoints (a smaller run is judged against the same).
            Some(Target::at_most(50.0)),
        ));
        figures.push(Figure::absolute(
            "P4",
            format!(
                "agent RSS per 1,000 endpoints (growth over the VPCs alone: {} MB)",
                num(rss_empty)
            ),
            (rss - rss_empty) / (endpoints as f64 / 1000.0),
            "MB",
            Some(Target::at_most(5.0)),
        ));
    }
    drop(agent);
    // The agent's namespaces are dismantled by the kernel in the background, holding the locks
    // creating namespaces needs: the reboot below must not pay for that (a host that boots has
    // nothing to dismantle).
    let freed = agent_names.remove_and_wait();
    // Nor the dismantling of the lab's own 1,013: a rebooted host has none, and with the kernel
    // still freeing the lab's and the agent's namespaces the same rebuild took 14–28 s against
    // 1.7–2.1 s on a quiet kernel. The control plane stays; the kernel layer `kernel` is not
    // used again, and its sockets in every lab namespace are closed first, so that nothing of
    // ours holds them.
    drop(kernel);
    let freed_lab = b.remove_namespaces_and_wait();
    eprintln!(
        "P4: the kernel freed the agent's namespaces in {:.1} s, the lab's in {:.1} s",
        freed.as_secs_f64(),
        freed_lab.as_secs_f64()
    );

    // A host reboot: everything from empty, in a prefix of its own; then an agent restart.
    {
        let reboot = ScratchNames::new("vbf");
        let snapshot = b.server.control.agent_snapshot().await.expect("snapshot");
        let d = Desired::from_snapshot(&snapshot);
        let mut legs = Legs::default();
        let t = Instant::now();
        let p = plan(&d, &reboot.names, &mut legs);
        let planned = t.elapsed();
        let mut k = Kernel::new(reboot.names.clone());
        let t = Instant::now();
        let failed = k.apply(&p).await.expect("apply");
        let applied = t.elapsed();
        assert!(failed.is_empty(), "{failed:?}");
        figures.push(Figure::absolute(
            "P4",
            format!(
                "host reboot: {} namespaces of {} VPCs and {} endpoints from empty (plan {} ms + kernel)",
                num(p.namespaces.len() as f64),
                num(cfg.vpcs as f64),
                num(endpoints as f64),
                num(planned.as_secs_f64() * 1e3)
            ),
            (planned + applied).as_secs_f64(),
            "s",
            Some(Target::at_most(10.0)),
        ));
        let mut restarted = Kernel::new(reboot.names.clone());
        let t = Instant::now();
        let failed = restarted.apply(&p).await.expect("apply after restart");
        let restart = t.elapsed();
        assert!(failed.is_empty(), "{failed:?}");
        let phases = restarted.last.layout_phases;
        eprintln!(
            "P4: restart {:.0} ms: namespaces {:.0}, links and sockets {:.0}, far ends {:.0}, addresses/routes/tables {:.0}, the rest (fast path) {:.0}; {} requests",
            restart.as_secs_f64() * 1e3,
            phases[0].as_secs_f64() * 1e3,
            phases[1].as_secs_f64() * 1e3,
            phases[2].as_secs_f64() * 1e3,
            phases[3].as_secs_f64() * 1e3,
            restart.saturating_sub(phases.iter().sum()).as_secs_f64() * 1e3,
            restarted.last.layout_requests,
        );
        figures.push(Figure::absolute(
            "P4",
            "agent restart, nothing to change (kernel layer)",
            restart.as_secs_f64(),
            "s",
            Some(Target::at_most(1.0)),
        ));
        drop((k, restarted));
        let _ = vpcep_dataplane::kernel::linux::teardown(&reboot.names).await;
    }

    // Every endpoint's elements into one empty table in one transaction.
    let scratch = format!("{}scratch", b.names.prefix);
    vpcep_dataplane::kernel::linux::run("ip", &["netns", "add", &scratch], None)
        .await
        .expect("netns");
    let (empty, full) = synthetic(created);
    let mut link = NsLink::open(&scratch).expect("netlink");
    link.load_tables(Some(&empty), &[])
        .await
        .expect("empty table");
    let delta = element_delta(&empty, &full).expect("delta");
    let t = Instant::now();
    link.set_elements(&full, &delta).await.expect("batch");
    figures.push(Figure::absolute(
        "P4",
        format!(
            "{} endpoints' elements into an empty table, one netlink batch",
            num(created as f64)
        ),
        t.elapsed().as_secs_f64() * 1e3,
        "ms",
        Some(Target::at_most(200.0)),
    ));
    drop(link);
    let _ = vpcep_dataplane::kernel::linux::run("ip", &["netns", "del", &scratch], None).await;
    b.teardown().await;
    figures
}
