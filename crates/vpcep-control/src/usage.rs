//! Metering (docs/metering.md): the agents' traffic readings, the metering tick that bills time
//! in `accepted`, and the usage query. Each is one store transaction, so a restart of anything
//! (agent, control plane) between two of them neither loses nor repeats what one decided.

use std::collections::BTreeSet;

use vpcep_core::agent::{UsageAck, UsageReport};
use vpcep_core::error::DomainResult;
use vpcep_core::metering::{HourUsage, UsageRange, split_hours, usage_range};
use vpcep_core::model::{Endpoint, EndpointStatus};
use vpcep_store::{Query, TxExt};

use crate::{Caller, Control, now_ms};

/// How often `vpcep serve` runs [`Control::meter`]: a transition out of `accepted` is billed
/// up to the last tick before it, so this is the precision of the time billed on leaving.
pub const METER_EVERY: std::time::Duration = std::time::Duration::from_secs(15);

/// What one metering tick did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MeterTick {
    /// Endpoints in `accepted` (each billed up to the tick).
    pub metered: usize,
    /// Endpoints that left `accepted` (or were deleted) since the last tick: their clocks stop.
    pub stopped: usize,
}

impl Control {
    /// An agent's traffic readings, billed by the delta rule in one transaction at the control
    /// plane's clock (the hour a reading is received in is the hour it is billed to).
    pub async fn agent_usage(&self, report: UsageReport) -> DomainResult<UsageAck> {
        self.agent_usage_at(report, now_ms()).await
    }

    /// [`Control::agent_usage`] at a given time (tests).
    pub async fn agent_usage_at(&self, report: UsageReport, at_ms: i64) -> DomainResult<UsageAck> {
        let mut ack = UsageAck {
            counted: 0,
            unchanged: 0,
        };
        if report.counters.is_empty() {
            return Ok(ack);
        }
        // One reading per counter, its identity (boot + gateway) made once for the bill and the
        // charts alike.
        let billed_readings: Vec<_> = report
            .counters
            .iter()
            .map(|c| c.reading(&report.boot_id))
            .collect();
        let mut tx = self.store.begin().await?;
        for r in &billed_readings {
            let billed = tx.usage_count(r, at_ms).await?;
            if billed.is_zero() {
                ack.unchanged += 1;
            } else {
                ack.counted += 1;
            }
        }
        tx.commit().await?;
        let readings: Vec<crate::recent::Reading<'_>> = report
            .counters
            .iter()
            .zip(&billed_readings)
            .map(|(c, r)| crate::recent::Reading {
                endpoint_id: &r.endpoint_id,
                service_id: &r.service_id,
                counter: &r.counter,
                total: crate::recent::Minute {
                    connections: c.connections,
                    rx_bytes: c.rx.bytes,
                    tx_bytes: c.tx.bytes,
                },
            })
            .collect();
        self.recent.observe(&readings, at_ms);
        Ok(ack)
    }

    /// The last hour of an endpoint's traffic, per minute (its owner only).
    pub async fn endpoint_recent_traffic(
        &self,
        caller: &Caller,
        endpoint_id: &str,
    ) -> DomainResult<crate::recent::Hour> {
        self.get_endpoint(caller, endpoint_id).await?;
        Ok(self.recent.endpoint(endpoint_id, now_ms()))
    }

    /// The last hour of all of a service's endpoints' traffic, per minute (its owner only).
    pub async fn service_recent_traffic(
        &self,
        caller: &Caller,
        service_id: &str,
    ) -> DomainResult<crate::recent::Hour> {
        self.get_service(caller, service_id).await?;
        Ok(self.recent.service(service_id, now_ms()))
    }

