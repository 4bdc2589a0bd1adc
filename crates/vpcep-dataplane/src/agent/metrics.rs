//! What the agent tells Prometheus (through the `metrics` facade; the binary installs the
//! exporter and serves `/metrics`): converge latency, kernel failures, objects by reported
//! outcome, readiness, and per-endpoint and per-service traffic counted in the kernel.
//!
//! Traffic is read when scraped ([`Telemetry::refresh`]): one element dump per counted set and
//! one conntrack dump per gateway shard, so a scrape sees every packet counted up to that dump.
//! Names follow Huawei Cloud Eye's `vpcep_*` metrics; rx/tx are from the endpoint's point of
//! view (rx: consumer → endpoint, tx: endpoint → consumer). See docs/metrics.md.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::kernel::netlink::counters;
use crate::plan::desired::{Desired, EndpointSpec};
use crate::plan::naming::Namespaces;
use crate::plan::nft::{Count, NftSet, NftTable, Val, key_bytes};
use crate::plan::{EP_DROP, EP_NEW, EP_RX, EP_TX, Plan};

/// One endpoint whose traffic is counted: where, and the labels it is exported with.
///
/// Its strings are shared (`Arc<str>`: the plan's endpoint id, the desired state's service and
/// project ids, the rest interned in [`State::strings`]): 10,000 endpoints name a
/// few gateways, services and projects, and each endpoint is held in several maps (live, last
/// totals, metering), so one copy of each name instead of one per endpoint and map.
#[derive(Debug, Clone)]
struct Accounted {
    ns: Arc<str>,
    shard: u32,
    zone: u16,
    ip: Ipv4Addr,
    /// The element's key; shared with metering's record of it ([`State::keys`]).
    key: Arc<[u8]>,
    endpoint_id: Arc<str>,
    service_id: Arc<str>,
    /// The consumer's project (the endpoint's owner).
    project_id: Arc<str>,
    /// The provider's project (the service's owner).
    service_project_id: Arc<str>,
}

#[derive(Default)]
struct State {
    /// Gateway namespace → its table's skeleton (sets without elements: what to dump).
    gateways: BTreeMap<String, NftTable>,
    /// Live endpoints by id.
    endpoints: BTreeMap<Arc<str>, Accounted>,
    /// Per-service totals of endpoints no longer live (kept so a service's counters do not
    /// drop when one of its endpoints goes away), by service id.
    retired: BTreeMap<String, Totals>,
    /// Last totals per live endpoint id (moved to `retired` when it leaves).
    last: BTreeMap<Arc<str>, (Accounted, Totals)>,
    /// Metering: which endpoint last used each counted element (namespace, key), and from what
    /// reading its counters are its own (see [`KeyUse`]).
    keys: BTreeMap<(Arc<str>, Arc<[u8]>), KeyUse>,
    /// The names the maps above share (see [`Accounted`]); pruned when endpoints leave.
    strings: std::collections::BTreeSet<Arc<str>>,
    /// Endpoints that left since `strings` was last pruned.
    unpruned: usize,
}

impl State {
    /// The shared copy of `s`.
    fn intern(&mut self, s: &str) -> Arc<str> {
        if let Some(known) = self.strings.get(s) {
            return known.clone();
        }
        let new: Arc<str> = Arc::from(s);
        self.strings.insert(new.clone());
        new
    }
}

/// One counted element as metering sees it. An element's counters start from the namespace's
/// last reading of its key (`counters::cache`), which is the endpoint's own history when the
/// same endpoint comes back — but another endpoint's when its address and leg are handed to a
/// new endpoint. The new owner's counters are then taken from the old owner's last reading.
#[derive(Debug, Clone, PartialEq, Eq)]
struct KeyUse {
    owner: Arc<str>,
    /// The (rx, tx) reading the owner's traffic starts from.
    base: (Count, Count),
    /// The last (rx, tx) reading of the element.
    last: (Count, Count),
}

