-- How each tenant database is doing, sampled by the worker every `metrics_interval` and kept
-- for `metrics_retention` (measurements, like database_usage: not events, not replayed).
-- Counters are cumulative as PostgreSQL reports them; rates are differences of two samples.
create table database_samples (
    database_id uuid not null,
    at timestamptz not null,
    transactions bigint not null,
    calls bigint not null,
    exec_ms double precision not null,
    active_connections bigint not null,
    size_bytes bigint not null,
    primary key (database_id, at)
);
create index database_samples_by_time on database_samples (at);
