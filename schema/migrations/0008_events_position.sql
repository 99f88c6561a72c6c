-- Events by global position. The audit consumer chains each batch it reads by looking events
-- up by position; without this index every batch scanned the whole log (tens of ms per
-- batch, growing with the log), which under a stream of appends took CPU from the appends.
create unique index events_global_position on events (global_position);
