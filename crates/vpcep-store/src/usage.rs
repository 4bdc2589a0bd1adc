//! Metering tables (migration 0003, docs/metering.md): hourly usage per endpoint, the last value
//! seen of each kernel counter, and the clock of time in `accepted`. The SQL behind the usage
//! methods of [`crate::Tx`] and [`crate::Store`], portable across SQLite and PostgreSQL.
//!
//! These tables are not part of the change feed: writing them moves no revision.

use std::collections::BTreeMap;

use sqlx::any::AnyRow;
use sqlx::{Any, AssertSqlSafe, Row};
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

/// Rows per statement: a 10,000-endpoint tick is 100 statements, not 10,000. Larger batches
/// measured slower through sqlx (500 rows of 9 values: 2 s for 10,000 rows, 100 rows: 0.23 s,
/// debug build on a loaded machine).
const BATCH: usize = 100;

/// Add to endpoints' hours (created at zero when absent), many rows per statement. Rows for the
/// same (endpoint, hour) are merged first: one statement may not touch a row twice.
pub(crate) async fn add(
    conn: &mut sqlx::AnyConnection,
    usage: &[HourUsage],
) -> Result<(), StoreError> {
    let mut merged: BTreeMap<(&str, i64), HourUsage> = BTreeMap::new();
    for u in usage {
        let hour = hour_of(u.hour_ms);
        let m = merged
            .entry((u.endpoint_id.as_str(), hour))
            .or_insert_with(|| HourUsage {
                hour_ms: hour,
                accepted_ms: 0,
                traffic: Counters::default(),
                ..u.clone()
            });
        m.accepted_ms = m.accepted_ms.saturating_add(u.accepted_ms.max(0));
        for (a, b) in [
            (&mut m.traffic.rx.bytes, u.traffic.rx.bytes),
            (&mut m.traffic.rx.packets, u.traffic.rx.packets),
            (&mut m.traffic.tx.bytes, u.traffic.tx.bytes),
            (&mut m.traffic.tx.packets, u.traffic.tx.packets),
        ] {
            *a = a.saturating_add(b);
        }
    }
    let rows: Vec<HourUsage> = merged.into_values().collect();
    for chunk in rows.chunks(BATCH) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| {
                let n = i * 9;
                format!(
                    "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                    n + 1,
                    n + 2,
                    n + 3,
                    n + 4,
                    n + 5,
                    n + 6,
                    n + 7,
                    n + 8,
                    n + 9
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO usage_hours (endpoint_id, hour_ms, project_id, service_id, accepted_ms, \
             rx_bytes, rx_packets, tx_bytes, tx_packets) VALUES {} \
             ON CONFLICT (endpoint_id, hour_ms) DO UPDATE SET \
             accepted_ms = usage_hours.accepted_ms + excluded.accepted_ms, \
             rx_bytes = usage_hours.rx_bytes + excluded.rx_bytes, \
             rx_packets = usage_hours.rx_packets + excluded.rx_packets, \
             tx_bytes = usage_hours.tx_bytes + excluded.tx_bytes, \
             tx_packets = usage_hours.tx_packets + excluded.tx_packets",
            values.join(", ")
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for u in chunk {
            q = q
                .bind(text(&u.endpoint_id)?)
                .bind(u.hour_ms)
                .bind(text(&u.project_id)?)
                .bind(text(&u.service_id)?)
                .bind(u.accepted_ms)
                .bind(big(u.traffic.rx.bytes))
                .bind(big(u.traffic.rx.packets))
                .bind(big(u.traffic.tx.bytes))
                .bind(big(u.traffic.tx.packets));
        }
        q.execute(&mut *conn).await?;
    }
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
            conn,
            &[HourUsage {
                endpoint_id: r.endpoint_id.clone(),
                hour_ms: hour_of(at_ms),
                project_id: r.project_id.clone(),
                service_id: r.service_id.clone(),
                accepted_ms: 0,
                traffic: delta,
            }],
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

/// Move clocks (`Some`) or drop them (`None`); for one endpoint given twice, the last wins.
pub(crate) async fn set_clocks(
    conn: &mut sqlx::AnyConnection,
    clocks: &[(String, Option<i64>)],
) -> Result<(), StoreError> {
    let last: BTreeMap<&str, Option<i64>> =
        clocks.iter().map(|(id, at)| (id.as_str(), *at)).collect();
    let set: Vec<(&str, i64)> = last
        .iter()
        .filter_map(|(id, at)| at.map(|at| (*id, at)))
        .collect();
    let dropped: Vec<&str> = last
        .iter()
        .filter(|(_, at)| at.is_none())
        .map(|(id, _)| *id)
        .collect();
    for chunk in set.chunks(BATCH) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| format!("(${}, ${})", 2 * i + 1, 2 * i + 2))
            .collect();
        let sql = format!(
            "INSERT INTO usage_clocks (endpoint_id, metered_until_ms) VALUES {} \
             ON CONFLICT (endpoint_id) DO UPDATE SET metered_until_ms = excluded.metered_until_ms",
            values.join(", ")
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for (id, at) in chunk {
            q = q.bind(text(id)?).bind(*at);
        }
        q.execute(&mut *conn).await?;
    }
    for chunk in dropped.chunks(BATCH) {
        let list: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "DELETE FROM usage_clocks WHERE endpoint_id IN ({})",
            list.join(", ")
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for id in chunk {
            q = q.bind(text(id)?);
        }
        q.execute(&mut *conn).await?;
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