    /// The metering tick, in one transaction: every endpoint in `accepted` is billed the time
    /// from its clock (`metered_until`) to `now_ms`, cut at hour boundaries, and its clock moves
    /// to `now_ms`. An endpoint seen in `accepted` for the first time starts at its last update
    /// (the report that accepted it, when nothing changed it since), never earlier. Clocks of
    /// endpoints no longer `accepted` stop: the time between their last tick and the change is
    /// not billed (under one tick). A clock never moves back, so a tick at an earlier time (a
    /// clock step, another replica) bills nothing twice. Time while the control plane was down
    /// is billed to endpoints still `accepted` when it is back: statuses cannot change without
    /// it, and the data plane kept forwarding their traffic.
    pub async fn meter(&self, now_ms: i64) -> DomainResult<MeterTick> {
        let mut tx = self.store.begin().await?;
        let accepted: Vec<Endpoint> = tx
            .load_all(Query {
                status: Some(EndpointStatus::Accepted.as_str().to_string()),
                ..Default::default()
            })
            .await?;
        let clocks = tx.usage_clocks().await?;
        let mut tick = MeterTick::default();
        let mut billed = Vec::with_capacity(accepted.len());
        let mut moved: Vec<(String, Option<i64>)> = Vec::with_capacity(accepted.len());
        for e in &accepted {
            let from = clocks
                .get(&e.id)
                .copied()
                .unwrap_or_else(|| e.updated_ms.min(now_ms));
            billed.extend(
                split_hours(from, now_ms)
                    .into_iter()
                    .map(|(hour_ms, ms)| HourUsage {
                        endpoint_id: e.id.clone(),
                        hour_ms,
                        project_id: e.project_id.clone(),
                        service_id: e.service_id.clone(),
                        accepted_ms: ms,
                        ..Default::default()
                    }),
            );
            moved.push((e.id.clone(), Some(from.max(now_ms))));
            tick.metered += 1;
        }
        let live: BTreeSet<&str> = accepted.iter().map(|e| e.id.as_str()).collect();
        for id in clocks.keys().filter(|id| !live.contains(id.as_str())) {
            moved.push((id.clone(), None));
            tick.stopped += 1;
        }
        tx.usage_add(&billed).await?;
        tx.set_usage_clocks(&moved).await?;
        tx.commit().await?;
        Ok(tick)
    }

    /// The caller's usage per endpoint and hour in `[from, to)` (whole hours; see
    /// `vpcep_core::metering::usage_range` for the formats and defaults). The caller sees the
    /// endpoints of their project, also those deleted since.
    pub async fn usage(
        &self,
        caller: &Caller,
        from: Option<&str>,
        to: Option<&str>,
    ) -> DomainResult<(UsageRange, Vec<HourUsage>)> {
        let range = usage_range(from, to, now_ms())?;
        Ok((range, self.store.usage(&caller.project_id, range).await?))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use vpcep_core::agent::{EndpointCounter, UsageReport};
    use vpcep_core::metering::{Counters, HOUR_MS, Traffic, UsageRange};
    use vpcep_core::model::{Endpoint, EndpointStatus, ServiceType};
    use vpcep_store::{SqlStore, TxExt};

    use crate::{Control, Settings};

    async fn control(path: &std::path::Path) -> Control {
        let store = SqlStore::open_sqlite(path).await.expect("store");
        let (secrets, _) = vpcep_auth::SecretBox::generate().expect("key");
        Control::new(Arc::new(store), Settings::default(), secrets, |_| {
            ("EndPoint.0000", String::new())
        })
    }

    fn endpoint(id: &str, status: EndpointStatus, updated_ms: i64) -> Endpoint {
        Endpoint {
            id: id.into(),
            project_id: "p1".into(),
            domain_id: "d1".into(),
            region: "r".into(),
            service_id: "s1".into(),
            service_name: "r.svc.s1".into(),
            service_type: ServiceType::Interface,
            vpc_id: "v".into(),
            subnet_id: "n".into(),
            ip: "10.0.0.9".into(),
            marker_id: 1,
            status,
            enable_dns: false,
            dns_names: vec![],
            whitelist: vec![],
            enable_whitelist: false,
            tags: vec![],
            description: String::new(),
            connection_description: String::new(),
            routetables: vec![],
            policy_statement: vec![],
            policy_document: None,
            error: vec![],
            generation: 1,
            created_ms: updated_ms,
            updated_ms,
        }
    }

    async fn put(c: &Control, e: &Endpoint) {
        let mut tx = c.store.begin().await.expect("begin");
        tx.save(e, e.generation).await.expect("save");
        tx.commit().await.expect("commit");
    }

    /// (hour, accepted ms, rx bytes) of p1's hours in [from, to).
    async fn hours(c: &Control, from: i64, to: i64) -> Vec<(i64, i64, u64)> {
        c.store
            .usage(
                "p1",
                UsageRange {
                    from_ms: from,
                    to_ms: to,
                },
            )
            .await
            .expect("usage")
            .into_iter()
            .map(|u| (u.hour_ms, u.accepted_ms, u.traffic.rx.bytes))
            .collect()
    }

    const H: i64 = 490_000 * HOUR_MS;

    #[tokio::test]
    async fn accepted_time_is_split_at_hours_and_survives_a_restart_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.db");
        let c = control(&path).await;
        // Accepted 10 minutes before the end of hour H (its last update: the accepting report).
        let accepted_at = H + 50 * 60_000;
        put(&c, &endpoint("e1", EndpointStatus::Accepted, accepted_at)).await;
        // Another endpoint never accepted: never billed.
        put(&c, &endpoint("e2", EndpointStatus::Creating, H)).await;
        let t1 = H + 55 * 60_000;
        assert_eq!(c.meter(t1).await.expect("tick").metered, 1);
        // The same tick again (a retried tick, another replica): nothing more.
        c.meter(t1).await.expect("tick");
        // An earlier time (the clock stepped back): nothing, and the clock does not move back.
        c.meter(t1 - 60_000).await.expect("tick");
        assert_eq!(hours(&c, H, H + HOUR_MS).await, vec![(H, 5 * 60_000, 0)]);

        // The control plane restarts (a new process on the same store) and is down for 20
        // minutes across the hour boundary: the endpoint stayed accepted, the time is billed
        // once, split at the boundary.
        drop(c);
        let c = control(&path).await;
        let t2 = H + HOUR_MS + 15 * 60_000;
        c.meter(t2).await.expect("tick");
        c.meter(t2).await.expect("tick");
        assert_eq!(
            hours(&c, H, H + 2 * HOUR_MS).await,
            vec![(H, 10 * 60_000, 0), (H + HOUR_MS, 15 * 60_000, 0)]
        );

        // It leaves `accepted`: its clock stops; accepted again later, it starts from then.
        put(&c, &endpoint("e1", EndpointStatus::Rejected, t2 + 1_000)).await;
        let tick = c.meter(t2 + 5_000).await.expect("tick");
        assert_eq!((tick.metered, tick.stopped), (0, 1));
        put(&c, &endpoint("e1", EndpointStatus::Accepted, t2 + 60_000)).await;
        c.meter(t2 + 90_000).await.expect("tick");
        assert_eq!(
            hours(&c, H + HOUR_MS, H + 2 * HOUR_MS).await,
            vec![(H + HOUR_MS, 15 * 60_000 + 30_000, 0)]
        );
    }