/// The owner's share of a reading of element `at` (see [`KeyUse`]), remembering the reading.
fn own_share(
    keys: &mut BTreeMap<(Arc<str>, Arc<[u8]>), KeyUse>,
    at: (Arc<str>, Arc<[u8]>),
    owner: &Arc<str>,
    read: (Count, Count),
) -> (Count, Count) {
    let use_ = keys.entry(at).or_insert_with(|| KeyUse {
        owner: owner.clone(),
        base: (Count::default(), Count::default()),
        last: read,
    });
    if use_.owner != *owner {
        *use_ = KeyUse {
            owner: owner.clone(),
            base: use_.last,
            last: read,
        };
    }
    use_.last = read;
    let minus = |a: Count, b: Count| Count {
        packets: a.packets.saturating_sub(b.packets),
        bytes: a.bytes.saturating_sub(b.bytes),
    };
    (minus(read.0, use_.base.0), minus(read.1, use_.base.1))
}

/// What one endpoint (or service) carried.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub rx: Count,
    pub tx: Count,
    pub new: u64,
    pub dropped: u64,
    pub established: u64,
}

impl Totals {
    fn add(&mut self, o: &Totals) {
        self.rx.packets += o.rx.packets;
        self.rx.bytes += o.rx.bytes;
        self.tx.packets += o.tx.packets;
        self.tx.bytes += o.tx.bytes;
        self.new += o.new;
        self.dropped += o.dropped;
        self.established += o.established;
    }
}

/// The agent's telemetry: cheap to clone, shared with the `/metrics` handler.
#[derive(Clone, Default)]
pub struct Telemetry {
    state: Arc<Mutex<State>>,
    ready: Arc<AtomicBool>,
}

const HISTOGRAM: &str = "vpcep_agent_converge_seconds";

