-- One table for every resource kind: indexed columns for filtering and sorting, the full record as
-- JSON text. Portable DDL (runs unchanged on SQLite and PostgreSQL).
CREATE TABLE objects (
    kind        TEXT    NOT NULL,
    id          TEXT    NOT NULL,
    project_id  TEXT    NOT NULL,
    parent_id   TEXT    NOT NULL,
    vpc_id      TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    shared      BIGINT  NOT NULL,
    created_ms  BIGINT  NOT NULL,
    updated_ms  BIGINT  NOT NULL,
    generation  BIGINT  NOT NULL,
    revision    BIGINT  NOT NULL,
    body        TEXT    NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX objects_by_project ON objects (kind, project_id, created_ms);
CREATE INDEX objects_by_parent ON objects (kind, parent_id);
CREATE INDEX objects_by_vpc ON objects (kind, vpc_id);
CREATE INDEX objects_by_name ON objects (kind, name);
CREATE INDEX objects_by_revision ON objects (revision);

-- Deleted objects, so a watcher that was at revision N learns what disappeared after N.
CREATE TABLE tombstones (
    kind      TEXT   NOT NULL,
    id        TEXT   NOT NULL,
    revision  BIGINT NOT NULL,
    PRIMARY KEY (kind, id, revision)
);
CREATE INDEX tombstones_by_revision ON tombstones (revision);

-- Unique claims: an IP in a subnet, a backend port, an account name. The primary key is what
-- makes "never handed out twice" hold even if two writers raced.
CREATE TABLE claims (
    namespace  TEXT NOT NULL,
    claim_key  TEXT NOT NULL,
    owner      TEXT NOT NULL,
    PRIMARY KEY (namespace, claim_key)
);
CREATE INDEX claims_by_owner ON claims (owner);

CREATE TABLE sequences (
    name   TEXT   NOT NULL PRIMARY KEY,
    value  BIGINT NOT NULL
);

CREATE TABLE meta (
    name   TEXT   NOT NULL PRIMARY KEY,
    value  BIGINT NOT NULL
);
INSERT INTO meta (name, value) VALUES ('revision', 0);
INSERT INTO meta (name, value) VALUES ('compacted_revision', 0);
