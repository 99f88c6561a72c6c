//! Varied data to back up and restore, and a table-by-table fingerprint of a database to
//! compare a copy with its original.

use std::collections::BTreeMap;

use crate::engine::{maria_opts, Conn, Engine};
use crate::maria::MysqlUrl;

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

/// The tables the varied data of each engine puts its bulk rows in, and its view of them.
pub fn orders_table(engine: Engine) -> &'static str {
    match engine {
        Engine::Postgres => "sales.orders",
        Engine::MariaDb => "orders",
    }
}

/// How a dump of the varied data writes the bulk table's `CREATE TABLE`.
pub fn orders_in_dump(engine: Engine) -> &'static str {
    match engine {
        Engine::Postgres => "CREATE TABLE \"sales\".\"orders\"",
        Engine::MariaDb => "CREATE TABLE `orders`",
    }
}

/// [`fill_varied`] for a database of either engine, through its connection string; for
/// MariaDB [`fill_varied_maria`].
pub async fn fill(conn: &Conn, rows: i64) -> Result<(), String> {
    match conn.engine {
        Engine::Postgres => {
            let c = crate::connect(&conn.url).await.map_err(|e| crate::error_text(&e))?;
            fill_varied(&c, rows).await.map_err(|e| crate::error_text(&e))
        }
        Engine::MariaDb => {
            let mut c =
                mysql_async::Conn::new(maria_opts(&MysqlUrl::parse(&conn.url))).await.map_err(|e| e.to_string())?;
            fill_varied_maria(&mut c, rows).await.map_err(|e| e.to_string())
        }
    }
}

/// [`fingerprint`] for either engine; for MariaDB [`fingerprint_maria`].
pub async fn fingerprint_of(conn: &Conn) -> BTreeMap<String, String> {
    match conn.engine {
        Engine::Postgres => {
            let c = crate::connect(&conn.url).await.expect("connects");
            fingerprint(&c).await.expect("a fingerprint")
        }
        Engine::MariaDb => {
            let mut c = mysql_async::Conn::new(maria_opts(&MysqlUrl::parse(&conn.url))).await.expect("connects");
            fingerprint_maria(&mut c).await.expect("a fingerprint")
        }
    }
}

/// MariaDB's varied data: unicode in utf8mb4 (4-byte characters too), blobs (one of 50 KB),
/// exact decimals, JSON, dates at the edges, fractional seconds, SET and ENUM, NULLs, a
/// foreign key, auto-increment counters, a prefix index, a view, a trigger, a function and
/// awkward identifiers. `rows` scales the bulk table.
pub async fn fill_varied_maria(c: &mut mysql_async::Conn, rows: i64) -> Result<(), mysql_async::Error> {
    use mysql_async::prelude::Queryable;
    c.query_drop(
        r#"
        CREATE TABLE customers (
            id BIGINT AUTO_INCREMENT PRIMARY KEY,
            name VARCHAR(100) NOT NULL,
            note TEXT,
            balance DECIMAL(20, 6),
            photo LONGBLOB,
            profile JSON,
            born DATE,
            seen DATETIME(6),
            ratio DOUBLE,
            flags SET('a', 'b', 'c'),
            kind ENUM('x', 'y z')
        ) DEFAULT CHARSET = utf8mb4;
        CREATE INDEX customers_name ON customers (name(20));
        INSERT INTO customers (name, note, balance, photo, profile, born, seen, ratio, flags, kind) VALUES
            ('Zoë Ωmega', 'naïve café — 東京 🚀', 12345678901234.123456, X'00ff10deadbeef', '{"a": [1, 2, {"b": null}]}',
             '1970-01-01', '2024-02-29 23:59:59.999999', 0.1, 'a,c', 'y z'),
            ('O''Brien', NULL, -0.000001, '', '{}', NULL, NULL, -1e308, '', 'x'),
            ('tab	newline
             end', 'back\\slash', 0, REPEAT(X'ab', 50000), CONCAT('{"big": "', REPEAT('x', 100000), '"}'),
             '1000-01-01', '9999-12-31 23:59:59', NULL, NULL, NULL);
        CREATE TABLE orders (
            id INT AUTO_INCREMENT PRIMARY KEY,
            customer_id BIGINT,
            amount DECIMAL(20, 2) NOT NULL,
            body TEXT,
            FOREIGN KEY (customer_id) REFERENCES customers (id)
        );
        CREATE TABLE `Mixed Case Table` (`Weird "col"` TEXT, `back``tick` INT UNIQUE);
        INSERT INTO `Mixed Case Table` VALUES ('quoted "name"', 1), (NULL, 2);
        CREATE VIEW big_orders AS SELECT id, amount FROM orders WHERE amount > 100;
        CREATE TABLE order_log (order_id INT);
        CREATE TRIGGER logged AFTER INSERT ON orders FOR EACH ROW INSERT INTO order_log VALUES (NEW.id);
        CREATE FUNCTION doubled(x INT) RETURNS INT DETERMINISTIC RETURN x * 2;
        "#,
    )
    .await?;
    c.query_drop(format!(
        "INSERT INTO orders (customer_id, amount, body)
         SELECT 1 + seq % 3, seq * 1.25, CONCAT(MD5(seq), REPEAT(MD5(seq * 7), 1 + seq % 40)) FROM seq_1_to_{rows}"
    ))
    .await
}