impl Telemetry {
    /// Whether the last converge programmed every namespace (the agent's `/ready`).
    pub fn ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// After a converge: its latency, the namespaces it failed to program and those failing
    /// now, and which endpoints are counted where.
    pub(crate) fn converged(
        &self,
        took: Duration,
        scope: Option<&BTreeMap<String, Option<EndpointSpec>>>,
        (failed, failing): (usize, usize),
        plan: &Plan,
        d: &Desired,
        names: &Namespaces,
    ) {
        let kind = if scope.is_some() { "patch" } else { "full" };
        metrics::histogram!(HISTOGRAM, "kind" => kind).record(took.as_secs_f64());
        metrics::counter!("vpcep_agent_converges_total", "kind" => kind).increment(1);
        if failed > 0 {
            metrics::counter!("vpcep_agent_kernel_failures_total").increment(failed as u64);
        }
        metrics::gauge!("vpcep_agent_failing_namespaces").set(failing as f64);
        self.ready.store(failing == 0, Ordering::Relaxed);
        let mut st = self.state();
        // Gateways: their counted sets' declarations (no elements copied).
        st.gateways.clear();
        for (ns, p) in &plan.namespaces {
            let Some(t) = p.nft.as_ref() else { continue };
            let mut skeleton = NftTable::new(t.family, t.name);
            for (name, set) in t.sets.iter().filter(|(_, s)| s.counter) {
                skeleton
                    .sets
                    .insert(name, NftSet::set(set.key.clone()).counter());
            }
            if !skeleton.sets.is_empty() {
                st.gateways.insert(ns.clone(), skeleton);
            }
        }
        // Endpoints: updated in place, so a converge of one endpoint among 10,000 copies
        // nothing but that endpoint; a patch looks at its own endpoints only (checking all
        // 10,000 took milliseconds on the path of every change).
        for l in crate::plan::live_in(&plan.live, scope) {
            let same = st.endpoints.get(&*l.id).is_some_and(|a| {
                a.zone == l.zone && a.shard == l.shard && l.ip.parse().ok() == Some(a.ip)
            });
            if same {
                continue;
            }
            let (Some(e), Ok(ip)) = (d.endpoints.get(&*l.id), l.ip.parse::<Ipv4Addr>()) else {
                continue;
            };
            let Ok(key) = key_bytes(&[Val::Zone(l.zone), Val::Ip(ip)]) else {
                continue;
            };
            let service_project_id = d
                .services
                .get(&*e.spec.service_id)
                .map(|s| s.spec.project_id.as_str())
                .unwrap_or_default();
            let st = &mut *st;
            let a = Accounted {
                ns: st.intern(&names.gateway(l.shard)),
                shard: l.shard,
                zone: l.zone,
                ip,
                key: key.into(),
                // The plan's and the desired state's own strings (shared, not copied).
                endpoint_id: l.id.clone(),
                service_id: e.spec.service_id.clone(),
                project_id: e.spec.project_id.clone(),
                service_project_id: st.intern(service_project_id),
            };
            st.endpoints.insert(a.endpoint_id.clone(), a);
        }
        // Endpoints no longer live: a patch's own that left, or (a full converge) any.
        let live: std::collections::BTreeSet<&str> = crate::plan::live_in(&plan.live, scope)
            .map(|l| &*l.id)
            .collect();
        let mut left: Vec<Arc<str>> = Vec::new();
        match scope {
            Some(ids) => {
                for id in ids.keys().filter(|id| !live.contains(id.as_str())) {
                    if let Some((id, _)) = st.endpoints.remove_entry(id.as_str()) {
                        left.push(id);
                    }
                }
            }
            None => st.endpoints.retain(|id, _| {
                let keep = live.contains(&**id);
                if !keep {
                    left.push(id.clone());
                }
                keep
            }),
        }
        // A reading that raced a removal may hold an endpoint no longer live: look for those
        // only when the counts say so (checking all 10,000 took milliseconds per change).
        if st.last.len() > st.endpoints.len() + left.len() {
            left.extend(
                st.last
                    .keys()
                    .filter(|id| !st.endpoints.contains_key(&***id))
                    .cloned(),
            );
        }
        // Endpoints that left: their last totals stay in their service's.
        st.unpruned += left.len();
        for id in left {
            if let Some((a, t)) = st.last.remove(&id) {
                st.retired
                    .entry(a.service_id.to_string())
                    .or_default()
                    .add(&t);
                // Nothing is established through an endpoint that is gone.
                metrics::gauge!("vpcep_act_connections", labels(&a)).set(0.0);
            }
        }
        // Names no map holds any more (the pool's own reference is the last), pruned once
        // enough have gone that the walk over all of them pays for itself.
        if st.unpruned > 0 && st.unpruned * 64 >= st.strings.len() {
            st.strings.retain(|s| Arc::strong_count(s) > 1);
            st.unpruned = 0;
        }
    }

    /// Objects by the outcome last reported for them.
    pub(crate) fn outcomes(&self, by: BTreeMap<(String, String), usize>) {
        for ((kind, outcome), n) in by {
            metrics::gauge!("vpcep_agent_objects", "kind" => kind, "outcome" => outcome)
                .set(n as f64);
        }
    }

