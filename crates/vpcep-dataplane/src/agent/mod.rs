//! The agent: snapshot + watch of `/agent/v1`, plan, apply, report. Runs as `vpcep agent` or
//! inside `vpcep serve`.

pub mod deps;
pub mod dns;
pub mod flows;
pub mod metrics;
pub mod usage;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use vpcep_core::agent::{Changes, Failure, ObjectResult, Outcome, Reports, Snapshot};
use vpcep_core::model::{EndpointStatus, Kind, ServiceStatus};

use crate::kernel::KernelOps;
use crate::kernel::linux::{self, Kernel};
use crate::kernel::watch::{NETNS_DIR, NamespaceWatch, next_names};
use crate::plan::desired::{Desired, EndpointSpec, Versioned};
use crate::plan::naming::Namespaces;
use crate::plan::{self, Legs, LiveEndpoint};

#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Base URL of the control plane, e.g. `http://127.0.0.1:8480`.
    pub control_url: String,
    pub token: String,
    pub names: Namespaces,
    pub name: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("control plane: {0}")]
    Http(#[from] reqwest::Error),
    #[error("control plane answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("control plane sent JSON the agent cannot read: {0}")]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Kernel(#[from] linux::KernelError),
}

pub struct Agent<K: KernelOps = Kernel> {
    cfg: AgentConfig,
    http: reqwest::Client,
    kernel: K,
    legs: Legs,
    live: BTreeSet<LiveEndpoint>,
    /// The plan applied last (patched for endpoint-only changes).
    plan: Option<plan::Plan>,
    /// The revision of the desired state `plan` was made for.
    plan_revision: Option<u64>,
    /// The last outcome reported per object (generation, outcome), so each is sent once, and
    /// a change of outcome (failed after applied, applied again after failed) is sent too.
    reported: BTreeMap<(Kind, String), (u64, Outcome)>,
    /// Namespaces whose last programming failed, with the kernel's error: every object whose
    /// traffic passes through one is reported `failed` until it is programmed.
    failing: BTreeMap<String, String>,
    telemetry: metrics::Telemetry,
    /// Metering reports (periodic, and for endpoints about to be removed).
    usage: usage::Reporter,
    /// Flow records, when asked for ([`Agent::with_flows`]).
    flows: Option<flows::Flows>,
}

/// The first retry of a failed namespace comes this soon, doubling up to [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_millis(250);
const RETRY_MAX: Duration = Duration::from_secs(8);
/// How long a long-poll waits when nothing needs retrying.
const WATCH_TIMEOUT: Duration = Duration::from_secs(25);

/// A feed message of at least this many changes is a large batch: the desired state and the
/// plan are compacted after it ([`Desired::compact`], [`plan::Plan::compact`]) and the memory its
/// parsing freed is returned ([`release_freed_memory`]). One endpoint's change never is: that
/// step stays as cheap as it was.
const LARGE_BATCH: usize = 100;

/// Give the heap pages freed by a large feed message back to the kernel.
///
/// Why: a snapshot or a large batch of changes is parsed whole into `serde_json::Value`s (at
/// 10,000 endpoints the snapshot's 9 MB of JSON are ~50 MB of values) and dropped once the
/// typed state is built, but those small blocks sit among the typed state's long-lived ones,
/// so glibc cannot shrink its heap from the top and keeps the freed pages. Measured in P4 at
/// 10,060 endpoints (`malloc_stats`): 60 MB in use of 260 MB held, RSS 160 MB. `malloc_trim`
/// returns every free page (inside the heap too, by `MADV_DONTNEED`); it costs a walk of the
/// free lists, so it runs only after such a message, never on the one-endpoint path.
pub(crate) fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let started = std::time::Instant::now();
        #[allow(unsafe_code)]
        // SAFETY: malloc_trim only walks and trims glibc's own arenas (under their locks); it
        // takes no pointer and is safe to call from any thread at any time.
        let released = unsafe { libc::malloc_trim(0) };
        tracing::debug!(
            released = released != 0,
            took_us = started.elapsed().as_micros() as u64,
            "freed heap pages returned"
        );
    }
}

