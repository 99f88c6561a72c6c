//! A hostile tenant against availability: nothing it does in its own database may make
//! another tenant's operation fail, wait or leak, nor leave the platform's own work stuck.
//! Each test plants one of the holes found by trying (issue 21), then checks the victim and
//! the platform. (PgBouncer floods and the lock table: `flood.rs`.)

use std::time::{Duration, Instant};

use integration_tests::{connect, eventually, host_objects, host_superuser, unique_name, Api};
use serde_json::{json, Value};

/// A running database of a new account, and a session in it as its owner.
struct Owned {
    api: Api,
    id: String,
    name: String,
    url: String,
    client: tokio_postgres::Client,
}

async fn owned(label: &str) -> Owned {
    let api = Api::new_user().await;
    let name = unique_name(label);
    let created = api.create_running(&name).await;
    let id = created["id"].as_str().expect("id").to_owned();
    let url = created["connection_string"].as_str().expect("url").to_owned();
    let client = connect(&url).await.expect("the owner connects through PgBouncer");
    Owned { api, id, name, url, client }
}

fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

async fn delete_and_wait(api: &Api, id: &str) -> Value {
    let r = api.delete(&format!("/databases/{id}")).await;
    assert!(r.status == 200 || r.status == 202, "delete: {} {}", r.status, r.body);
    api.wait_operation(r.data()["operation_id"].as_str().expect("op")).await
}

async fn backup_state(api: &Api, db: &str, backup: &str) -> String {
    let r = api.get(&format!("/databases/{db}/backups/{backup}")).await;
    r.data()["state"].as_str().unwrap_or("?").to_owned()
}

async fn wait_backup(api: &Api, db: &str, backup: &str, within: Duration) -> String {
    eventually("the backup to end", within, || async {
        let s = backup_state(api, db, backup).await;
        (s == "succeeded" || s == "failed").then_some(s)
    })
    .await
}

#[tokio::test]
async fn grants_from_another_tenant_do_not_block_a_deletion_or_a_user_removal() {
    let a = owned("granter").await;
    let b = owned("grantee").await;
    let user = b.api.post(&format!("/databases/{}/users", b.id), json!({ "username": "app" })).await;
    user.expect(201);
    let b_user = format!("{}.app", b.name);
    // A grants its objects to B's role and to B's user, as any tenant may (their names are
    // in pg_roles), and default privileges and CONNECT on its own database too.
    for role in [&b.name, &b_user] {
        a.client
            .batch_execute(&format!(
                "CREATE TABLE IF NOT EXISTS public.shared (x int);
                 GRANT SELECT ON public.shared TO {r};
                 ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO {r};
                 GRANT CONNECT ON DATABASE {db} TO {r};",
                r = ident(role),
                db = ident(&a.name),
            ))
            .await
            .expect("a tenant grants to another tenant's roles");
    }
    // A third tenant grants to B and then stops its database, which closes it to connections
    // (`ALLOW_CONNECTIONS false`): nobody can go in and revoke the grant.
    let c = owned("closer").await;
    c.client
        .batch_execute(&format!("CREATE TABLE public.bait (x int); GRANT SELECT ON public.bait TO {};", ident(&b.name)))
        .await
        .expect("a grant");
    let stopped = c.api.lifecycle(&c.id, "stop").await;
    assert_eq!(stopped["state"], "stopped", "{stopped}");
    // And A keeps its table locked while B goes: the release may not wait on A for ever.
    let holder = connect(&a.url).await.expect("a second session");
    holder.batch_execute("BEGIN; LOCK TABLE public.shared IN ACCESS EXCLUSIVE MODE").await.expect("lock");

    let started = Instant::now();
    b.api.delete(&format!("/databases/{}/users/app", b.id)).await.expect(204);
    assert_eq!(host_objects(&b_user).await.0, 0, "the user's role is gone");
    let op = delete_and_wait(&b.api, &b.id).await;
    assert_eq!(op["state"], "succeeded", "{op}");
    assert!(started.elapsed() < Duration::from_secs(45), "took {:?}", started.elapsed());
    assert_eq!(host_objects(&b.name).await, (0, 0), "B's role and database are gone from the host");
    // The name can be used again at once.
    let again = b.api.create_running(&b.name).await;
    assert_eq!(again["name"], b.name.as_str());
    // A is unharmed: its database serves, its table is there.
    drop(holder);
    let client = connect(&a.url).await.expect("A still connects");
    let n: i64 = client.query_one("select count(*) from public.shared", &[]).await.expect("A's table").get(0);
    assert_eq!(n, 0);
    assert_eq!(a.api.get(&format!("/databases/{}", a.id)).await.data()["state"], "running");
    // What C's grant kept from being dropped was renamed away: it can log in nowhere.
    let host = host_superuser().await;
    let gone: Vec<bool> = host
        .query(
            "select rolcanlogin from pg_roles where shobj_description(oid, 'pg_authid') like 'berth:gone:%'
               and oid in (select refobjid from pg_shdepend where dbid = (select oid from pg_database where datname = $1))",
            &[&c.name],
        )
        .await
        .expect("q")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(gone, [false], "one renamed role, without login");
}

