//! The catalog query that fills [`crate::SchemaCache`].
//!
//! The tenant owns everything in its database and may create operators, functions and casts
//! in any schema on its search path. So this query names every function `pg_catalog.`-
//! qualified, compares with `OPERATOR(pg_catalog.=)`, casts to `pg_catalog.` types, and
//! reads only `pg_catalog` relations: nothing in it can resolve to an object the tenant made.
//! `ORDER BY`/`GROUP BY` use the default btree operator class of built-in types, which is not
//! looked up by name. Simple `CASE x WHEN`, `NULLIF` and `IN (...)` resolve `=` by name, so
//! they are avoided; `coalesce` is syntax, not a function.
//!
//! It takes one parameter, the schemas to load as a text array (see [`catalog_params`]),
//! and returns one row with one `text` column: the JSON document [`crate::CatalogDocument`].

/// Run with [`catalog_params`]; feed the single text cell to `SchemaCache::from_json`.
pub const CATALOG_QUERY: &str = r#"
WITH pgrst_schemas AS (
  SELECT n.oid, n.nspname
  FROM pg_catalog.pg_namespace n
  WHERE n.nspname::pg_catalog.text OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.text[])
),
pgrst_rels AS (
  SELECT c.oid, s.nspname, c.relname, c.relkind
  FROM pg_catalog.pg_class c
  JOIN pgrst_schemas s ON s.oid OPERATOR(pg_catalog.=) c.relnamespace
  WHERE c.relkind OPERATOR(pg_catalog.=) ANY ('{r,v,m,f,p}'::pg_catalog."char"[])
),
pgrst_keys AS (
  SELECT con.conrelid, con.contype, con.oid AS conoid,
    pg_catalog.array_agg(a.attname::pg_catalog.text ORDER BY k.ord) AS cols
  FROM pg_catalog.pg_constraint con
  CROSS JOIN LATERAL pg_catalog.unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
  JOIN pg_catalog.pg_attribute a
    ON a.attrelid OPERATOR(pg_catalog.=) con.conrelid AND a.attnum OPERATOR(pg_catalog.=) k.attnum
  WHERE con.contype OPERATOR(pg_catalog.=) ANY ('{p,u}'::pg_catalog."char"[])
    AND con.conrelid OPERATOR(pg_catalog.=) ANY (SELECT r.oid FROM pgrst_rels r)
  GROUP BY con.conrelid, con.contype, con.oid
),
pgrst_tables AS (
  SELECT pg_catalog.json_agg(pg_catalog.json_build_object(
    'schema', r.nspname,
    'name', r.relname,
    'columns', coalesce((
      SELECT pg_catalog.json_agg(pg_catalog.json_build_object(
        'name', a.attname,
        'pg_type', pg_catalog.format_type(a.atttypid, a.atttypmod),
        'type_schema', (
          SELECT tn.nspname FROM pg_catalog.pg_type ty
          JOIN pg_catalog.pg_namespace tn ON tn.oid OPERATOR(pg_catalog.=) ty.typnamespace
          WHERE ty.oid OPERATOR(pg_catalog.=) a.atttypid),
        'nullable', NOT a.attnotnull,
        'has_default', a.atthasdef OR a.attidentity OPERATOR(pg_catalog.<>) ''::pg_catalog."char",
        'generated', a.attgenerated OPERATOR(pg_catalog.<>) ''::pg_catalog."char"
      ) ORDER BY a.attnum)
      FROM pg_catalog.pg_attribute a
      WHERE a.attrelid OPERATOR(pg_catalog.=) r.oid
        AND a.attnum OPERATOR(pg_catalog.>) 0::pg_catalog.int2 AND NOT a.attisdropped
    ), '[]'::pg_catalog.json),
    'primary_key', coalesce((
      SELECT pg_catalog.to_json(k.cols) FROM pgrst_keys k
      WHERE k.conrelid OPERATOR(pg_catalog.=) r.oid AND k.contype OPERATOR(pg_catalog.=) 'p'::pg_catalog."char"
    ), '[]'::pg_catalog.json),
    'unique_keys', coalesce((
      SELECT pg_catalog.json_agg(k.cols ORDER BY k.conoid) FROM pgrst_keys k
      WHERE k.conrelid OPERATOR(pg_catalog.=) r.oid
    ), '[]'::pg_catalog.json),
    'insertable', r.relkind OPERATOR(pg_catalog.=) ANY ('{r,p}'::pg_catalog."char"[])
      OR (pg_catalog.pg_relation_is_updatable(r.oid::pg_catalog.regclass, true)
          OPERATOR(pg_catalog.&) 8) OPERATOR(pg_catalog.=) 8,
    'updatable', r.relkind OPERATOR(pg_catalog.=) ANY ('{r,p}'::pg_catalog."char"[])
      OR (pg_catalog.pg_relation_is_updatable(r.oid::pg_catalog.regclass, true)
          OPERATOR(pg_catalog.&) 4) OPERATOR(pg_catalog.=) 4,
    'deletable', r.relkind OPERATOR(pg_catalog.=) ANY ('{r,p}'::pg_catalog."char"[])
      OR (pg_catalog.pg_relation_is_updatable(r.oid::pg_catalog.regclass, true)
          OPERATOR(pg_catalog.&) 16) OPERATOR(pg_catalog.=) 16
  ) ORDER BY r.nspname, r.relname) AS doc
  FROM pgrst_rels r
),
pgrst_fkeys AS (
  SELECT pg_catalog.json_agg(pg_catalog.json_build_object(
    'name', con.conname,
    'schema', r.nspname,
    'table', r.relname,
    'columns', (
      SELECT pg_catalog.json_agg(a.attname ORDER BY k.ord)
      FROM pg_catalog.unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
      JOIN pg_catalog.pg_attribute a
        ON a.attrelid OPERATOR(pg_catalog.=) con.conrelid AND a.attnum OPERATOR(pg_catalog.=) k.attnum),
    'ref_schema', f.nspname,
    'ref_table', f.relname,
    'ref_columns', (
      SELECT pg_catalog.json_agg(a.attname ORDER BY k.ord)
      FROM pg_catalog.unnest(con.confkey) WITH ORDINALITY AS k(attnum, ord)
      JOIN pg_catalog.pg_attribute a
        ON a.attrelid OPERATOR(pg_catalog.=) con.confrelid AND a.attnum OPERATOR(pg_catalog.=) k.attnum)
  ) ORDER BY r.nspname, r.relname, con.conname) AS doc
  FROM pg_catalog.pg_constraint con
  JOIN pgrst_rels r ON r.oid OPERATOR(pg_catalog.=) con.conrelid
  JOIN pgrst_rels f ON f.oid OPERATOR(pg_catalog.=) con.confrelid
  WHERE con.contype OPERATOR(pg_catalog.=) 'f'::pg_catalog."char"
),
pgrst_procs AS (
  SELECT p.oid, s.nspname, p.proname, p.proretset, p.prorettype, p.provolatile,
    p.pronargs, p.pronargdefaults, p.proallargtypes, p.proargmodes, p.proargnames, p.proargtypes
  FROM pg_catalog.pg_proc p
  JOIN pgrst_schemas s ON s.oid OPERATOR(pg_catalog.=) p.pronamespace
  WHERE p.prokind OPERATOR(pg_catalog.=) 'f'::pg_catalog."char"
),
pgrst_args AS (
  SELECT p.oid,
    a.name, a.typ, coalesce(a.mode, 'i'::pg_catalog."char") AS mode, a.idx
  FROM pgrst_procs p
  CROSS JOIN LATERAL ROWS FROM (
    pg_catalog.unnest(coalesce(p.proallargtypes, p.proargtypes::pg_catalog.oid[])),
    pg_catalog.unnest(p.proargmodes),
    pg_catalog.unnest(p.proargnames)
  ) WITH ORDINALITY AS a(typ, mode, name, idx)
),
pgrst_inputs AS (
  SELECT i.*, pg_catalog.row_number() OVER (PARTITION BY i.oid ORDER BY i.idx) AS pos
  FROM pgrst_args i
  WHERE i.mode OPERATOR(pg_catalog.=) ANY ('{i,b,v}'::pg_catalog."char"[])
),
pgrst_functions AS (
  SELECT pg_catalog.json_agg(pg_catalog.json_build_object(
    'schema', p.nspname,
    'name', p.proname,
    'args', coalesce((
      SELECT pg_catalog.json_agg(pg_catalog.json_build_object(
        'name', CASE WHEN i.name OPERATOR(pg_catalog.=) ''::pg_catalog.text THEN NULL ELSE i.name END,
        'pg_type', pg_catalog.format_type(i.typ, NULL),
        'has_default', i.pos OPERATOR(pg_catalog.>) (p.pronargs OPERATOR(pg_catalog.-) p.pronargdefaults)::pg_catalog.int8,
        'variadic', i.mode OPERATOR(pg_catalog.=) 'v'::pg_catalog."char"
      ) ORDER BY i.idx)
      FROM pgrst_inputs i WHERE i.oid OPERATOR(pg_catalog.=) p.oid
    ), '[]'::pg_catalog.json),
    'returns_set', p.proretset,
    'returns', CASE
      WHEN p.prorettype OPERATOR(pg_catalog.=) 2278::pg_catalog.oid
        THEN pg_catalog.json_build_object('kind', 'void')
      WHEN t.typrelid OPERATOR(pg_catalog.<>) 0::pg_catalog.oid
        THEN pg_catalog.json_build_object('kind', 'composite', 'columns', coalesce((
          SELECT pg_catalog.json_agg(a.attname ORDER BY a.attnum)
          FROM pg_catalog.pg_attribute a
          WHERE a.attrelid OPERATOR(pg_catalog.=) t.typrelid
            AND a.attnum OPERATOR(pg_catalog.>) 0::pg_catalog.int2 AND NOT a.attisdropped
        ), '[]'::pg_catalog.json))
      WHEN p.prorettype OPERATOR(pg_catalog.=) 2249::pg_catalog.oid
        THEN pg_catalog.json_build_object('kind', 'composite', 'columns', coalesce((
          SELECT pg_catalog.json_agg(o.name ORDER BY o.idx) FROM pgrst_args o
          WHERE o.oid OPERATOR(pg_catalog.=) p.oid
            AND o.mode OPERATOR(pg_catalog.=) ANY ('{o,b,t}'::pg_catalog."char"[])
        ), '[]'::pg_catalog.json))
      ELSE pg_catalog.json_build_object('kind', 'scalar', 'pg_type', pg_catalog.format_type(p.prorettype, NULL))
    END,
    'volatility', CASE
      WHEN p.provolatile OPERATOR(pg_catalog.=) 'i'::pg_catalog."char" THEN 'immutable'
      WHEN p.provolatile OPERATOR(pg_catalog.=) 's'::pg_catalog."char" THEN 'stable'
      ELSE 'volatile' END
  ) ORDER BY p.nspname, p.proname, p.oid) AS doc
  FROM pgrst_procs p
  JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) p.prorettype
)
SELECT pg_catalog.json_build_object(
  'tables', coalesce((SELECT doc FROM pgrst_tables), '[]'::pg_catalog.json),
  'foreign_keys', coalesce((SELECT doc FROM pgrst_fkeys), '[]'::pg_catalog.json),
  'functions', coalesce((SELECT doc FROM pgrst_functions), '[]'::pg_catalog.json)
)::pg_catalog.text AS catalog
"#;

/// The parameters of [`CATALOG_QUERY`] in PostgreSQL's text format: the schemas to load.
pub fn catalog_params(schemas: &[String]) -> Vec<Option<String>> {
    vec![Some(crate::sql::array_literal(schemas.iter().map(String::as_str)))]
}
