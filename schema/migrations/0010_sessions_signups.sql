-- Session tokens ended before their expiry (logout), projected from `SessionEnded`: the API
-- refuses a token whose id is here. Rows past `expires_at` no longer matter (the token is
-- refused as expired anyway).
create table ended_sessions (
    session_id uuid primary key,
    account_id uuid not null,
    user_id    uuid not null,
    expires_at timestamptz not null,
    ended_at   timestamptz not null
);

-- A keyed hash of the address an anonymous account signed up from: what the per-address
-- sign-up rate counts (under an advisory lock on the hash, so API processes agree).
alter table accounts add column signup_source text;
create index accounts_signup_source on accounts (signup_source, created_at) where signup_source is not null;
