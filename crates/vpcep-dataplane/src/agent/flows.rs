//! Flow records (docs/flows.md): every gateway shard's conntrack NEW and DESTROY events, heard
//! by one listener thread per gateway (`kernel::netlink::events`), named by the plan
//! (`plan::flows::FlowIndex`: zone and endpoint address → endpoint, service, consumer) and
//! written as JSON lines by one writer thread, so reading the kernel never waits for the disk.
//! Files rotate by size: `flows.jsonl`, then `flows.jsonl.1` … `.{files-1}`, oldest dropped.
//!
//! Nothing is lost silently: a listener's receive buffer overrun becomes an `overrun` record in
//! the stream and `vpcep_flow_overruns_total` in `/metrics`.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

use vpcep_core::flows::{EndReason, FlowEvent, FlowRecord, Volume, time_text};

use crate::kernel::netlink::events::{
    CtCount, CtEvent, CtKind, Heard, Listener, listen, now_ns, tcp_state_name,
};
use crate::plan::Plan;
use crate::plan::desired::Desired;
use crate::plan::flows::{FlowIndex, FlowOwner, live_of};
use crate::plan::naming::Namespaces;

pub use vpcep_core::flows::{FILE, rotated};

/// Where and how much.
#[derive(Debug, Clone)]
pub struct FlowConfig {
    pub dir: PathBuf,
    /// A file is rotated once it would grow past this.
    pub file_bytes: u64,
    /// Files kept, the current one included.
    pub files: usize,
}

impl FlowConfig {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            file_bytes: 64 << 20,
            files: 8,
        }
    }
}

/// How long after the agent cut an endpoint's flows their ends count as cut.
const CUT_WINDOW_NS: u64 = 10_000_000_000;

/// What the writer reads besides the events: the index and the cuts in progress.
#[derive(Default)]
struct Shared {
    index: FlowIndex,
    /// (gateway, zone, endpoint address) → when the agent cut it.
    cuts: BTreeMap<(String, u16, Ipv4Addr), u64>,
}

/// The agent's flow recorder: listeners per gateway and the writer thread.
pub struct Flows {
    tx: Sender<Heard>,
    shared: Arc<Mutex<Shared>>,
    /// Gateway → (its namespace's inode when the listener was opened, the listener).
    listeners: BTreeMap<String, (Option<u64>, Listener)>,
    /// The gateways holding endpoints in the plan followed last.
    gateways: std::collections::BTreeSet<String>,
}

