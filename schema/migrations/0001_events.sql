-- The event log: append-only, the source of truth. See DESIGN.md "Event store rules".
create table streams (
    stream_id text primary key,
    version   bigint not null
);

create table events (
    global_position bigint generated always as identity,
    tx_id           xid8 not null default pg_current_xact_id(),
    stream_id       text not null,
    version         bigint not null,
    event_id        uuid not null unique,
    type            text not null,
    schema_version  int not null,
    data            jsonb not null,
    metadata        jsonb not null,
    occurred_at     timestamptz not null,
    primary key (stream_id, version)
);
create index events_commit_order on events (tx_id, global_position);

-- Consumers of the global order and how far each has read.
create table consumer_checkpoints (
    name            text primary key,
    tx_id           xid8 not null,
    global_position bigint not null,
    updated_at      timestamptz not null default now()
);

-- Events may not be changed once written.
create function events_are_immutable() returns trigger language plpgsql as $$
begin
    raise exception 'events are append-only';
end $$;
create trigger events_no_update before update or delete on events
    for each row execute function events_are_immutable();
