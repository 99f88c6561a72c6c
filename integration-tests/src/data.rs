//! Varied data to back up and restore, and a table-by-table fingerprint of a database to
//! compare a copy with its original.

use std::collections::BTreeMap;

/// Fills the connected database with what a round trip must carry: several schemas, unicode,
/// bytea, numeric, json/jsonb, large rows (TOASTed), sequences, identity columns, indexes,
/// views, NULLs and awkward identifiers. `rows` scales the bulk table.
pub async fn fill_varied(c: &tokio_postgres::Client, rows: i64) -> Result<(), tokio_postgres::Error> {
    c.batch_execute(
        r#"
        create schema sales;
        create schema "Odd Schema";
        create sequence public.invoice_no start 1000 increment 7;
        create table public.customers (
            id bigint generated always as identity primary key,
            name text not null,
            note text,
            balance numeric(20, 6),
            photo bytea,
            profile jsonb,
            raw json,
            born date,
            seen timestamptz,
            ratio double precision,
            tags text[]
        );
        create index customers_name on public.customers (lower(name));
        insert into public.customers (name, note, balance, photo, profile, raw, born, seen, ratio, tags) values
            ('Zoë Ωmega', 'naïve café — 東京 🚀', 12345678901234.123456, '\x00ff10deadbeef', '{"a": [1, 2, {"b": null}]}',
             '{"k":  "spaces kept"}', '1970-01-01', '2024-02-29 23:59:59.999999+00', 0.1, '{x,"y z",NULL}'),
            ('O''Brien', null, -0.000001, '', '{}', '[]', null, null, 'NaN', '{}'),
            ('tab	newline
             end', E'back\\slash', 0, decode(repeat('ab', 50000), 'hex'), ('{"big": "' || repeat('x', 100000) || '"}')::jsonb,
             'null', '2000-12-31', 'infinity', '-Infinity', null);
        create table sales.orders (
            id serial primary key,
            customer_id bigint references public.customers (id),
            invoice bigint default nextval('public.invoice_no'),
            amount numeric not null,
            body text
        );
        create table "Odd Schema"."Mixed Case Table" ("Weird ""col""" text, n int unique);
        insert into "Odd Schema"."Mixed Case Table" values ('quoted "name"', 1), (null, 2);
        create view sales.big_orders as select id, amount from sales.orders where amount > 100;
        create materialized view sales.totals as select customer_id, sum(amount) as total from sales.orders group by 1;
        "#,
    )
    .await?;
    c.execute(
        "insert into sales.orders (customer_id, amount, body)
         select 1 + g % 3, (g * 1.25)::numeric, md5(g::text) || repeat(md5((g * 7)::text), (1 + g % 40)::int)
         from generate_series(1, $1::bigint) g",
        &[&rows],
    )
    .await?;
    c.batch_execute("refresh materialized view sales.totals; select nextval('public.invoice_no');").await?;
    Ok(())
}

/// Every user table's rows (as an ordered digest), every sequence's position, and the
/// database's views and indexes: equal fingerprints mean equal databases, for our purposes.
pub async fn fingerprint(c: &tokio_postgres::Client) -> Result<BTreeMap<String, String>, tokio_postgres::Error> {
    let mut out = BTreeMap::new();
    let tables = c
        .query(
            "select format('%I.%I', schemaname, tablename) from pg_tables
             where schemaname not in ('pg_catalog', 'information_schema') order by 1",
            &[],
        )
        .await?;
    for t in tables {
        let table: String = t.get(0);
        let row = c
            .query_one(
                &format!("select count(*)::text || ':' || coalesce(md5(string_agg(t::text, '|' order by t::text)), '') from {table} t"),
                &[],
            )
            .await?;
        out.insert(format!("table {table}"), row.get(0));
    }
    for r in c.query("select format('%I.%I', schemaname, sequencename), last_value from pg_sequences", &[]).await? {
        out.insert(format!("sequence {}", r.get::<_, String>(0)), format!("{:?}", r.get::<_, Option<i64>>(1)));
    }
    for r in c
        .query(
            "select format('%I.%I', schemaname, viewname), definition from pg_views
             where schemaname not in ('pg_catalog', 'information_schema')
             union all
             select format('%I.%I', schemaname, matviewname), definition from pg_matviews",
            &[],
        )
        .await?
    {
        out.insert(format!("view {}", r.get::<_, String>(0)), r.get(1));
    }
    for r in c
        .query(
            "select format('%I.%I', schemaname, indexname), indexdef from pg_indexes
             where schemaname not in ('pg_catalog', 'information_schema')",
            &[],
        )
        .await?
    {
        out.insert(format!("index {}", r.get::<_, String>(0)), r.get(1));
    }
    Ok(out)
}
