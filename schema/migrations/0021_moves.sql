-- A database moved off a host leaves a forward there: that host's pooler keeps serving the
-- database's name by passing its clients on to the host the database is on now, so the
-- connection strings users hold keep working. One row per (database, old host); a move
-- back to an old host removes its forward; a deleted database's forwards are served by no
-- pooler (its state says so) and stay as its history.
create table database_forwards (
    database_id  uuid not null references databases(id),
    from_host_id uuid not null references hosts(id),
    to_host_id   uuid not null references hosts(id),
    created_at   timestamptz not null,
    primary key (database_id, from_host_id)
);
create index database_forwards_by_host on database_forwards (from_host_id);

-- Set while a move has not switched yet: the database's pooler keeps its clients out.
alter table databases add column moving_to uuid references hosts(id);
