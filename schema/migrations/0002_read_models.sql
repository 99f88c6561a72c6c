-- Read models: disposable projections of the event log, written in the same transaction
-- as the events they come from (read-your-writes) and rebuilt by replay.

create table accounts (
    id         uuid primary key,
    plan       text not null,
    created_at timestamptz not null
);

create table users (
    id            uuid primary key,
    account_id    uuid not null references accounts(id),
    email         text not null unique,
    platform_role text not null,
    created_at    timestamptz not null
);

create table api_keys (
    id           uuid primary key,
    account_id   uuid not null references accounts(id),
    user_id      uuid not null references users(id),
    prefix       text not null unique,
    hash         text not null,
    label        text not null,
    created_at   timestamptz not null,
    revoked_at   timestamptz,
    last_used_at timestamptz
);

create table hosts (
    id           uuid primary key,
    name         text not null unique,
    pg_host      text not null,
    pg_port      int not null,
    superuser    text not null,
    bouncer_host text not null,
    bouncer_port int not null,
    admin_user   text not null,
    config_dir   text not null,
    capacity     int not null,
    created_at   timestamptz not null
);

create table databases (
    id           uuid primary key,
    account_id   uuid not null references accounts(id),
    name         text not null,
    engine       text not null,
    state        text not null,
    host_id      uuid not null references hosts(id),
    operation_id uuid,
    size_bytes   bigint not null default 0,
    created_at   timestamptz not null,
    updated_at   timestamptz not null
);
-- Names are the PostgreSQL database and role names: unique among databases not deleted.
create unique index databases_live_name on databases (name) where state <> 'deleted';
create index databases_by_account on databases (account_id, created_at);

create table operations (
    id          uuid primary key,
    kind        text not null,
    state       text not null,
    attempts    int not null default 0,
    error       text,
    database_id uuid not null references databases(id),
    account_id  uuid not null references accounts(id),
    created_at  timestamptz not null,
    finished_at timestamptz
);

create table activity (
    event_id         uuid primary key,
    account_id       uuid not null,
    database_id      uuid,
    at               timestamptz not null,
    actor_user_id    uuid,
    actor_api_key_id uuid,
    action           text not null,
    resource_type    text not null,
    resource_id      uuid not null,
    resource_name    text,
    details          jsonb not null,
    seq              bigint not null
);
create index activity_by_account on activity (account_id, seq desc);
create index activity_by_database on activity (database_id, seq desc);
