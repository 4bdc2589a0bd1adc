-- The audit log: one row per mutating request (API, console, admin CLI), appended and never
-- updated or deleted by the store (there is no method that could). Portable DDL (runs unchanged on
-- SQLite and PostgreSQL): the sequence number is assigned by the insert itself (max + 1 under the
-- primary key), so no backend-specific autoincrement is needed.
CREATE TABLE audit (
    seq            BIGINT  NOT NULL PRIMARY KEY,
    time_ms        BIGINT  NOT NULL,
    domain_id      TEXT    NOT NULL,
    project_id     TEXT    NOT NULL,
    access_key_id  TEXT    NOT NULL,
    front          TEXT    NOT NULL,
    operation      TEXT    NOT NULL,
    resource_ids   TEXT    NOT NULL,
    request_id     TEXT    NOT NULL,
    source         TEXT    NOT NULL,
    status         BIGINT  NOT NULL,
    error_code     TEXT    NOT NULL
);
-- The one query: an account's entries in a time range, newest first, paged by sequence number.
CREATE INDEX audit_by_domain ON audit (domain_id, seq);
