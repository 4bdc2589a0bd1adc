//! Metering tables (migration 0003, docs/metering.md): hourly usage per endpoint, the last value
//! seen of each kernel counter, and the clock of time in `accepted`. The SQL behind the usage
//! methods of [`crate::Tx`] and [`crate::Store`], portable across SQLite and PostgreSQL.
//!
//! These tables are not part of the change feed: writing them moves no revision.

use std::collections::BTreeMap;

use sqlx::any::AnyRow;
use sqlx::{Any, Row};
use vpcep_core::metering::{
    CounterReading, Counters, HourUsage, Traffic, UsageRange, counter_delta, hour_of,
};

use crate::StoreError;
use crate::sql::text;

/// Counters are `u64` in the kernel and BIGINT in the database; 2^63 bytes is 8 EiB, so the
/// clamp never bites in practice, and it keeps a hostile report from wrapping into negatives.
fn big(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn unbig(row: &AnyRow, column: &str) -> Result<u64, StoreError> {
    Ok(u64::try_from(row.try_get::<i64, _>(column)?).unwrap_or(0))
}

fn counters(row: &AnyRow) -> Result<Counters, StoreError> {
    Ok(Counters {
        rx: Traffic {
            packets: unbig(row, "rx_packets")?,
            bytes: unbig(row, "rx_bytes")?,
        },
        tx: Traffic {
            packets: unbig(row, "tx_packets")?,
            bytes: unbig(row, "tx_bytes")?,
        },
    })
}

/// Add to one endpoint's hour (created at zero when absent).
pub(crate) async fn add<'c, E>(exec: E, u: &HourUsage) -> Result<(), StoreError>
where
    E: sqlx::Executor<'c, Database = Any>,
{
    sqlx::query(
        "INSERT INTO usage_hours (endpoint_id, hour_ms, project_id, service_id, accepted_ms, \
         rx_bytes, rx_packets, tx_bytes, tx_packets) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (endpoint_id, hour_ms) DO UPDATE SET \
         accepted_ms = usage_hours.accepted_ms + excluded.accepted_ms, \
         rx_bytes = usage_hours.rx_bytes + excluded.rx_bytes, \
         rx_packets = usage_hours.rx_packets + excluded.rx_packets, \
         tx_bytes = usage_hours.tx_bytes + excluded.tx_bytes, \
         tx_packets = usage_hours.tx_packets + excluded.tx_packets",
    )
    .bind(text(&u.endpoint_id)?)
    .bind(hour_of(u.hour_ms))
    .bind(text(&u.project_id)?)
    .bind(text(&u.service_id)?)
    .bind(u.accepted_ms.max(0))
    .bind(big(u.traffic.rx.bytes))
    .bind(big(u.traffic.rx.packets))
    .bind(big(u.traffic.tx.bytes))
    .bind(big(u.traffic.tx.packets))
    .execute(exec)
    .await?;
    Ok(())
}

/// The delta rule on one reading, in the caller's transaction: bill what it adds to the last
/// value seen for its (endpoint, counter) to the hour of `at_ms`, and keep it as the last value.
pub(crate) async fn count(
    conn: &mut sqlx::AnyConnection,
    r: &CounterReading,
    at_ms: i64,
) -> Result<Counters, StoreError> {
    let row = sqlx::query(
        "SELECT rx_bytes, rx_packets, tx_bytes, tx_packets, seen_ms FROM usage_counters \
         WHERE endpoint_id = $1 AND counter = $2",
    )
    .bind(text(&r.endpoint_id)?)
    .bind(text(&r.counter)?)
    .fetch_optional(&mut *conn)
    .await?;
    let last = match &row {
        Some(row) => Some((counters(row)?, row.try_get::<i64, _>("seen_ms")?)),
        None => None,
    };
    let Some(delta) = counter_delta(last.as_ref().map(|(c, at)| (c, *at)), &r.value, r.read_ms)
    else {
        return Ok(Counters::default());
    };
    if last
        .as_ref()
        .is_some_and(|(c, at)| *c == r.value && *at == r.read_ms)
    {
        return Ok(delta);
    }
    sqlx::query(
        "INSERT INTO usage_counters (endpoint_id, counter, rx_bytes, rx_packets, tx_bytes, \
         tx_packets, seen_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (endpoint_id, counter) DO UPDATE SET rx_bytes = excluded.rx_bytes, \
         rx_packets = excluded.rx_packets, tx_bytes = excluded.tx_bytes, \
         tx_packets = excluded.tx_packets, seen_ms = excluded.seen_ms",
    )
    .bind(r.endpoint_id.clone())
    .bind(r.counter.clone())
    .bind(big(r.value.rx.bytes))
    .bind(big(r.value.rx.packets))
    .bind(big(r.value.tx.bytes))
    .bind(big(r.value.tx.packets))
    .bind(r.read_ms)
    .execute(&mut *conn)
    .await?;
    if !delta.is_zero() {
        add(
            &mut *conn,
            &HourUsage {
                endpoint_id: r.endpoint_id.clone(),
                hour_ms: hour_of(at_ms),
                project_id: r.project_id.clone(),
                service_id: r.service_id.clone(),
                accepted_ms: 0,
                traffic: delta,
            },
        )
        .await?;
    }
    Ok(delta)
}

pub(crate) async fn clocks<'c, E>(exec: E) -> Result<BTreeMap<String, i64>, StoreError>
where
    E: sqlx::Executor<'c, Database = Any>,
{
    let rows = sqlx::query("SELECT endpoint_id, metered_until_ms FROM usage_clocks")
        .fetch_all(exec)
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("endpoint_id")?, r.try_get("metered_until_ms")?)))
        .collect()
}

