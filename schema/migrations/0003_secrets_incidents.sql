-- Not projections: secrets and incidents are state of their own.

-- Secrets under the platform key (AEAD). Never in events; `key_id` names the key that
-- sealed the row so the key can be rotated.
create table secrets (
    id         text primary key,
    key_id     text not null,
    nonce      bytea not null,
    ciphertext bytea not null,
    updated_at timestamptz not null default now()
);

-- SCRAM verifiers of tenant roles, which PgBouncer's auth_file needs. A verifier is not a
-- password; it is kept apart so nothing reads it by accident.
create table role_verifiers (
    database_id uuid primary key references databases(id),
    verifier    text not null
);

-- What operators read to see what broke. One open row per (kind, resource); repeats bump it.
create table incidents (
    id            uuid primary key,
    kind          text not null,
    severity      text not null,
    state         text not null,
    resource_type text not null,
    resource_id   text not null,
    summary       text not null,
    first_seen_at timestamptz not null,
    last_seen_at  timestamptz not null,
    occurrences   int not null default 1,
    resolved_at   timestamptz
);
create unique index incidents_one_open on incidents (kind, resource_id) where state = 'open';
