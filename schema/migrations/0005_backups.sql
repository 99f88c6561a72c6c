-- Backups: a projection of the backup-<uuid> streams.
create table backups (
    id              uuid primary key,
    database_id     uuid not null references databases(id),
    account_id      uuid not null references accounts(id),
    operation_id    uuid not null,
    state           text not null,
    trigger         text not null,
    label           text,
    -- The day a scheduled backup is for (UTC); null for manual backups.
    scheduled_for   date,
    object_key      text,
    size_bytes      bigint,
    sha256          text,
    -- Per-table row counts and checksums taken inside the dump's snapshot.
    tables          jsonb,
    error           text,
    attempts        int not null default 0,
    created_at      timestamptz not null,
    started_at      timestamptz,
    finished_at     timestamptz,
    deleted_at      timestamptz,
    verified_at     timestamptz,
    verified_ok     boolean,
    verify_details  jsonb
);
-- Exactly one scheduled backup per database and day, however many schedulers race.
create unique index backups_one_per_day on backups (database_id, scheduled_for) where scheduled_for is not null;
create index backups_by_database on backups (database_id, created_at desc);
create index backups_by_state on backups (state, created_at);
