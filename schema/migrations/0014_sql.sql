-- SQL over HTTP: the per-query audit, each database's SQL settings, and held statements.
-- Read models (projected from `query-…` and `approvals-…` streams; rebuilt by replay).
create table query_log (
    id uuid primary key,
    database_id uuid not null,
    at timestamptz not null,
    actor_user_id uuid,
    actor_api_key_id uuid,
    source text not null,
    fingerprint text not null,
    statement text,
    command text,
    duration_ms bigint not null,
    row_count bigint,
    error text
);
create index query_log_by_database on query_log (database_id, id desc);

create table sql_settings (
    database_id uuid primary key,
    enabled boolean not null,
    kinds jsonb not null,
    ttl_seconds integer not null,
    record_statements boolean not null
);

create table sql_approvals (
    id uuid primary key,
    database_id uuid not null,
    statement text not null,
    kinds jsonb not null,
    requested_by uuid not null,
    requested_at timestamptz not null,
    expires_at timestamptz not null,
    state text not null,
    decided_by uuid,
    decided_at timestamptz,
    result jsonb
);
create index sql_approvals_by_database on sql_approvals (database_id, id desc);
