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
use crate::plan::desired::{Desired, EndpointSpec};
use crate::plan::dns::{DNS_PORT, DnsPlan, Listener, Name, dns_plan, endpoint_names, live_subnets};
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
    /// The gateway legs last read, and the subnets with live endpoints they were read for
    /// (how many each holds).
    legs: Legs,
    legs_for: Option<BTreeMap<String, usize>>,
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
    /// The control plane to follow (set once the server's address is known).
    pub fn with_control_url(mut self, url: String) -> Self {
        self.cfg.control_url = url;
        self
    }

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
                    let before = d.endpoints_before(&c.changes);
                    d.apply(&c.changes, c.revision);
                    let patched = before.is_some_and(|b| self.patch_endpoints(&d, &b));
                    if !patched {
                        self.refresh(&d).await;
                    }
                    retry = RETRY_FIRST;
                }
            }
        }
    }

    /// Make the resolver serve what `d` says.
    async fn refresh(&mut self, d: &Desired) {
        let started = std::time::Instant::now();
        // Leg assignments as the gateways hold them (which translated source is which VPC).
        // They change only when a subnet gains its first live endpoint or loses its last, so
        // the gateways are read then, not at every change.
        let live = live_subnets(d);
        let same_subnets = self
            .legs_for
            .as_ref()
            .is_some_and(|was| was.keys().eq(live.keys()));
        if !same_subnets {
            self.legs = recover_legs(&self.cfg.names, d).await;
        }
        self.legs_for = Some(live);
        let plan = dns_plan(d, &self.cfg.names, &self.legs, &self.cfg.region);
        self.apply(plan).await;
        tracing::debug!(
            revision = d.revision,
            legs_read = !same_subnets,
            took_us = started.elapsed().as_micros() as u64,
            "names planned whole"
        );
    }

    /// Endpoint-only changes (`before`: each changed endpoint's previous spec): only their names
    /// move, so accepting one endpoint costs the same with ten or ten thousand names present.
    /// `false` (nothing done) when a subnet gains its first live endpoint or loses its last: the
    /// gateway legs, and so the translated-source map, may have moved, and everything is redone.
    fn patch_endpoints(
        &mut self,
        d: &Desired,
        before: &BTreeMap<String, Option<EndpointSpec>>,
    ) -> bool {
        let Some(live) = self.legs_for.as_mut() else {
            return false;
        };
        let accepted = |e: &&EndpointSpec| e.status == EndpointStatus::Accepted;
        let mut delta: BTreeMap<&str, i64> = BTreeMap::new();
        for (id, old) in before {
            if let Some(e) = old.as_ref().filter(accepted) {
                *delta.entry(&*e.subnet_id).or_default() -= 1;
            }
            if let Some(e) = d.endpoints.get(id).map(|v| &v.spec).filter(accepted) {
                *delta.entry(&*e.subnet_id).or_default() += 1;
            }
        }
        let mut counts = Vec::with_capacity(delta.len());
        for (subnet, change) in delta {
            let now = live.get(subnet).copied().unwrap_or(0) as i64;
            let next = now + change;
            if (now == 0) != (next == 0) || next < 0 {
                return false;
            }
            counts.push((subnet.to_string(), next as usize));
        }
        for (subnet, n) in counts {
            if n == 0 {
                live.remove(&subnet);
            } else {
                live.insert(subnet, n);
            }
        }
        let (mut gone, mut added) = (BTreeSet::new(), BTreeSet::new());
        for (id, old) in before {
            let was: BTreeSet<Name> = old
                .as_ref()
                .map(|e| endpoint_names(d, e))
                .unwrap_or_default()
                .into_iter()
                .collect();
            let is: BTreeSet<Name> = d
                .endpoints
                .get(id)
                .map(|v| endpoint_names(d, &v.spec))
                .unwrap_or_default()
                .into_iter()
                .collect();
            gone.extend(was.difference(&is).cloned());
            added.extend(is.difference(&was).cloned());
        }
        self.change_names(gone, added);
        // Debug builds (every test) check the patch against planning from scratch.
        #[cfg(debug_assertions)]
        {
            let full = dns_plan(d, &self.cfg.names, &self.legs, &self.cfg.region);
            let names: BTreeSet<Name> = full.names.into_iter().collect();
            assert!(
                names == self.served && self.legs_for.as_ref() == Some(&live_subnets(d)),
                "patched names must equal the full plan's"
            );
        }
        true
    }

    /// Take `gone` out of the views and put `added` in. An endpoint's names hold its id, so no
    /// other object serves the same one.
    fn change_names(&mut self, gone: BTreeSet<Name>, added: BTreeSet<Name>) {
        let views = self.resolver.views();
        for n in &gone {
            let _ = views.remove_ip(&n.vpc, &n.name, n.ip);
            self.served.remove(n);
        }
        for n in added {
            let record = Record {
                vpc: n.vpc.clone(),
                name: n.name.clone(),
                ip: n.ip,
            };
            if let Err(e) = views.upsert(record) {
                tracing::warn!(vpc = n.vpc, name = n.name, error = %e, "name not served");
            }
            self.served.insert(n);
        }
    }

    async fn apply(&mut self, plan: DnsPlan) {
        // Only the difference reaches the views: a change costs its own names, not all of them.
        let names: BTreeSet<Name> = plan.names.into_iter().collect();
        let gone = self.served.difference(&names).cloned().collect();
        let added = names.difference(&self.served).cloned().collect();
        self.change_names(gone, added);
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