#[tokio::test]
async fn a_database_marked_a_template_by_its_tenant_is_still_deleted() {
    let t = owned("template").await;
    t.client.batch_execute(&format!("ALTER DATABASE {} IS_TEMPLATE true", ident(&t.name))).await.expect("is_template");
    drop(t.client);
    let op = delete_and_wait(&t.api, &t.id).await;
    assert_eq!(op["state"], "succeeded", "{op}");
    assert_eq!(host_objects(&t.name).await, (0, 0), "nothing is left on the host");
}

#[tokio::test]
async fn settings_a_tenant_puts_on_its_database_and_role_do_not_reach_the_platforms_sessions() {
    let t = owned("settings").await;
    t.api.post(&format!("/databases/{}/users", t.id), json!({ "username": "writer" })).await.expect(201);
    t.client
        .batch_execute(
            "CREATE TABLE public.facts (id int primary key, at timestamptz, f float8, b bytea, m money, d date);
             INSERT INTO public.facts
               SELECT g, '2026-01-02 03:04:05.678+00'::timestamptz + g * interval '1 hour', g / 7.0,
                      pg_catalog.decode(pg_catalog.md5(g::text), 'hex'), g * 1.25, date '2026-03-04' + g
               FROM pg_catalog.generate_series(1, 200) g;",
        )
        .await
        .expect("data");
    let db = ident(&t.name);
    let user_lit = format!("'{}'", format!("{}.writer", t.name).replace('\'', "''"));
    // Settings every later session of the database and of the role inherits, unless pinned.
    t.client
        .batch_execute(&format!(
            "ALTER DATABASE {db} SET default_transaction_read_only = on;
             ALTER DATABASE {db} SET lock_timeout = '1ms';
             ALTER DATABASE {db} SET idle_in_transaction_session_timeout = '1ms';
             ALTER ROLE CURRENT_USER SET role = {user_lit};
             ALTER ROLE CURRENT_USER SET statement_timeout = '1ms';"
        ))
        .await
        .expect("settings");
    let backup = t.api.post(&format!("/databases/{}/backups", t.id), json!({})).await;
    backup.expect(202);
    let bid = backup.data()["id"].as_str().expect("id").to_owned();
    assert_eq!(wait_backup(&t.api, &t.id, &bid, Duration::from_secs(60)).await, "succeeded");
    // Between the backup and its verification the tenant changes how values print: a
    // checksum taken under its settings would no longer match.
    t.client
        .batch_execute(&format!(
            "ALTER DATABASE {db} SET TimeZone = 'Asia/Tokyo';
             ALTER DATABASE {db} SET DateStyle = 'German, DMY';
             ALTER DATABASE {db} SET extra_float_digits = -10;
             ALTER DATABASE {db} SET bytea_output = 'escape';
             ALTER DATABASE {db} SET quote_all_identifiers = on;"
        ))
        .await
        .expect("more settings");
    let r = t.api.post(&format!("/databases/{}/backups/{bid}/verify", t.id), json!({})).await;
    r.expect(202);
    let op = t.api.wait_operation(r.data()["operation_id"].as_str().expect("op")).await;
    assert_eq!(op["state"], "succeeded", "{op}");
    let checked = t.api.get(&format!("/databases/{}/backups/{bid}", t.id)).await;
    assert_eq!(checked.data()["verified_ok"], true, "{}", checked.body);
    // Removing the user hands its objects over inside the database: not read-only for us.
    let removed = t.api.delete(&format!("/databases/{}/users/writer", t.id)).await;
    removed.expect(204);
    assert_eq!(host_objects(&format!("{}.writer", t.name)).await.0, 0, "the user's role is gone");
}