/// Allocations from this size up are mmapped by glibc (and unmapped when freed) instead of
/// carved from the heap.
const MMAP_THRESHOLD: i32 = 256 * 1024;

/// Make glibc give large buffers their own mappings for the agent process's whole life.
///
/// Why: glibc starts with a 128 KiB mmap threshold but raises it to the size of every mmapped
/// block freed, up to 32 MiB. After the agent's first large buffer (a snapshot's or a change
/// batch's body, 8–9 MB at 10,000 endpoints) every later one came from the heap, among
/// long-lived small blocks, and the heap could not shrink again: measured in P4 at 10,060
/// endpoints, a heap of 35.9 MB for ~25 MB in use, and an 8 MB body mapped beside it. A fixed
/// threshold turns that adjustment off (`mallopt(3)`). Measured in the same run shape: agent
/// RSS 53.6–58.6 → 47.2 MB, heap and stacks 41.5–46.3 → 35.3 MB at their highest. The cost
/// is an mmap and munmap per buffer of 256 KiB or more (netlink batches, feed bodies), none
/// of them on the one-endpoint path.
///
/// And one arena (`M_ARENA_MAX`): glibc gives threads that allocate at once arenas of their
/// own (up to eight per CPU), each keeping its freed memory; the agent's short-lived threads
/// (one per namespace entered, the layout's per-CPU share at a restart) left several arenas
/// each holding a few MB. Measured in P4 (10,060 endpoints; `MALLOC_ARENA_MAX=1` in the
/// agent's environment, same build and host): heap and stacks 38.7 → 35.8 MB at their highest.
/// The agent's threads spend their time in syscalls, not in malloc, so one lock costs nothing
/// measurable. Once per process.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            #[allow(unsafe_code)]
            // SAFETY: mallopt only sets a parameter of glibc's allocator (under its lock); it
            // takes no pointer and may be called from any thread at any time.
            let set = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) };
            if set != 1 {
                tracing::debug!("mallopt(M_MMAP_THRESHOLD) refused");
            }
            #[allow(unsafe_code)]
            // SAFETY: as above: a parameter, no pointer.
            let set = unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) };
            if set != 1 {
                tracing::debug!("mallopt(M_ARENA_MAX) refused");
            }
        });
    }
}

/// Put `previous`'s namespace plans in `new` where they are equal. Why: the kernel layer keeps
/// its record of an unchanged namespace (a clone of the plan that applied it, sharing its set
/// elements, `Arc`s), so a plan made from scratch held the unchanged namespaces' elements twice
/// once the previous plan was gone: measured in P4 at 10,060 endpoints, 6 MB more heap in use
/// after a full converge that planned the same state again. Full converges still plan again
/// after any change beyond endpoints (a VPC, a host, a security group). Equal values, so the
/// plan is the same; the kernel layer's own comparison then finds the same `Arc`s at once.
fn keep_unchanged(new: &mut plan::Plan, mut previous: plan::Plan) {
    for (ns, p) in new.namespaces.iter_mut() {
        if let Some(old) = previous.namespaces.remove(ns)
            && old == *p
        {
            *p = old;
        }
    }
}

/// What a long-poll of the feed brought.
pub enum Watch {
    Changes(Changes),
    /// The control plane no longer holds the changes after our revision: start from a snapshot.
    Resync,
}

impl Agent {
    /// An agent programming this machine's kernel.
    pub fn new(cfg: AgentConfig) -> Self {
        let kernel = Kernel::new(cfg.names.clone());
        Self::with_kernel(cfg, kernel)
    }
}

impl<K: KernelOps> Agent<K> {
    /// An agent over any kernel (tests use a fake one).
    pub fn with_kernel(cfg: AgentConfig, kernel: K) -> Self {
        tune_allocator();
        let http = reqwest::Client::new();
        let telemetry = metrics::Telemetry::default();
        let usage = usage::Reporter::new(&cfg, http.clone(), telemetry.clone());
        Self {
            cfg,
            http,
            kernel,
            legs: Legs::default(),
            live: BTreeSet::new(),
            plan: None,
            plan_revision: None,
            reported: BTreeMap::new(),
            failing: BTreeMap::new(),
            telemetry,
            usage,
            flows: None,
        }
    }

