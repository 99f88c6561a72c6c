-- A stream's version is its last event's, and the primary key (stream_id, version) of
-- `events` is what keeps appends optimistic: an append at a stale version collides with the
-- event already stored there. The per-stream row that repeated it, updated on every append,
-- goes. (A process still running an older binary fails its appends loudly instead of
-- writing around the check.)
drop table streams;