#[tokio::test]
async fn a_tenant_stalling_its_own_backups_holds_up_no_other_account() {
    let hostile = owned("stall").await;
    // A table it keeps locked from another session: every backup of it waits for the lock.
    hostile
        .client
        .batch_execute("CREATE TABLE public.locked (x int); INSERT INTO public.locked VALUES (1);")
        .await
        .expect("planting");
    let holder = connect(&hostile.url).await.expect("a second session");
    holder.batch_execute("BEGIN; LOCK TABLE public.locked IN ACCESS EXCLUSIVE MODE").await.expect("lock");
    // As many as the test platform allows a day (`manual_backups_per_day` = 4 there): before
    // the lanes they filled every job slot of the worker, waiting for ever.
    let mut stalled = Vec::new();
    for _ in 0..4 {
        let r = hostile.api.post(&format!("/databases/{}/backups", hostile.id), json!({})).await;
        r.expect(202);
        stalled.push(r.data()["id"].as_str().expect("id").to_owned());
    }
    // Meanwhile another account creates a database (ready within the create wait: 201) and
    // backs it up.
    let other = Api::new_user().await;
    let started = Instant::now();
    let created = other.create_database(&unique_name("neighbour")).await;
    assert_eq!(created.status, 201, "another account's create waited: {} {}", created.status, created.body);
    let other_id = created.data()["id"].as_str().expect("id").to_owned();
    let r = other.post(&format!("/databases/{other_id}/backups"), json!({})).await;
    r.expect(202);
    let theirs = r.data()["id"].as_str().expect("id").to_owned();
    assert_eq!(wait_backup(&other, &other_id, &theirs, Duration::from_secs(30)).await, "succeeded");
    let took = started.elapsed();
    let still: Vec<String> =
        futures::future::join_all(stalled.iter().map(|b| backup_state(&hostile.api, &hostile.id, b))).await;
    assert!(
        still.iter().all(|s| s == "pending" || s == "running"),
        "the hostile backups were still stalled while the other account worked: {still:?}"
    );
    assert!(took < Duration::from_secs(10), "another account's create and backup took {took:?}");
    // Once the tenant lets go, its backups go through (each attempt waited 10 s at most).
    drop(holder);
    for b in &stalled {
        assert_eq!(wait_backup(&hostile.api, &hostile.id, b, Duration::from_secs(120)).await, "succeeded");
    }
}

#[tokio::test]
async fn a_row_security_policy_that_waits_cannot_hold_a_backup() {
    let hostile = owned("policy").await;
    hostile
        .client
        .batch_execute(
            "CREATE FUNCTION public.slow() RETURNS boolean LANGUAGE sql AS 'select pg_catalog.pg_sleep(3600) is null';
             CREATE TABLE public.\"ops: call 555-0100 now\" (x int);
             INSERT INTO public.\"ops: call 555-0100 now\" VALUES (1);
             ALTER TABLE public.\"ops: call 555-0100 now\" ENABLE ROW LEVEL SECURITY;
             ALTER TABLE public.\"ops: call 555-0100 now\" FORCE ROW LEVEL SECURITY;
             CREATE POLICY wait ON public.\"ops: call 555-0100 now\" USING (public.slow());",
        )
        .await
        .expect("planting");
    let r = hostile.api.post(&format!("/databases/{}/backups", hostile.id), json!({})).await;
    r.expect(202);
    let id = r.data()["id"].as_str().expect("id").to_owned();
    // A table its role may not read whole cannot be backed up (pg_dump refuses it too): the
    // backup fails at once, on every attempt, instead of running the policy's function.
    let started = Instant::now();
    assert_eq!(wait_backup(&hostile.api, &hostile.id, &id, Duration::from_secs(60)).await, "failed");
    assert!(started.elapsed() < Duration::from_secs(30), "took {:?}", started.elapsed());
    let busy: i64 = host_superuser()
        .await
        .query_one(
            "select count(*) from pg_stat_activity where datname = $1 and application_name like 'berth%'",
            &[&hostile.name],
        )
        .await
        .expect("q")
        .get(0);
    assert_eq!(busy, 0, "no session of the platform is left in the tenant's database");
    // The incident operators read says what failed, in the platform's words only: nothing the
    // tenant wrote (its table's name here) reaches it.
    let admin = Api::new(Some(&integration_tests::app().admin_key));
    let incidents = admin.get(&format!("/admin/incidents?kind=backup_failed&resource={}", hostile.id)).await;
    incidents.expect(200);
    let listed = incidents.data().as_array().expect("a list").clone();
    assert!(!listed.is_empty(), "the failed backup opened an incident: {}", incidents.body);
    assert!(!incidents.body.to_string().contains("555-0100"), "tenant text in an incident: {}", incidents.body);
}

