-- Backup object names are handed out by looking them up here (under a per-database lock).
create index backups_by_object_key on backups (object_key) where object_key is not null;