    /// Read the kernel's counters and conntrack tables of every gateway and export them. A
    /// namespace that cannot be read keeps its last values (and is logged).
    pub async fn refresh(&self) {
        let (gateways, endpoints) = {
            let st = self.state();
            (
                st.gateways.clone(),
                st.endpoints.values().cloned().collect::<Vec<_>>(),
            )
        };
        let mut established: BTreeMap<String, BTreeMap<(u16, Ipv4Addr), u64>> = BTreeMap::new();
        for (ns, table) in &gateways {
            // Into the namespace's kept readings; a gateway that cannot be read keeps its last.
            if let Err(e) = counters::read_table(ns, table).await {
                tracing::warn!(namespace = ns, error = %e, "cannot read traffic counters");
            }
            match counters::established(ns).await {
                Ok(c) => {
                    established.insert(ns.clone(), c);
                }
                Err(e) => tracing::warn!(namespace = ns, error = %e, "cannot read conntrack"),
            }
        }
        // Every endpoint's totals, looked up in the kept readings under their lock (no await).
        let totals: Vec<Totals> = {
            let readings = counters::cache();
            let get = |ns: &str, set: &str, key: &[u8]| -> Count {
                readings
                    .get(ns)
                    .and_then(|s| s.get(set))
                    .and_then(|s| s.get(key))
                    .copied()
                    .unwrap_or_default()
            };
            endpoints
                .iter()
                .map(|a| Totals {
                    rx: get(&a.ns, EP_RX, &a.key),
                    tx: get(&a.ns, EP_TX, &a.key),
                    new: get(&a.ns, EP_NEW, &a.key).packets,
                    dropped: get(&a.ns, EP_DROP, &a.key).packets,
                    established: established
                        .get(&*a.ns)
                        .and_then(|c| c.get(&(a.zone, a.ip)))
                        .copied()
                        .unwrap_or(0),
                })
                .collect()
        };
        let mut per_service: BTreeMap<(Arc<str>, Arc<str>), Totals> = BTreeMap::new();
        let mut last = BTreeMap::new();
        for (a, t) in endpoints.iter().zip(totals) {
            export("vpcep_", labels(a), &t);
            per_service
                .entry((a.service_id.clone(), a.service_project_id.clone()))
                .or_default()
                .add(&t);
            last.insert(a.endpoint_id.clone(), (a.clone(), t));
        }
        let mut st = self.state();
        for ((svc, project), mut t) in per_service {
            if let Some(r) = st.retired.get(&*svc) {
                let established = t.established;
                t.add(r);
                t.established = established;
            }
            let labels = vec![
                metrics::Label::new("service_id", svc.to_string()),
                metrics::Label::new("project_id", project.to_string()),
            ];
            export("vpcep_eps_", labels, &t);
        }
        st.last.extend(last);
    }
}

/// One endpoint's metering reading ([`Telemetry::readings`]): what an [`EndpointCounter`]
/// says, with the names shared with the telemetry's (`Arc<str>`). Why: every 15 s all
/// endpoints are read and most are unchanged; as `EndpointCounter`s a reading of 10,000 was
/// 40,000 strings allocated only to be compared and dropped, among the agent's long-lived
/// allocations. Only what is sent becomes an `EndpointCounter` ([`Reading::counter`]).
///
/// [`EndpointCounter`]: vpcep_core::agent::EndpointCounter
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    pub endpoint_id: Arc<str>,
    pub project_id: Arc<str>,
    pub service_id: Arc<str>,
    pub namespace: Arc<str>,
    pub rx: vpcep_core::metering::Traffic,
    pub tx: vpcep_core::metering::Traffic,
    pub connections: u64,
    pub read_ms: i64,
}

impl Reading {
    /// The reading as the control plane takes it.
    pub fn counter(&self) -> vpcep_core::agent::EndpointCounter {
        vpcep_core::agent::EndpointCounter {
            endpoint_id: self.endpoint_id.to_string(),
            project_id: self.project_id.to_string(),
            service_id: self.service_id.to_string(),
            namespace: self.namespace.to_string(),
            rx: self.rx,
            tx: self.tx,
            connections: self.connections,
            read_ms: self.read_ms,
        }
    }
}

/// A map that grew by this many entries since it was last rebuilt is rebuilt with full nodes
/// (see [`compact`]).
pub(crate) const COMPACT_AFTER: usize = 1000;

/// Rebuild `map` with full B-tree nodes. Why: entries inserted one by one leave nodes half
/// empty (in ascending order) or a third empty (at random), and metering's per-endpoint maps
/// are filled that way at the first reading of 10,000 endpoints. O(n): only after a large
/// growth.
pub(crate) fn compact<K: Ord, V>(map: &mut BTreeMap<K, V>) {
    *map = std::mem::take(map).into_iter().collect();
}