    /// Send metering reports every `every` instead of [`usage::USAGE_EVERY`] (tests).
    pub fn with_usage_every(mut self, every: Duration) -> Self {
        self.usage = self.usage.every(every);
        self
    }

    /// Record every connection through an endpoint of this machine's gateways
    /// (docs/flows.md); the writer starts now.
    pub fn with_flows(mut self, cfg: flows::FlowConfig) -> std::io::Result<Self> {
        self.flows = Some(flows::Flows::start(cfg)?);
        Ok(self)
    }

    /// The agent's metrics and readiness, for a `/metrics` endpoint (shared, cheap to clone).
    pub fn telemetry(&self) -> metrics::Telemetry {
        self.telemetry.clone()
    }

    async fn snapshot(&self) -> Result<Snapshot, AgentError> {
        fetch_snapshot(&self.http, &self.cfg.control_url, &self.cfg.token).await
    }

    async fn watch(&self, after: u64, timeout: Duration) -> Result<Watch, AgentError> {
        fetch_changes(
            &self.http,
            &self.cfg.control_url,
            &self.cfg.token,
            after,
            timeout,
        )
        .await
    }

    async fn report(&self, results: Vec<ObjectResult>) -> Result<(), AgentError> {
        if results.is_empty() {
            return Ok(());
        }
        let body = Reports {
            agent: self.cfg.name.clone(),
            results,
        };
        let resp = self
            .http
            .post(format!("{}/agent/v1/reports", self.cfg.control_url))
            .bearer_auth(&self.cfg.token)
            .json(&body)
            .send()
            .await?;
        if !resp.status().is_success() {
            return Err(AgentError::Status {
                status: resp.status().as_u16(),
                body: resp.text().await.unwrap_or_default(),
            });
        }
        Ok(())
    }

