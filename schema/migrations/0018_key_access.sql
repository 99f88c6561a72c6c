-- Per-database access of selected-databases API keys: the databases listed here (a subset of
-- `database_ids`) the key reaches read-only (`ro`); the others stay `rw`, as every key made
-- before access levels existed.
alter table api_keys add column read_only_ids uuid[] not null default '{}';
