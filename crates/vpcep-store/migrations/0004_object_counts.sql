-- How many objects of each kind a project holds, kept by the store in the same transaction as the
-- writes that change it (`SqlTx::put`/`delete`). Counting a project's objects is on hot paths —
-- the quota check inside every create's write transaction, the total of every listing — and
-- counting index entries costs time in proportion to the project's size (100,000 endpoints: ms per
-- request, under the one writer lock for creates); this row answers it in one lookup.
-- Portable DDL (runs unchanged on SQLite and PostgreSQL).
CREATE TABLE object_counts (
    kind        TEXT   NOT NULL,
    project_id  TEXT   NOT NULL,
    n           BIGINT NOT NULL,
    PRIMARY KEY (kind, project_id)
);
INSERT INTO object_counts (kind, project_id, n)
    SELECT kind, project_id, count(*) FROM objects GROUP BY kind, project_id;