    /// Plan, apply, cut removed flows, report.
    ///
    /// `changed`: when only endpoints changed, each one's previous spec. The last plan is then
    /// patched for them alone and only their shards are programmed and reported on, so one
    /// endpoint costs the same with ten or ten thousand present. Otherwise everything is planned,
    /// compared and reported.
    async fn converge(
        &mut self,
        d: &Desired,
        changed: Option<&BTreeMap<String, Option<EndpointSpec>>>,
    ) -> Result<(), AgentError> {
        let started = std::time::Instant::now();
        let names = self.cfg.names.clone();
        // The last plan, when it is not patched: its unchanged namespaces are kept (see
        // `keep_unchanged`).
        let mut previous = None;
        let patched = match (changed, self.plan.take()) {
            (Some(before), Some(mut p)) => {
                match plan::patch_endpoints(&mut p, d, &names, &self.legs, before) {
                    Some(dirty) => Some((p, dirty)),
                    None => {
                        previous = Some(p);
                        None
                    }
                }
            }
            (_, p) => {
                previous = p;
                None
            }
        };
        // Debug builds (every test) check the patch against planning from scratch.
        #[cfg(debug_assertions)]
        if let Some((p, _)) = &patched {
            let mut legs = self.legs.clone();
            let full = plan::plan(d, &names, &mut legs);
            assert!(
                full == *p && legs == self.legs,
                "a patched plan must equal the full plan"
            );
        }
        // What this converge covers: the changed endpoints when patched (`plan::live_in`),
        // everything otherwise.
        let scope = patched.as_ref().and(changed);
        let (plan, dirty) = match patched {
            Some((p, dirty)) => (p, Some(dirty)),
            // Nothing changed since the last plan (a quiet feed's converge every 25 s, a retry):
            // planning is a pure function of the desired state and the legs, so the plan is
            // the same. Planned again, it cost a second plan's memory (13 MB at 10,000
            // endpoints) and ~0.1 s of CPU each time.
            None => match previous {
                Some(p) if changed.is_none() && self.plan_revision == Some(d.revision) => {
                    // Debug builds (every test) check that claim.
                    #[cfg(debug_assertions)]
                    {
                        let mut legs = self.legs.clone();
                        assert!(
                            plan::plan(d, &names, &mut legs) == p && legs == self.legs,
                            "an unchanged desired state must plan the same"
                        );
                    }
                    (p, None)
                }
                previous => {
                    let mut p = plan::plan(d, &names, &mut self.legs);
                    if let Some(previous) = previous {
                        keep_unchanged(&mut p, previous);
                    }
                    (p, None)
                }
            },
        };
        let planned = started.elapsed();
        // Flow records name connections by this plan from its first packet on.
        if let Some(f) = &mut self.flows {
            let ids: Option<Vec<&str>> = dirty
                .as_ref()
                .and(changed)
                .map(|c| c.keys().map(String::as_str).collect());
            f.follow(&plan, d, &names, ids.as_deref());
        }
        // Endpoints this apply removes (or moves: a new element is a new counter): their
        // counters go with their elements, so what they counted since the last metering report
        // is read first (their elements only) and sent in the background, retried with the
        // next reports until the control plane takes it.
        let leaving: BTreeSet<String> = plan::live_in(&self.live, scope)
            .filter(|l| !plan.live.contains(*l))
            .map(|l| l.id.to_string())
            .collect();
        // Where an apply's time goes, for the debug line below.
        let phase = std::time::Instant::now();
        if !leaving.is_empty() {
            self.usage.before_removal(&leaving).await;
        }
        let last_reading = phase.elapsed();
        let phase = std::time::Instant::now();
        let failed = match &dirty {
            Some(dirty) => self.kernel.apply_changed(&plan, dirty).await?,
            None => self.kernel.apply(&plan).await?,
        };
        let kernel = phase.elapsed();
        let phase = std::time::Instant::now();
        if let Some(f) = &mut self.flows {
            f.listen().await;
        }
        for (ns, why) in &failed {
            tracing::warn!(namespace = ns, error = why, "could not program namespace");
        }
        // PROXY-v2 listeners follow the applied plan (their addresses exist now).
        self.kernel.sync_proxies(&plan).await;
        let listeners = phase.elapsed();
        // What is failing now: a full apply knows every namespace; a patch only its shards.
        match &dirty {
            Some(dirty) => {
                self.failing.retain(|ns, _| !dirty.contains_key(ns));
                self.failing.extend(failed.clone());
            }
            None => self.failing = failed.clone(),
        }
        let failing = &self.failing;
        // The first failing namespace among those `namespaces()` names. Which namespaces an
        // object passes through costs a scan of the backends per endpoint: asked only while
        // some namespace fails.
        let failure_in = |namespaces: &dyn Fn() -> Vec<String>| {
            if failing.is_empty() {
                return None;
            }
            namespaces().into_iter().find_map(|ns| {
                failing.get(&ns).map(|why| Failure::Namespace {
                    namespace: ns.clone(),
                    detail: why.clone(),
                })
            })
        };
        let gw_failed = |shard: u32| failed.get(&self.cfg.names.gateway(shard)).cloned();
        // Endpoints that stopped carrying traffic lose their established flows too.
        let gone: Vec<LiveEndpoint> = plan::live_in(&self.live, scope)
            .filter(|l| !plan.live.contains(*l))
            .cloned()
            .collect();
        let phase = std::time::Instant::now();
        for gone in &gone {
            if let (Some(f), Ok(ip)) = (&self.flows, gone.ip.parse()) {
                f.cutting(&self.cfg.names.gateway(gone.shard), gone.zone, ip);
            }
            self.kernel
                .cut_flows(&self.cfg.names.gateway(gone.shard), gone.zone, &gone.ip)
                .await;
            // Lab hosts in that subnet: close their sockets to the endpoint now, as the reset a
            // real endpoint sends would (an idle connection sends nothing the gateway could
            // answer with a reset).
            for (srv_id, srv) in &d.servers {
                let in_subnet = srv.spec.nics.iter().any(|p| {
                    d.ports
                        .get(p)
                        .is_some_and(|p| *p.spec.subnet_id == *gone.subnet)
                });
                if in_subnet {
                    self.kernel
                        .kill_sockets(&self.cfg.names.server(srv_id), &gone.ip)
                        .await;
                }
            }
        }
        let cut = phase.elapsed();
        // Outside the scope the plan's live set is what it was (a patch changes only its ids).
        if failed.is_empty() && scope.is_none() {
            // A clone keeps the plan's compact shape; emptied and refilled in order, the set's
            // nodes were half empty after every full converge (one every 25 s on a quiet feed).
            self.live = plan.live.clone();
        } else if failed.is_empty() {
            let before: Vec<LiveEndpoint> = plan::live_in(&self.live, scope).cloned().collect();
            for l in &before {
                self.live.remove(l);
            }
            self.live.extend(plan::live_in(&plan.live, scope).cloned());
        } else if !plan.live.iter().any(|l| gw_failed(l.shard).is_some()) {
            self.live = plan.live.clone();
        }
        let live: BTreeMap<&str, &LiveEndpoint> = plan::live_in(&plan.live, scope)
            .map(|l| (&*l.id, l))
            .collect();
        let mut results = Vec::new();
        let mut sent = Vec::new();
        let reported = &self.reported;
        let mut push =
            |kind: Kind, id: &str, generation: u64, outcome: Outcome, failure: Option<Failure>| {
                let key = (kind, id.to_string());
                if reported.get(&key) != Some(&(generation, outcome)) {
                    sent.push((key, (generation, outcome)));
                    results.push(ObjectResult {
                        kind,
                        id: id.to_string(),
                        generation,
                        outcome,
                        failure,
                        error_code: None,
                        error_message: None,
                    });
                }
            };
        let names = &self.cfg.names;
        let services = d.services.iter().filter(|_| scope.is_none());
        for (id, s) in services {
            match s.spec.status {
                ServiceStatus::Creating | ServiceStatus::Available | ServiceStatus::Failed => {
                    let problem = plan.problems.get(id).cloned().or_else(|| {
                        failure_in(&|| crate::agent::deps::service_namespaces(d, names, &s.spec))
                    });
                    let router = names.router(&s.spec.vpc_id);
                    match problem {
                        Some(p) => push(
                            Kind::EndpointService,
                            id,
                            s.generation,
                            Outcome::Failed,
                            Some(p),
                        ),
                        // Creating → available, and failed → available once the cause is gone.
                        None if s.spec.status != ServiceStatus::Available
                            && plan.namespaces.contains_key(&router) =>
                        {
                            push(
                                Kind::EndpointService,
                                id,
                                s.generation,
                                Outcome::Applied,
                                None,
                            )
                        }
                        None => {}
                    }
                }
                ServiceStatus::Deleting => push(
                    Kind::EndpointService,
                    id,
                    s.generation,
                    Outcome::Removed,
                    None,
                ),
            }
        }
        // Lab hosts: ACTIVE once their namespace is programmed, ERROR while it (or the router
        // they hang off) fails.
        if scope.is_none() {
            use vpcep_core::inventory::host_status::ACTIVE;
            let hosts = d
                .servers
                .iter()
                .map(|(id, h)| {
                    let ns = names.server(id);
                    (
                        Kind::Server,
                        id,
                        h.generation,
                        &h.spec.status,
                        ns,
                        &h.spec.vpc_id,
                    )
                })
                .chain(d.lbs.iter().map(|(id, h)| {
                    let ns = names.lb(id);
                    (
                        Kind::Loadbalancer,
                        id,
                        h.generation,
                        &h.spec.status,
                        ns,
                        &h.spec.vpc_id,
                    )
                }))
                .chain(d.sites.iter().map(|(id, h)| {
                    let ns = names.site(id);
                    (
                        Kind::Site,
                        id,
                        h.generation,
                        &h.spec.status,
                        ns,
                        &h.spec.vpc_id,
                    )
                }));
            for (kind, id, generation, status, ns, vpc) in hosts {
                match failure_in(&|| vec![ns.clone(), names.router(vpc)]) {
                    Some(p) => push(kind, id, generation, Outcome::Failed, Some(p)),
                    None if status != ACTIVE && plan.namespaces.contains_key(&ns) => {
                        push(kind, id, generation, Outcome::Applied, None)
                    }
                    None => {}
                }
            }
        }
        let endpoints: Box<dyn Iterator<Item = (&String, &Versioned<EndpointSpec>)>> = match scope {
            Some(ids) => Box::new(ids.keys().filter_map(|id| d.endpoints.get_key_value(id))),
            None => Box::new(d.endpoints.iter()),
        };
        for (id, e) in endpoints {
            match e.spec.status {
                EndpointStatus::Creating | EndpointStatus::Accepted | EndpointStatus::Failed => {
                    let problem = plan.problems.get(id).cloned().or_else(|| {
                        failure_in(&|| {
                            crate::agent::deps::endpoint_namespaces(d, names, &self.legs, &e.spec)
                        })
                    });
                    match problem {
                        Some(p) => {
                            push(Kind::Endpoint, id, e.generation, Outcome::Failed, Some(p));
                        }
                        // Creating → accepted, and failed → accepted once the path is programmed.
                        None if e.spec.status != EndpointStatus::Accepted
                            && live.contains_key(id.as_str()) =>
                        {
                            push(Kind::Endpoint, id, e.generation, Outcome::Applied, None);
                        }
                        None => {}
                    }
                }
                EndpointStatus::Deleting if !live.contains_key(id.as_str()) => {
                    push(Kind::Endpoint, id, e.generation, Outcome::Removed, None);
                }
                _ => {}
            }
        }
        tracing::debug!(
            plan_us = planned.as_micros() as u64,
            apply_us = (started.elapsed() - planned).as_micros() as u64,
            patched = scope.is_some(),
            by_elements = self.kernel.last().by_elements,
            by_layout = self.kernel.last().by_layout,
            netlink_us = self.kernel.last().element_time.as_micros() as u64,
            layout_phases_us = ?self
                .kernel
                .last()
                .layout_phases
                .map(|p| p.as_micros() as u64),
            fast_path_us = self.kernel.last().fast_path.as_micros() as u64,
            last_reading_us = last_reading.as_micros() as u64,
            kernel_us = kernel.as_micros() as u64,
            cut_us = cut.as_micros() as u64,
            listeners_us = listeners.as_micros() as u64,
            "converged"
        );
        // The report first: statuses (and the private names that follow `accepted`) wait for
        // it, not for the bookkeeping below (0.3-0.7 ms at 10,000 endpoints).
        let took = started.elapsed();
        let phase = std::time::Instant::now();
        let reports = results.len();
        let reported = self.report(results).await;
        let report = phase.elapsed();
        let phase = std::time::Instant::now();
        self.telemetry.converged(
            took,
            scope,
            (failed.len(), self.failing.len()),
            &plan,
            d,
            &self.cfg.names,
        );
        let telemetry = phase.elapsed();
        self.plan = Some(plan);
        self.plan_revision = Some(d.revision);
        // Remember what was sent only once the control plane has it: a lost report is resent.
        reported?;
        tracing::debug!(
            telemetry_us = telemetry.as_micros() as u64,
            report_us = report.as_micros() as u64,
            reports,
            "reported"
        );
        self.reported.extend(sent);
        // Counted by value first and named once per group: this runs after every converge,
        // over every object reported (10,000 endpoints), on the path of the next change.
        let mut counts: Vec<((Kind, Outcome), usize)> = Vec::new();
        for ((kind, _), (_, outcome)) in &self.reported {
            match counts.iter_mut().find(|(k, _)| *k == (*kind, *outcome)) {
                Some((_, n)) => *n += 1,
                None => counts.push(((*kind, *outcome), 1)),
            }
        }
        let name = |d: String| d.to_lowercase();
        let by: BTreeMap<(String, String), usize> = counts
            .into_iter()
            .map(|((kind, outcome), n)| {
                ((name(format!("{kind:?}")), name(format!("{outcome:?}"))), n)
            })
            .collect();
        self.telemetry.outcomes(by);
        Ok(())
    }