impl Telemetry {
    /// Keep in `map` only the endpoints counted now.
    pub fn retain_counted<V>(&self, map: &mut BTreeMap<Arc<str>, V>) {
        let st = self.state();
        map.retain(|id, _| st.endpoints.contains_key(id));
    }

    /// The gateways whose counters hold live endpoints, in name order.
    pub fn counted_gateways(&self) -> Vec<Arc<str>> {
        let st = self.state();
        let set: std::collections::BTreeSet<&Arc<str>> =
            st.endpoints.values().map(|a| &a.ns).collect();
        set.into_iter().cloned().collect()
    }

    /// The cumulative traffic counters of the live endpoints (all of them, or those in `only`;
    /// of every gateway, or of `gateway`), read from their gateways now: what the agent reports
    /// for metering (docs/metering.md), in endpoint id order. An endpoint whose counter cannot
    /// be read (its gateway unreadable with no earlier reading, or its element absent) is left
    /// out rather than reported as zero: a zero would pass for a recreated counter.
    pub async fn readings(
        &self,
        only: Option<&std::collections::BTreeSet<String>>,
        gateway: Option<&str>,
    ) -> Vec<Reading> {
        let (gateways, mut endpoints, keys_before) = {
            let st = self.state();
            // A few endpoints (`only`) are looked up, not scanned for among 10,000.
            let chosen: Box<dyn Iterator<Item = &Accounted>> = match only {
                Some(ids) => Box::new(ids.iter().filter_map(|id| st.endpoints.get(id.as_str()))),
                None => Box::new(st.endpoints.values()),
            };
            let endpoints: Vec<Accounted> = chosen
                .filter(|a| gateway.is_none_or(|g| *a.ns == *g))
                .cloned()
                .collect();
            let wanted: std::collections::BTreeSet<&str> =
                endpoints.iter().map(|a| &*a.ns).collect();
            let gateways: BTreeMap<String, NftTable> = st
                .gateways
                .iter()
                .filter(|(ns, _)| wanted.contains(ns.as_str()))
                .map(|(ns, t)| (ns.clone(), t.clone()))
                .collect();
            (gateways, endpoints, st.keys.len())
        };
        // One gateway at a time: its counters are read and looked up before the next one's.
        endpoints.sort_by(|a, b| a.ns.cmp(&b.ns));
        let mut out = Vec::with_capacity(endpoints.len());
        for mine in endpoints.chunk_by(|a, b| a.ns == b.ns) {
            let ns = &*mine[0].ns;
            let Some(table) = gateways.get(ns) else {
                continue;
            };
            // A few endpoints (those about to be removed): their elements only, not a dump of
            // the gateway's thousands.
            // Both land in the namespace's kept readings (`counters::cache`), looked up below; a
            // gateway that cannot be read is reported from its last reading.
            let read = match only {
                Some(_) => {
                    let keys: Vec<Vec<u8>> = mine.iter().map(|a| a.key.to_vec()).collect();
                    counters::read_keys(ns, table, &keys).await
                }
                None => counters::read_table(ns, table).await,
            };
            if let Err(e) = read {
                tracing::warn!(namespace = ns, error = %e, "cannot read traffic counters for metering");
            }
            let read_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
                .unwrap_or(0);
            // (rx, tx, new connections) of each of `mine`, under the readings' lock (no await).
            let counts: Vec<Option<(Count, Count, Option<Count>)>> = {
                let readings = counters::cache();
                let kept = readings.get(ns);
                let get =
                    |set: &str, key: &[u8]| -> Option<Count> { kept?.get(set)?.get(key).copied() };
                mine.iter()
                    .map(|a| {
                        Some((
                            get(EP_RX, &a.key)?,
                            get(EP_TX, &a.key)?,
                            get(EP_NEW, &a.key),
                        ))
                    })
                    .collect()
            };
            let traffic = |c: Count| vpcep_core::metering::Traffic {
                packets: c.packets,
                bytes: c.bytes,
            };
            let mut st = self.state();
            for (a, counts) in mine.iter().zip(counts) {
                let Some((rx, tx, new)) = counts else {
                    continue;
                };
                let (rx, tx) = own_share(
                    &mut st.keys,
                    (a.ns.clone(), a.key.clone()),
                    &a.endpoint_id,
                    (rx, tx),
                );
                out.push(Reading {
                    endpoint_id: a.endpoint_id.clone(),
                    project_id: a.project_id.clone(),
                    service_id: a.service_id.clone(),
                    namespace: a.ns.clone(),
                    rx: traffic(rx),
                    tx: traffic(tx),
                    connections: new.map_or(0, |c| c.packets),
                    read_ms,
                });
            }
        }
        let mut st = self.state();
        if st.keys.len() >= keys_before + COMPACT_AFTER {
            compact(&mut st.keys);
        }
        drop(st);
        out.sort_by(|a, b| a.endpoint_id.cmp(&b.endpoint_id));
        out
    }
}