impl std::fmt::Debug for Flows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flows")
            .field("gateways", &self.listeners.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Flows {
    /// Start the writer (the directory is made if missing).
    pub fn start(cfg: FlowConfig) -> std::io::Result<Self> {
        std::fs::create_dir_all(&cfg.dir)?;
        let sink = Sink::open(cfg)?;
        let (tx, rx) = channel();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let theirs = shared.clone();
        std::thread::Builder::new()
            .name("flow writer".into())
            .spawn(move || write_loop(&rx, &theirs, sink))?;
        Ok(Self {
            tx,
            shared,
            listeners: BTreeMap::new(),
            gateways: Default::default(),
        })
    }

    fn shared(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new plan, before it is applied (so a connection made the moment an endpoint exists
    /// finds its name). `only`: the endpoints a patched plan changed (the rest is as before);
    /// `None`: everything was planned, and gateways that no longer hold endpoints lose their
    /// listener.
    pub fn follow(&mut self, plan: &Plan, d: &Desired, names: &Namespaces, only: Option<&[&str]>) {
        self.shared().index.follow(plan, d, names, only);
        match only {
            None => {
                self.gateways = plan.live.iter().map(|l| names.gateway(l.shard)).collect();
                let gateways = &self.gateways;
                self.listeners.retain(|ns, _| gateways.contains(ns));
            }
            // A patch may put the first endpoint into a shard.
            Some(ids) => {
                for id in ids {
                    let shards = live_of(plan, id).map(|l| names.gateway(l.shard));
                    self.gateways.extend(shards);
                }
            }
        }
    }

    /// After an apply: every gateway holding endpoints that has no listener yet gets one
    /// (opening it is a trip into the namespace, on a blocking thread). A gateway whose
    /// namespace was made anew behind our back gets a new one.
    pub async fn listen(&mut self) {
        for ns in self.gateways.clone() {
            let inode = namespace_inode(&ns);
            if inode.is_none() || self.listeners.get(&ns).map(|(i, _)| *i) == Some(inode) {
                continue;
            }
            let tx = self.tx.clone();
            let name = ns.clone();
            match tokio::task::spawn_blocking(move || listen(&name, tx)).await {
                Ok(Ok(l)) => {
                    self.listeners.insert(ns, (inode, l));
                }
                Ok(Err(e)) => {
                    tracing::warn!(namespace = ns, error = %e, "cannot listen to conntrack events")
                }
                Err(e) => tracing::warn!(namespace = ns, error = %e, "listener thread failed"),
            }
        }
    }

    /// The agent is about to cut the flows of endpoint `ip` in leg `zone` of `gateway`: their
    /// end records say `cut`.
    pub fn cutting(&self, gateway: &str, zone: u16, ip: Ipv4Addr) {
        let now = now_ns();
        let mut sh = self.shared();
        sh.cuts
            .retain(|_, at| now.saturating_sub(*at) < CUT_WINDOW_NS);
        sh.cuts.insert((gateway.to_string(), zone, ip), now);
    }
}

/// The namespace's inode (`None`: not there).
fn namespace_inode(ns: &str) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(Path::new("/run/netns").join(ns))
        .ok()
        .map(|m| m.ino())
}

/// The record of one event of an endpoint's connection (`seq` left 0: the writer numbers).
/// `read_ns`: when the event was read, for entries the kernel did not timestamp; `cut`: the
/// agent cut this endpoint's flows just now.
pub fn record(
    ev: &CtEvent,
    gateway: &str,
    owner: &FlowOwner,
    read_ns: u64,
    cut: bool,
) -> FlowRecord {
    let snat = vpcep_core::validate::snat_range();
    // A `proxy_open` flow is DNATed to the leg's own listener (198.19.128.x:1): what the
    // backend sees is the proxy's second connection, not this entry's reply tuple.
    let proxied = snat.contains(ev.reply.src.ip());
    let (translated, backend) = if proxied {
        (None, None)
    } else {
        (Some(ev.reply.dst), Some(ev.reply.src))
    };
    let end = ev.kind == CtKind::Destroy;
    let time_ns = if end {
        ev.stop_ns.unwrap_or(read_ns)
    } else {
        ev.start_ns.unwrap_or(read_ns)
    };
    let vol = |c: CtCount| Volume {
        packets: c.packets,
        bytes: c.bytes,
    };
    let reason = if cut {
        EndReason::Cut
    } else {
        match ev.tcp_state {
            Some(7) => EndReason::Closed,
            Some(8) => EndReason::Reset,
            _ => EndReason::Timeout,
        }
    };
    let end_reason = end.then_some(reason);
    FlowRecord {
        seq: 0,
        event: if end {
            FlowEvent::End
        } else {
            FlowEvent::Start
        },
        time_ns,
        time: time_text(time_ns),
        gateway: gateway.to_string(),
        endpoint_id: owner.endpoint_id.clone(),
        service_id: owner.service_id.clone(),
        project_id: owner.project_id.clone(),
        domain_id: owner.domain_id.clone(),
        service_project_id: owner.service_project_id.clone(),
        protocol: match ev.proto {
            6 => "tcp".into(),
            17 => "udp".into(),
            n => n.to_string(),
        },
        source: Some(ev.orig.src),
        endpoint: Some(ev.orig.dst),
        translated,
        backend,
        conntrack_id: ev.id,
        to_backend: end.then(|| ev.counters.map(|c| vol(c.0))).flatten(),
        to_consumer: end.then(|| ev.counters.map(|c| vol(c.1))).flatten(),
        started_ns: if end { ev.start_ns } else { None },
        end_reason,
        tcp_state: if end {
            ev.tcp_state.map(|s| tcp_state_name(s).to_string())
        } else {
            None
        },
        overruns: 0,
    }
}

/// The writer: numbers, names and writes what the listeners heard; flushes whenever it has
/// caught up.
fn write_loop(rx: &Receiver<Heard>, shared: &Mutex<Shared>, mut sink: Sink) {
    let written =
        |event: &'static str| metrics::counter!("vpcep_flow_records_total", "event" => event);
    let (starts, ends, gaps) = (written("start"), written("end"), written("overrun"));
    let unmatched = metrics::counter!("vpcep_flow_unmatched_events_total");
    let errors = metrics::counter!("vpcep_flow_write_errors_total");
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        while let Some(heard) = next {
            let (index, cuts) = {
                let sh = shared.lock().unwrap_or_else(|p| p.into_inner());
                (
                    sh.index.clone(),
                    (!sh.cuts.is_empty()).then(|| sh.cuts.clone()),
                )
            };
            let mut out = Vec::new();
            match heard {
                Heard::Events { ns, at_ns, events } => {
                    for ev in &events {
                        let Some(owner) = index.lookup(&ns, ev.zone, *ev.orig.dst.ip()) else {
                            unmatched.increment(1);
                            continue;
                        };
                        let cut = ev.kind == CtKind::Destroy
                            && cuts.as_ref().is_some_and(|c| {
                                c.contains_key(&(ns.to_string(), ev.zone, *ev.orig.dst.ip()))
                            });
                        out.push(record(ev, &ns, owner, at_ns, cut));
                    }
                }
                Heard::Overrun { ns, at_ns } => {
                    metrics::counter!("vpcep_flow_overruns_total", "gateway" => ns.to_string())
                        .increment(1);
                    tracing::warn!(gateway = %ns, "flow records: the kernel dropped conntrack events");
                    out.push(FlowRecord {
                        seq: 0,
                        event: FlowEvent::Overrun,
                        time_ns: at_ns,
                        time: time_text(at_ns),
                        gateway: ns.to_string(),
                        endpoint_id: String::new(),
                        service_id: String::new(),
                        project_id: String::new(),
                        domain_id: String::new(),
                        service_project_id: String::new(),
                        protocol: String::new(),
                        source: None,
                        endpoint: None,
                        translated: None,
                        backend: None,
                        conntrack_id: 0,
                        to_backend: None,
                        to_consumer: None,
                        started_ns: None,
                        end_reason: None,
                        tcp_state: None,
                        overruns: 1,
                    });
                }
            }
            for r in &mut out {
                match r.event {
                    FlowEvent::Start => starts.increment(1),
                    FlowEvent::End => ends.increment(1),
                    FlowEvent::Overrun => gaps.increment(1),
                }
                if let Err(e) = sink.write(r) {
                    errors.increment(1);
                    tracing::warn!(error = %e, "cannot write flow record");
                }
            }
            next = rx.try_recv().ok();
        }
        if let Err(e) = sink.flush() {
            errors.increment(1);
            tracing::warn!(error = %e, "cannot write flow records");
        }
    }
}

/// The current file and its rotation.
struct Sink {
    cfg: FlowConfig,
    file: BufWriter<File>,
    size: u64,
    seq: u64,
}

impl Sink {
    fn open(cfg: FlowConfig) -> std::io::Result<Sink> {
        let path = cfg.dir.join(FILE);
        // Numbering goes on from the newest record kept (a restart must not reuse markers).
        let seq = (0..cfg.files.max(1))
            .find_map(|i| last_seq(&cfg.dir.join(rotated(i))))
            .unwrap_or(0);
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let size = file.metadata()?.len();
        Ok(Sink {
            cfg,
            file: BufWriter::with_capacity(1 << 16, file),
            size,
            seq,
        })
    }

    fn write(&mut self, r: &mut FlowRecord) -> std::io::Result<()> {
        self.seq += 1;
        r.seq = self.seq;
        let mut line = serde_json::to_vec(r).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let len = line.len() as u64;
        if self.size > 0 && self.size + len > self.cfg.file_bytes {
            self.rotate()?;
        }
        self.file.write_all(&line)?;
        self.size += len;
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }

    /// `flows.jsonl` → `.1` → `.2` …; the oldest beyond `files` is dropped.
    fn rotate(&mut self) -> std::io::Result<()> {
        self.file.flush()?;
        let keep = self.cfg.files.max(1);
        let dir = &self.cfg.dir;
        let _ = std::fs::remove_file(dir.join(rotated(keep - 1)));
        for i in (1..keep).rev() {
            let from = dir.join(rotated(i - 1));
            if from.exists() {
                std::fs::rename(&from, dir.join(rotated(i)))?;
            }
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(FILE))?;
        self.file = BufWriter::with_capacity(1 << 16, file);
        self.size = 0;
        Ok(())
    }
}

/// The `seq` of the last whole record of a file (its last 64 KiB are read).
fn last_seq(path: &Path) -> Option<u64> {
    let mut f = File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(64 << 10))).ok()?;
    let mut tail = Vec::new();
    f.read_to_end(&mut tail).ok()?;
    tail.split(|b| *b == b'\n')
        .rev()
        .find_map(|l| serde_json::from_slice::<FlowRecord>(l).ok())
        .map(|r| r.seq)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddrV4;

    use crate::kernel::netlink::events::Tuple;

    fn owner() -> FlowOwner {
        FlowOwner {
            endpoint_id: "ep1".into(),
            service_id: "svc1".into(),
            project_id: "consumer".into(),
            domain_id: "acct".into(),
            service_project_id: "provider".into(),
        }
    }

    fn ev(kind: CtKind, tcp_state: Option<u8>, reply_src: &str) -> CtEvent {
        let a = |s: &str| s.parse::<SocketAddrV4>().expect("addr");
        CtEvent {
            kind,
            id: 9,
            zone: 3,
            proto: 6,
            orig: Tuple {
                src: a("10.0.0.5:40000"),
                dst: a("10.0.0.9:80"),
            },
            reply: Tuple {
                src: a(reply_src),
                dst: a("198.19.128.3:40000"),
            },
            status: 0,
            tcp_state,
            counters: Some((
                CtCount {
                    packets: 6,
                    bytes: 400,
                },
                CtCount {
                    packets: 5,
                    bytes: 9000,
                },
            )),
            start_ns: Some(1_000_000_000),
            stop_ns: Some(3_000_000_000),
        }
    }

    #[test]
    fn records_join_both_sides_of_the_nat() {
        let start = record(
            &ev(CtKind::New, Some(3), "192.168.0.4:8080"),
            "g",
            &owner(),
            5,
            false,
        );
        assert_eq!(start.event, FlowEvent::Start);
        assert_eq!(start.time_ns, 1_000_000_000);
        assert_eq!(start.source, "10.0.0.5:40000".parse().ok());
        assert_eq!(start.endpoint, "10.0.0.9:80".parse().ok());
        assert_eq!(start.translated, "198.19.128.3:40000".parse().ok());
        assert_eq!(start.backend, "192.168.0.4:8080".parse().ok());
        assert_eq!(
            (start.project_id.as_str(), start.domain_id.as_str()),
            ("consumer", "acct")
        );
        assert_eq!(start.to_backend, None);
        assert_eq!(start.end_reason, None);
        let end = record(
            &ev(CtKind::Destroy, Some(7), "192.168.0.4:8080"),
            "g",
            &owner(),
            5,
            false,
        );
        assert_eq!(end.event, FlowEvent::End);
        assert_eq!(end.time_ns, 3_000_000_000);
        assert_eq!(end.started_ns, Some(1_000_000_000));
        assert_eq!(
            end.to_backend,
            Some(Volume {
                packets: 6,
                bytes: 400
            })
        );
        assert_eq!(
            end.to_consumer,
            Some(Volume {
                packets: 5,
                bytes: 9000
            })
        );
        assert_eq!(end.end_reason, Some(EndReason::Closed));
        assert_eq!(end.tcp_state.as_deref(), Some("TIME_WAIT"));
        let reason = |state, cut| {
            record(
                &ev(CtKind::Destroy, state, "192.168.0.4:8080"),
                "g",
                &owner(),
                5,
                cut,
            )
            .end_reason
        };
        assert_eq!(reason(Some(8), false), Some(EndReason::Reset));
        assert_eq!(reason(Some(3), false), Some(EndReason::Timeout));
        assert_eq!(reason(None, false), Some(EndReason::Timeout));
        assert_eq!(reason(Some(7), true), Some(EndReason::Cut));
        // Proxied: the backend is behind the proxy's own connection.
        let proxied = record(
            &ev(CtKind::New, Some(3), "198.19.128.3:1"),
            "g",
            &owner(),
            5,
            false,
        );
        assert_eq!((proxied.translated, proxied.backend), (None, None));
        // No timestamps: when it was read.
        let mut e = ev(CtKind::New, None, "192.168.0.4:8080");
        e.start_ns = None;
        assert_eq!(record(&e, "g", &owner(), 5, false).time_ns, 5);
    }

    #[test]
    fn files_rotate_by_size_and_numbering_survives_a_restart() {
        let dir = tempfile::tempdir().expect("dir");
        let cfg = FlowConfig {
            dir: dir.path().to_path_buf(),
            file_bytes: 2_000,
            files: 3,
        };
        let mut r = record(
            &ev(CtKind::New, Some(3), "192.168.0.4:8080"),
            "g",
            &owner(),
            5,
            false,
        );
        let mut sink = Sink::open(cfg.clone()).expect("open");
        for _ in 0..40 {
            sink.write(&mut r).expect("write");
        }
        sink.flush().expect("flush");
        drop(sink);
        let sizes: Vec<u64> = (0..4)
            .map(|i| std::fs::metadata(dir.path().join(rotated(i))).map_or(0, |m| m.len()))
            .collect();
        assert!(
            sizes[..3].iter().all(|s| *s > 0 && *s <= 2_000),
            "{sizes:?}"
        );
        assert_eq!(sizes[3], 0, "only three files are kept");
        assert_eq!(last_seq(&dir.path().join(FILE)), Some(40));
        let mut sink = Sink::open(cfg).expect("reopen");
        sink.write(&mut r).expect("write");
        assert_eq!(r.seq, 41);
    }
}
