-- The platform admins' accounts list counts each page's owners and live keys by account.
create index if not exists users_account on users (account_id);
create index if not exists api_keys_live_account on api_keys (account_id) where revoked_at is null;