    fn report(boot: &str, rx: u64, read_ms: i64) -> UsageReport {
        UsageReport {
            agent: "a".into(),
            boot_id: boot.into(),
            counters: vec![EndpointCounter {
                endpoint_id: "e1".into(),
                project_id: "p1".into(),
                service_id: "s1".into(),
                namespace: "gw0".into(),
                rx: Traffic {
                    packets: rx / 1000,
                    bytes: rx,
                },
                tx: Traffic::default(),
                connections: rx / 10_000,
                read_ms,
            }],
        }
    }

    #[tokio::test]
    async fn traffic_readings_count_once_across_restarts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.db");
        let c = control(&path).await;
        let ack = c
            .agent_usage_at(report("b1", 10_000, H + 1), H + 1)
            .await
            .expect("report");
        assert_eq!((ack.counted, ack.unchanged), (1, 0));
        // The agent restarts and reports the kernel's counter again: nothing new.
        let ack = c
            .agent_usage_at(report("b1", 10_000, H + 2), H + 2)
            .await
            .expect("report");
        assert_eq!((ack.counted, ack.unchanged), (0, 1));
        // The control plane restarts; the agent reports the grown counter.
        drop(c);
        let c = control(&path).await;
        c.agent_usage_at(report("b1", 25_000, H + HOUR_MS + 3), H + HOUR_MS + 3)
            .await
            .expect("report");
        // A report the old agent sent before the restart, arriving now: ignored.
        let ack = c
            .agent_usage_at(report("b1", 12_000, H + 2), H + HOUR_MS + 3)
            .await
            .expect("report");
        assert_eq!((ack.counted, ack.unchanged), (0, 1));
        // The namespace was rebuilt while no agent ran: the counter starts again from zero.
        c.agent_usage_at(report("b1", 4_000, H + HOUR_MS + 4), H + HOUR_MS + 4)
            .await
            .expect("report");
        // The host rebooted: a new counter, even with a larger value.
        c.agent_usage_at(report("b2", 30_000, H + HOUR_MS + 5), H + HOUR_MS + 5)
            .await
            .expect("report");
        assert_eq!(
            hours(&c, H, H + 2 * HOUR_MS).await,
            vec![(H, 0, 10_000), (H + HOUR_MS, 0, 15_000 + 4_000 + 30_000)]
        );
        let total: Counters = c
            .store
            .usage(
                "p1",
                UsageRange {
                    from_ms: H,
                    to_ms: H + 2 * HOUR_MS,
                },
            )
            .await
            .expect("usage")
            .iter()
            .fold(Counters::default(), |mut t, u| {
                t.rx.packets += u.traffic.rx.packets;
                t
            });
        assert_eq!(total.rx.packets, 10 + 15 + 4 + 30);
    }
}
