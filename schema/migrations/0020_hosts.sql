-- Hosts carry a placement region and a state (ready, cordoned, draining, removed); hosts
-- registered before have the default region and are ready.
alter table hosts add column region text not null default 'default';
alter table hosts add column state text not null default 'ready';

-- What the watchdog last saw of each host: an observation, not a read model (nothing in
-- the event log says it, replay does not rebuild it).
create table host_status (
    host_id      uuid primary key references hosts(id),
    reachable    boolean not null,
    version      text,
    free_bytes   bigint,
    checked_at   timestamptz not null,
    last_seen_at timestamptz
);