    /// Follow the control plane forever (reconnecting with backoff).
    pub async fn run(self) {
        let (_keep, stop) = tokio::sync::watch::channel(false);
        self.run_until(stop).await;
    }

    /// Follow the control plane until `stop` turns true. Stopping never interrupts a converge
    /// (a namespace is never left half-applied by a stop): it cancels only the long-poll and
    /// the back-off wait, so the agent ends within one converge of the request.
    pub async fn run_until(mut self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut netns = match NamespaceWatch::new() {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch {NETNS_DIR}: a namespace removed behind the agent's back is repaired only at its next change");
                None
            }
        };
        let mut reconnect = Reconnect::default();
        // Metering reports run beside the feed and end with it (also when the task is aborted).
        let reporting = self.usage.clone().run_until(stop.clone());
        let following = async {
            while !*stop.borrow() {
                let ended = self.session(&mut stop, &mut netns).await;
                reconnect.after("agent", ended, &mut stop).await;
            }
        };
        tokio::join!(following, reporting);
        tracing::info!("agent stopped");
    }

    /// One list + watch session; returns Ok when the control plane asks for a resync or `stop`
    /// turned true.
    pub async fn session(
        &mut self,
        stop: &mut tokio::sync::watch::Receiver<bool>,
        netns: &mut Option<NamespaceWatch>,
    ) -> Result<(), AgentError> {
        let snap = self.snapshot().await?;
        let mut d = Desired::from_snapshot(&snap);
        // The snapshot's JSON (every object as a `serde_json::Value`, several times the typed
        // state's size) is not needed past this point: a session lasts as long as the feed
        // does, so it must not live in this frame.
        drop(snap);
        self.reported.clear();
        self.kernel.invalidate();
        // Leg assignments (shard, zone, provider table) come back from the gateways' maps and
        // routes, so established flows keep their zone and SNAT address across a restart.
        let recovered = self.kernel.recover_legs(&self.cfg.names, &d).await;
        self.legs.zones.extend(recovered.zones);
        self.legs.providers.extend(recovered.providers);
        self.plan = None;
        self.converge(&d, None).await?;
        release_freed_memory();
        tracing::info!(revision = d.revision, "agent in sync");
        let mut retry = RETRY_FIRST;
        loop {
            // While a namespace fails, the long-poll is short: its end is the next retry (with
            // back-off), so a cause that goes away (or is repaired) shows within the retry delay.
            let retrying = !self.failing.is_empty();
            let timeout = if retrying { retry } else { WATCH_TIMEOUT };
            let watched = tokio::select! {
                w = self.watch(d.revision, timeout) => w?,
                gone = next_names(netns) => {
                    // Only namespaces the applied plan has: the agent's own removals are of
                    // namespaces its new plan no longer holds.
                    let ours: Vec<String> = gone
                        .into_iter()
                        .filter(|n| self.plan.as_ref().is_some_and(|p| p.namespaces.contains_key(n)))
                        .collect();
                    if !ours.is_empty() {
                        tracing::warn!(namespaces = ?ours, "namespaces removed behind the agent's back; rebuilding");
                        // Their veth peers go with them, but only once the kernel lets go of
                        // the namespace: delete them now, then re-check everything, as after a
                        // restart.
                        if let Some(old) = self.plan.take() {
                            self.kernel.release_gone(&ours, &old).await;
                        }
                        self.kernel.invalidate();
                        self.converge(&d, None).await?;
                    }
                    continue;
                }
                _ = stopped(stop) => return Ok(()),
            };
            match watched {
                Watch::Resync => return Ok(()),
                Watch::Changes(c) => {
                    // What `d` is at its revision now is what it was when planned (nothing, or
                    // only settling statuses the plan does not read, `only_settles`): the plan
                    // stays the plan of `d`, so the next full converge need not plan again.
                    let planned_now = self.plan_revision == Some(d.revision);
                    if c.changes.is_empty() {
                        d.revision = d.revision.max(c.revision);
                        if planned_now {
                            self.plan_revision = Some(d.revision);
                        }
                        if retrying {
                            retry = (retry * 2).min(RETRY_MAX);
                        } else {
                            // Quiet period: resend anything still waiting for a status change,
                            // in case the control plane did not take an earlier report.
                            self.reported.clear();
                        }
                        self.converge(&d, None).await?;
                        if self.failing.is_empty() {
                            retry = RETRY_FIRST;
                        }
                        continue;
                    }
                    if d.only_settles(&c.changes) {
                        d.apply(&c.changes, c.revision);
                        if planned_now {
                            self.plan_revision = Some(d.revision);
                        }
                        // Statuses change in place (nothing to compact), but a large batch
                        // (10,000 endpoints accepted at once) was parsed whole all the same.
                        if c.changes.len() >= LARGE_BATCH {
                            drop(c);
                            release_freed_memory();
                        }
                        continue;
                    }
                    let before = d.endpoints_before(&c.changes);
                    d.apply(&c.changes, c.revision);
                    let large = c.changes.len() >= LARGE_BATCH;
                    drop(c);
                    if large {
                        d.compact();
                    }
                    self.converge(&d, before.as_ref()).await?;
                    if large {
                        if let Some(p) = &mut self.plan {
                            p.compact();
                        }
                        release_freed_memory();
                    }
                }
            }
        }
    }
}

