-- The data API's keys and auth config, per database. Read models (projected from
-- `dataapi-…` streams; rebuilt by replay). A key's secret is never stored: `hash` is its
-- HMAC under the platform's hash key, `prefix` the public part it is looked up by.
create table data_keys (
    id uuid primary key,
    database_id uuid not null,
    kind text not null,
    name text not null,
    prefix text not null unique,
    hash text not null,
    allowed_origins jsonb not null,
    exposed_schemas jsonb not null,
    exposed_tables jsonb not null,
    rate_limit jsonb,
    created_at timestamptz not null,
    expires_at timestamptz,
    revoked_at timestamptz
);
create index data_keys_by_database on data_keys (database_id, kind, created_at) where revoked_at is null;

create table data_auth_configs (
    database_id uuid primary key,
    config jsonb not null,
    updated_at timestamptz not null
);
