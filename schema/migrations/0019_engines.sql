-- The engine each tenant host serves. Hosts registered before engines are PostgreSQL (their
-- events carry no engine, and read as `postgres`).
alter table hosts add column engine text not null default 'postgres';