#[tokio::test]
async fn warnings_a_restore_prints_do_not_wedge_it() {
    let t = owned("noisy").await;
    // Every row restored runs a check that prints a 8 kB warning: far more than a pipe holds.
    t.client
        .batch_execute(
            "CREATE FUNCTION public.noisy(x int) RETURNS boolean LANGUAGE plpgsql AS $f$
               BEGIN RAISE WARNING '%', pg_catalog.repeat('w', 8192); RETURN true; END $f$;
             CREATE TABLE public.t (x int CHECK (public.noisy(x)));
             INSERT INTO public.t SELECT pg_catalog.generate_series(1, 300);",
        )
        .await
        .expect("planting");
    let target = unique_name("noisy-branch");
    let r = t.api.post(&format!("/databases/{}/branch", t.id), json!({ "name": target })).await;
    assert!(r.status == 201 || r.status == 202, "branch: {} {}", r.status, r.body);
    let branch = r.data()["id"].as_str().expect("id").to_owned();
    t.api.wait_state(&branch, "running").await;
    let copy = connect(r.data()["connection_string"].as_str().expect("url")).await.expect("the branch connects");
    let n: i64 = copy.query_one("select count(*) from public.t", &[]).await.expect("count").get(0);
    assert_eq!(n, 300);
}

#[tokio::test]
async fn a_verification_copy_the_tenant_marks_and_fills_is_still_removed() {
    let t = owned("verifycopy").await;
    // Code that runs only in a verification copy: marks it a template and fills it.
    t.client
        .batch_execute(
            "CREATE TABLE public.junk (x text);
             CREATE FUNCTION public.sneaky(x int) RETURNS boolean LANGUAGE plpgsql AS $f$
               BEGIN
                 IF pg_catalog.current_database() OPERATOR(pg_catalog.~~) 'berth-verify-%' THEN
                   EXECUTE pg_catalog.format('ALTER DATABASE %I IS_TEMPLATE true', pg_catalog.current_database());
                   EXECUTE pg_catalog.format('ALTER DATABASE %I CONNECTION LIMIT 0', pg_catalog.current_database());
                   INSERT INTO public.junk SELECT pg_catalog.repeat('j', 1000) FROM pg_catalog.generate_series(1, 2000);
                 END IF;
                 RETURN true;
               END $f$;
             CREATE TABLE public.t (x int CHECK (public.sneaky(x)));
             INSERT INTO public.t VALUES (1);",
        )
        .await
        .expect("planting");
    let backup = t.api.post(&format!("/databases/{}/backups", t.id), json!({})).await;
    let bid = backup.data()["id"].as_str().expect("id").to_owned();
    assert_eq!(wait_backup(&t.api, &t.id, &bid, Duration::from_secs(60)).await, "succeeded");
    let r = t.api.post(&format!("/databases/{}/backups/{bid}/verify", t.id), json!({})).await;
    r.expect(202);
    t.api.wait_operation(r.data()["operation_id"].as_str().expect("op")).await;
    let host = host_superuser().await;
    let left: i64 = host
        .query_one(
            "select count(*) from pg_database where datname like 'berth-verify-%' and pg_get_userbyid(datdba) = $1",
            &[&t.name],
        )
        .await
        .expect("q")
        .get(0);
    assert_eq!(left, 0, "the scratch copy is gone");
    drop(t.client);
    let op = delete_and_wait(&t.api, &t.id).await;
    assert_eq!(op["state"], "succeeded", "{op}");
    assert_eq!(host_objects(&t.name).await, (0, 0));
}

#[tokio::test]
async fn a_password_changed_behind_the_platforms_back_is_repaired_by_a_reset() {
    let t = owned("selfpw").await;
    t.client
        .batch_execute(&format!("ALTER ROLE {} PASSWORD 'changed-behind-our-back-0123'", ident(&t.name)))
        .await
        .expect("alter password");
    drop(t.client);
    let r = t.api.post(&format!("/databases/{}/reset-password", t.id), json!({})).await;
    assert!(r.status == 200 || r.status == 202, "reset: {} {}", r.status, r.body);
    let url = r.data()["connection_string"].as_str().expect("url").to_owned();
    let client = integration_tests::wait_login(&url).await;
    client.simple_query("select 1").await.expect("the new password works through PgBouncer");
    let backup = t.api.post(&format!("/databases/{}/backups", t.id), json!({})).await;
    let bid = backup.data()["id"].as_str().expect("id").to_owned();
    assert_eq!(wait_backup(&t.api, &t.id, &bid, Duration::from_secs(60)).await, "succeeded");
}