/// MariaDB's fingerprint: per table its columns, row count and `CHECKSUM TABLE`, its
/// auto-increment counter and indexes; views, triggers and routines by their definitions
/// (the database's own name taken out, as a copy has another; routines by their signature).
pub async fn fingerprint_maria(c: &mut mysql_async::Conn) -> Result<BTreeMap<String, String>, mysql_async::Error> {
    use mysql_async::prelude::Queryable;
    let mut out = BTreeMap::new();
    let db: String = c.query_first("SELECT DATABASE()").await?.unwrap_or_default();
    let unnamed = |s: String| s.replace(&format!("`{db}`."), "");
    let tables: Vec<(String, mysql_async::Value)> = c
        .query(
            "SELECT TABLE_NAME, AUTO_INCREMENT FROM information_schema.TABLES
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' ORDER BY 1",
        )
        .await?;
    for (table, counter) in tables {
        let quoted = format!("`{}`", table.replace('`', "``"));
        let rows: Option<i64> = c.query_first(format!("SELECT COUNT(*) FROM {quoted}")).await?;
        let sums: Vec<(String, mysql_async::Value)> = c.query(format!("CHECKSUM TABLE {quoted}")).await?;
        let columns: Vec<String> = c
            .exec(
                "SELECT CONCAT_WS(' ', COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, IFNULL(COLUMN_DEFAULT, '-'), EXTRA)
                 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?
                 ORDER BY ORDINAL_POSITION",
                (&table,),
            )
            .await?;
        let sum = sums.first().map(|s| s.1.as_sql(true));
        out.insert(
            format!("table {table}"),
            format!("{columns:?} rows {rows:?} checksum {sum:?} next {}", counter.as_sql(true)),
        );
    }
    // Each kind of object: its name and what defines it.
    let kinds = [
        (
            "index",
            "SELECT CONCAT(TABLE_NAME, '.', INDEX_NAME),
                    GROUP_CONCAT(CONCAT_WS(' ', COLUMN_NAME, IFNULL(SUB_PART, ''), NON_UNIQUE) ORDER BY SEQ_IN_INDEX)
             FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() GROUP BY 1",
        ),
        ("view", "SELECT TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS WHERE TABLE_SCHEMA = DATABASE()"),
        (
            "trigger",
            "SELECT TRIGGER_NAME, CONCAT_WS(' ', ACTION_TIMING, EVENT_MANIPULATION, EVENT_OBJECT_TABLE, ACTION_STATEMENT)
             FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()",
        ),
        // The signature: MariaDB 10.11 shows a body to its definer only, and a copy's
        // objects are defined by the login's socket account (README, "MariaDB").
        (
            "routine",
            "SELECT ROUTINE_NAME, CONCAT_WS(' ', ROUTINE_TYPE, DTD_IDENTIFIER, IS_DETERMINISTIC, SQL_DATA_ACCESS)
             FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE()",
        ),
    ];
    for (kind, sql) in kinds {
        let found: Vec<(String, String)> = c.query(sql).await?;
        out.extend(found.into_iter().map(|(k, v)| (format!("{kind} {k}"), unnamed(v))));
    }
    Ok(out)
}