/// Every object the data plane needs, at one revision (`/agent/v1/snapshot`, with the agent
/// token): what the agent starts from, and what `doctor` plans from.
pub async fn fetch_snapshot(
    http: &reqwest::Client,
    control_url: &str,
    token: &str,
) -> Result<Snapshot, AgentError> {
    let resp = http
        .get(format!(
            "{}/agent/v1/snapshot",
            control_url.trim_end_matches('/')
        ))
        .bearer_auth(token)
        .send()
        .await?;
    if !resp.status().is_success() {
        return Err(AgentError::Status {
            status: resp.status().as_u16(),
            body: resp.text().await.unwrap_or_default(),
        });
    }
    json_body(resp).await
}

/// A response's JSON body, read chunk by chunk into one buffer and parsed from it.
///
/// Why not `Response::json`: it keeps every chunk of the body until the last has come, then
/// copies them into one buffer, so a large body is held twice. At 10,000 endpoints a snapshot,
/// or the feed message echoing the agent's own report on all of them, is ~9 MB: measured with
/// heaptrack in P4, 10.0 MB of chunks and the 9.3 MB copy alive at once at the agent's peak.
/// Here each chunk is dropped once appended (the buffer is sized from `Content-Length`).
async fn json_body<T: serde::de::DeserializeOwned>(
    mut resp: reqwest::Response,
) -> Result<T, AgentError> {
    let expected = resp.content_length().unwrap_or(0);
    let mut body = Vec::with_capacity(usize::try_from(expected).unwrap_or(0).min(BODY_HINT_MAX));
    while let Some(chunk) = resp.chunk().await? {
        body.extend_from_slice(&chunk);
    }
    Ok(serde_json::from_slice(&body)?)
}

