-- Accounts, identities, scoped API keys, sharing, plans and usage.

alter table accounts add column anonymous boolean not null default false;
alter table accounts add column anonymous_secret_hash text;
alter table accounts add column claimed_by uuid;

-- Anonymous users have no email.
alter table users alter column email drop not null;

-- Verified identities (OIDC issuer + subject) that sign in as a user.
create table identities (
    issuer     text not null,
    subject    text not null,
    user_id    uuid not null references users(id),
    linked_at  timestamptz not null,
    primary key (issuer, subject)
);

alter table api_keys add column scope text not null default 'all';
alter table api_keys add column database_ids uuid[] not null default '{}';
alter table api_keys add column replaced_at timestamptz;

-- Collaborators of a database (the owner is its account, not a row here).
create table collaborators (
    database_id uuid not null references databases(id),
    user_id     uuid not null references users(id),
    email       text not null,
    role        text not null,
    added_at    timestamptz not null,
    primary key (database_id, user_id)
);
create index collaborators_by_user on collaborators (user_id);

-- Observations, not projections: written by the API and the usage job, not rebuilt by
-- replay. When a key was last used (throttled), and how big each database is.
create table api_key_usage (
    api_key_id   uuid primary key,
    last_used_at timestamptz not null
);

create table database_usage (
    database_id uuid primary key,
    size_bytes  bigint not null,
    measured_at timestamptz not null
);
