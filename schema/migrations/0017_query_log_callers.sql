-- The per-query audit names who ran a data-API request: its key and its JWT's subject
-- (projected from `QueryRan`; rows of older records have neither).
alter table query_log add column data_key_id text, add column subject text;
