//! Private DNS, following the same feed as the agent: every change, statuses included (an
//! endpoint's name appears when the agent has reported it `accepted`, i.e. when its path works,
//! and goes when it is rejected or deleted). Each change rebuilds the resolver's views and its
//! translated-source map (`plan::dns`), visible to the next query; no restart, no poll timer.
//!
//! Sockets: each VPC's resolver socket pair is opened inside its router namespace as soon as the
//! namespace exists (an inotify watch on `/run/netns` says when; a namespace not yet mounted is
//! tried again with a short back-off), and the DNS cloud service's inside its backend host.
//! Runs inside `vpcep serve` next to the agent, or alone as `vpcep dns`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use vpcep_core::model::EndpointStatus;
use vpcep_dns::{Record, Resolver, ResolverConfig, Views};

use super::{AgentError, Reconnect, Watch, fetch_changes, fetch_snapshot, stopped};
use crate::kernel::dns::open_listener;
use crate::kernel::linux::{list_namespaces, recover_legs};
use crate::kernel::watch::{NamespaceWatch, next_names};
use crate::plan::Legs;
use crate::plan::desired::Desired;
use crate::plan::dns::{DNS_PORT, DnsPlan, Listener, Name, dns_plan};
use crate::plan::naming::Namespaces;

#[derive(Debug, Clone)]
pub struct DnsConfig {
    /// Base URL of the control plane.
    pub control_url: String,
    /// The agent token (the feed is the agent's).
    pub token: String,
    pub names: Namespaces,
    /// Region of the hosts' names (`{host}.{vpc}.{region}.internal`).
    pub region: String,
    pub resolver: ResolverConfig,
}

pub struct DnsFollower {
    cfg: DnsConfig,
    http: reqwest::Client,
    resolver: Resolver,
    /// Listeners open now, by key.
    open: BTreeMap<String, Listener>,
    /// Listeners planned but not open yet (namespace missing or not mounted), by key.
    pending: BTreeMap<String, Listener>,
    /// The names the views hold now.
    served: BTreeSet<Name>,
    /// The gateway legs last read, and the subnets with live endpoints they were read for.
    legs: Legs,
    legs_for: Option<BTreeSet<String>>,
}

const WATCH_TIMEOUT: Duration = Duration::from_secs(25);
const RETRY_FIRST: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(2);

impl DnsFollower {
    /// Must be called inside the tokio runtime.
    pub fn new(cfg: DnsConfig) -> Result<Self, vpcep_dns::DnsError> {
        let resolver = Resolver::new(cfg.resolver.clone(), Views::new())?;
        Ok(Self {
            cfg,
            http: reqwest::Client::new(),
            resolver,
            open: BTreeMap::new(),
            pending: BTreeMap::new(),
            served: BTreeSet::new(),
            legs: Legs::default(),
            legs_for: None,
        })
    }

    /// The resolver (its views and maps), e.g. for tests.
    pub fn resolver(&self) -> &Resolver {
        &self.resolver
    }