/// The largest `Content-Length` taken as a buffer size up front (larger bodies grow it).
const BODY_HINT_MAX: usize = 64 * 1024 * 1024;

/// The changes after revision `after` (`/agent/v1/changes`, a long-poll of at most `timeout`).
pub async fn fetch_changes(
    http: &reqwest::Client,
    control_url: &str,
    token: &str,
    after: u64,
    timeout: Duration,
) -> Result<Watch, AgentError> {
    let resp = http
        .get(format!(
            "{}/agent/v1/changes?after={after}&timeout_ms={}",
            control_url.trim_end_matches('/'),
            timeout.as_millis()
        ))
        .bearer_auth(token)
        .send()
        .await?;
    match resp.status().as_u16() {
        200 => Ok(Watch::Changes(json_body(resp).await?)),
        410 => Ok(Watch::Resync),
        status => Err(AgentError::Status {
            status,
            body: resp.text().await.unwrap_or_default(),
        }),
    }
}

/// The wait between feed sessions: a session that ends in an error is started again after a
/// back-off (200 ms doubling to 5 s, cut short by `stop`); one that ended well resets it.
pub(crate) struct Reconnect {
    backoff: Duration,
}

impl Default for Reconnect {
    fn default() -> Self {
        Self {
            backoff: Duration::from_millis(200),
        }
    }
}

impl Reconnect {
    pub(crate) async fn after(
        &mut self,
        what: &str,
        ended: Result<(), AgentError>,
        stop: &mut tokio::sync::watch::Receiver<bool>,
    ) {
        match ended {
            Ok(()) => *self = Self::default(),
            Err(e) => {
                tracing::warn!(error = %e, "{what} session ended; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(self.backoff) => {}
                    _ = stopped(stop) => {}
                }
                self.backoff = (self.backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Resolves once `stop` is true; never, if its sender is gone without asking to stop.
pub(crate) async fn stopped(stop: &mut tokio::sync::watch::Receiver<bool>) {
    if stop.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}