/// An endpoint's labels: its id, its service's, and the consumer's project.
fn labels(a: &Accounted) -> Vec<metrics::Label> {
    vec![
        metrics::Label::new("endpoint_id", a.endpoint_id.to_string()),
        metrics::Label::new("service_id", a.service_id.to_string()),
        metrics::Label::new("project_id", a.project_id.to_string()),
    ]
}

/// Export one endpoint's (`vpcep_`) or service's (`vpcep_eps_`) totals. Counters only move
/// forward (the exporter keeps the largest value it was given).
fn export(prefix: &str, l: Vec<metrics::Label>, t: &Totals) {
    let counter = |name: &str, v: u64| {
        metrics::counter!(format!("{prefix}{name}"), l.clone()).absolute(v);
    };
    counter("rx_byte_total", t.rx.bytes);
    counter("tx_byte_total", t.tx.bytes);
    counter("rx_pkt_total", t.rx.packets);
    counter("tx_pkt_total", t.tx.packets);
    counter("drop_num", t.dropped);
    counter("connections", t.new);
    metrics::gauge!(format!("{prefix}act_connections"), l.clone()).set(t.established as f64);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(bytes: u64) -> Count {
        Count {
            packets: bytes / 100,
            bytes,
        }
    }

    #[test]
    fn an_element_handed_to_another_endpoint_bills_it_only_its_own_traffic() {
        let mut keys = BTreeMap::new();
        let at = || (Arc::<str>::from("gw0"), Arc::<[u8]>::from([1, 2]));
        let (e1, e2) = (Arc::<str>::from("e1"), Arc::<str>::from("e2"));
        // First seen: all of it is the owner's.
        assert_eq!(
            own_share(&mut keys, at(), &e1, (c(500), c(900))),
            (c(500), c(900))
        );
        assert_eq!(
            own_share(&mut keys, at(), &e1, (c(700), c(900))),
            (c(700), c(900))
        );
        // The same endpoint back on its element: still its own history.
        assert_eq!(
            own_share(&mut keys, at(), &e1, (c(800), c(950))),
            (c(800), c(950))
        );
        // Another endpoint gets the address (its element seeded from e1's 800/950).
        assert_eq!(
            own_share(&mut keys, at(), &e2, (c(800), c(950))),
            (c(0), c(0))
        );
        assert_eq!(
            own_share(&mut keys, at(), &e2, (c(1000), c(990))),
            (c(200), c(40))
        );
        // Elsewhere, nothing is shared.
        assert_eq!(
            own_share(
                &mut keys,
                ("gw1".into(), Arc::from([1, 2])),
                &e2,
                (c(5), c(6))
            ),
            (c(5), c(6))
        );
    }
}