    /// Follow the control plane until `stop` turns true.
    pub async fn run_until(mut self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut created = match NamespaceWatch::creations() {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch for new namespaces: resolver sockets open at the next change or retry");
                None
            }
        };
        let mut reconnect = Reconnect::default();
        while !*stop.borrow() {
            let ended = self.session(&mut stop, &mut created).await;
            reconnect.after("DNS", ended, &mut stop).await;
        }
        self.resolver.shutdown().await;
        tracing::info!("DNS stopped");
    }

    async fn session(
        &mut self,
        stop: &mut tokio::sync::watch::Receiver<bool>,
        created: &mut Option<NamespaceWatch>,
    ) -> Result<(), AgentError> {
        let snap = fetch_snapshot(&self.http, &self.cfg.control_url, &self.cfg.token).await?;
        let mut d = Desired::from_snapshot(&snap);
        self.refresh(&d).await;
        tracing::info!(revision = d.revision, "DNS in sync");
        let mut retry = RETRY_FIRST;
        loop {
            let timeout = if self.pending.is_empty() {
                WATCH_TIMEOUT
            } else {
                retry
            };
            let watched = tokio::select! {
                w = fetch_changes(&self.http, &self.cfg.control_url, &self.cfg.token, d.revision, timeout) => w?,
                _ = next_names(created) => {
                    self.open_pending().await;
                    continue;
                }
                _ = stopped(stop) => return Ok(()),
            };
            match watched {
                Watch::Resync => return Ok(()),
                Watch::Changes(c) if c.changes.is_empty() => {
                    d.revision = d.revision.max(c.revision);
                    if !self.pending.is_empty() {
                        self.open_pending().await;
                        retry = (retry * 2).min(RETRY_MAX);
                    }
                }
                Watch::Changes(c) => {
                    d.apply(&c.changes, c.revision);
                    self.refresh(&d).await;
                    retry = RETRY_FIRST;
                }
            }
        }
    }

    /// Make the resolver serve what `d` says.
    async fn refresh(&mut self, d: &Desired) {
        // Leg assignments as the gateways hold them (which translated source is which VPC).
        // They change only when a subnet gains its first live endpoint or loses its last, so
        // the gateways are read then, not at every change.
        let subnets: BTreeSet<String> = d
            .endpoints
            .values()
            .filter(|e| e.spec.status == EndpointStatus::Accepted)
            .map(|e| e.spec.subnet_id.clone())
            .collect();
        if self.legs_for.as_ref() != Some(&subnets) {
            self.legs = recover_legs(&self.cfg.names, d).await;
            self.legs_for = Some(subnets);
        }
        let plan = dns_plan(d, &self.cfg.names, &self.legs, &self.cfg.region);
        self.apply(plan).await;
    }

    async fn apply(&mut self, plan: DnsPlan) {
        // Only the difference reaches the views: a change costs its own names, not all of them.
        let names: BTreeSet<Name> = plan.names.into_iter().collect();
        let views = self.resolver.views();
        for gone in self.served.difference(&names) {
            let _ = views.remove_ip(&gone.vpc, &gone.name, gone.ip);
        }
        for n in names.difference(&self.served) {
            let record = Record {
                vpc: n.vpc.clone(),
                name: n.name.clone(),
                ip: n.ip,
            };
            if let Err(e) = views.upsert(record) {
                tracing::warn!(vpc = n.vpc, name = n.name, error = %e, "name not served");
            }
        }
        self.served = names;
        self.resolver.snat().replace_all(plan.snat);
        // Listeners gone or changed close; new ones open.
        let stale: Vec<String> = self
            .open
            .iter()
            .filter(|(k, l)| plan.listeners.get(*k) != Some(*l))
            .map(|(k, _)| k.clone())
            .collect();
        for key in stale {
            self.resolver.stop(&key).await;
            self.open.remove(&key);
        }
        self.pending = plan
            .listeners
            .into_iter()
            .filter(|(k, _)| !self.open.contains_key(k))
            .collect();
        self.open_pending().await;
    }

    /// Open what is pending whose namespace exists; the rest stays pending.
    async fn open_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let existing = list_namespaces().await.unwrap_or_default();
        let ready: Vec<(String, Listener)> = self
            .pending
            .iter()
            .filter(|(_, l)| existing.contains(&l.ns))
            .map(|(k, l)| (k.clone(), l.clone()))
            .collect();
        for (key, l) in ready {
            let (ns, addr) = (l.ns.clone(), l.addr);
            let opened =
                tokio::task::spawn_blocking(move || open_listener(&ns, addr, DNS_PORT)).await;
            match opened {
                Ok(Ok((udp, tcp))) => match self.resolver.serve_std(&key, &l.view, udp, tcp) {
                    Ok(()) => {
                        self.pending.remove(&key);
                        self.open.insert(key, l);
                    }
                    Err(e) => tracing::warn!(key, error = %e, "resolver sockets not served"),
                },
                // Most often the namespace is not mounted yet: tried again shortly.
                Ok(Err(e)) => tracing::debug!(key, error = %e, "resolver sockets not open yet"),
                Err(e) => tracing::warn!(key, error = %e, "resolver socket task failed"),
            }
        }
    }
}