pub(crate) async fn set_clock<'c, E>(
    exec: E,
    endpoint_id: &str,
    until_ms: Option<i64>,
) -> Result<(), StoreError>
where
    E: sqlx::Executor<'c, Database = Any>,
{
    match until_ms {
        Some(ms) => {
            sqlx::query(
                "INSERT INTO usage_clocks (endpoint_id, metered_until_ms) VALUES ($1, $2) \
                 ON CONFLICT (endpoint_id) DO UPDATE SET metered_until_ms = excluded.metered_until_ms",
            )
            .bind(text(endpoint_id)?)
            .bind(ms)
            .execute(exec)
            .await?;
        }
        None => {
            sqlx::query("DELETE FROM usage_clocks WHERE endpoint_id = $1")
                .bind(text(endpoint_id)?)
                .execute(exec)
                .await?;
        }
    }
    Ok(())
}

/// A project's hours in `[from, to)`, by hour then endpoint.
pub(crate) async fn list<'c, E>(
    exec: E,
    project_id: &str,
    range: UsageRange,
) -> Result<Vec<HourUsage>, StoreError>
where
    E: sqlx::Executor<'c, Database = Any>,
{
    let rows = sqlx::query(
        "SELECT endpoint_id, hour_ms, project_id, service_id, accepted_ms, rx_bytes, rx_packets, \
         tx_bytes, tx_packets FROM usage_hours \
         WHERE project_id = $1 AND hour_ms >= $2 AND hour_ms < $3 \
         ORDER BY hour_ms ASC, endpoint_id ASC",
    )
    .bind(text(project_id)?)
    .bind(range.from_ms)
    .bind(range.to_ms)
    .fetch_all(exec)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(HourUsage {
                endpoint_id: r.try_get("endpoint_id")?,
                hour_ms: r.try_get("hour_ms")?,
                project_id: r.try_get("project_id")?,
                service_id: r.try_get("service_id")?,
                accepted_ms: r.try_get("accepted_ms")?,
                traffic: counters(r)?,
            })
        })
        .collect()
}
