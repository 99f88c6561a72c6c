-- Network access and database users (issue 4).

-- Allowlist rules per database: a projection of the allowlist streams. A database with no
-- rows is open to all sources.
create table allowlist_rules (
    id          uuid primary key,
    database_id uuid not null references databases(id),
    cidr        text not null,
    label       text,
    expires_at  timestamptz,
    open_to_all boolean not null,
    created_at  timestamptz not null
);
create index allowlist_rules_by_database on allowlist_rules (database_id, created_at);
-- The expiry sweeper reads rules by expiry time.
create index allowlist_rules_expiring on allowlist_rules (expires_at) where expires_at is not null;

-- Extra login roles of a database: a projection of the database-user streams. `role_name`
-- is the PostgreSQL role, `<database>.<user>`, so it never collides with a database's own
-- role or another database's users.
create table database_users (
    database_id uuid not null references databases(id),
    name        text not null,
    role_name   text not null unique,
    state       text not null,
    created_at  timestamptz not null,
    primary key (database_id, name)
);

-- SCRAM verifiers of those roles, for PgBouncer's auth_file. Written beside the event that
-- creates the user (a verifier is not a password, but it is kept out of events all the same).
create table database_user_verifiers (
    role_name text primary key,
    verifier  text not null
);

-- What each host's PgBouncer has been synced to: every transaction below `synced_xmin` was
-- committed (or gone) before the last successful render, so a change whose transaction id is
-- below it is enforced. The API waits on this before it says a rule is in effect.
create table bouncer_syncs (
    host_id     uuid primary key references hosts(id),
    synced_xmin xid8 not null,
    synced_at   timestamptz not null
);
