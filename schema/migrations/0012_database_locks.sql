-- Why the platform holds a running database locked (no client may connect), or null.
alter table databases add column locked_reason text;
