-- Metering (docs/metering.md). Portable DDL (runs unchanged on SQLite and PostgreSQL).

-- What is billed: per endpoint and hour (start of the hour, epoch ms, UTC), owned by the
-- consumer's project. Rows are only ever added to (`+=`), in the transaction that decided the
-- amount, so a bucket is exactly the sum of what was decided.
CREATE TABLE usage_hours (
    endpoint_id  TEXT   NOT NULL,
    hour_ms      BIGINT NOT NULL,
    project_id   TEXT   NOT NULL,
    service_id   TEXT   NOT NULL,
    accepted_ms  BIGINT NOT NULL,
    rx_bytes     BIGINT NOT NULL,
    rx_packets   BIGINT NOT NULL,
    tx_bytes     BIGINT NOT NULL,
    tx_packets   BIGINT NOT NULL,
    PRIMARY KEY (endpoint_id, hour_ms)
);
CREATE INDEX usage_hours_by_project ON usage_hours (project_id, hour_ms);

-- The last reading kept of each kernel counter (the delta rule: only what a reading adds to it is
-- billed). `counter` is the counter's identity: the agent's boot id and the gateway namespace;
-- `seen_ms` is when the agent read it (older readings arriving later are ignored).
CREATE TABLE usage_counters (
    endpoint_id  TEXT   NOT NULL,
    counter      TEXT   NOT NULL,
    rx_bytes     BIGINT NOT NULL,
    rx_packets   BIGINT NOT NULL,
    tx_bytes     BIGINT NOT NULL,
    tx_packets   BIGINT NOT NULL,
    seen_ms      BIGINT NOT NULL,
    PRIMARY KEY (endpoint_id, counter)
);

-- Time in `accepted`: billed up to here for each endpoint being metered.
CREATE TABLE usage_clocks (
    endpoint_id       TEXT   NOT NULL PRIMARY KEY,
    metered_until_ms  BIGINT NOT NULL
);
