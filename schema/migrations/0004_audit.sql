-- Activity gets its `seq` from the audit consumer, in commit order: `global_position` is
-- handed out before commit, so paging by it could skip an entry that commits late. A row
-- is projected with the event (seq null, not yet listed) and listed once sequenced.
alter table activity alter column seq drop not null;
-- Renumber what earlier versions projected, in commit order, as the consumer would have.
update activity a set seq = r.n
from (select e.event_id, row_number() over (order by e.tx_id, e.global_position) as n
      from events e join activity x on x.event_id = e.event_id) r
where a.event_id = r.event_id;
create unique index activity_seq on activity (seq);

-- The tamper-evident hash chain over the committed order, written by the audit consumer:
-- hash = sha256(prev_hash || canonical event), link `seq` counts from 1.
create table event_chain (
    seq             bigint primary key,
    global_position bigint not null unique,
    event_id        uuid not null,
    prev_hash       text not null,
    hash            text not null
);

-- Listing incidents by kind and state (the admin filters, the open-incidents gauge).
create index incidents_by_kind on incidents (kind, state);
