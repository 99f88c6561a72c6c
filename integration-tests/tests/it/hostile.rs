//! A hostile tenant: nothing but an anonymous sign-up, then everything a database owner may do
//! inside its own database to make the platform's SQL run its code — shadowing functions,
//! operators (also on `information_schema`'s domains), aggregates and casts, a database- and
//! role-level `search_path` that puts `public` before `pg_catalog`, triggers, expression
//! indexes, check constraints and defaults. Then every route and job that touches the
//! database runs. Whatever the platform ran, the tenant's role never becomes superuser, no
//! `COPY … TO PROGRAM` runs, and another tenant's database is untouched.

use domain::StreamId;
use std::path::PathBuf;
use std::time::Duration;

use integration_tests::data::{fill_varied, fingerprint};
use integration_tests::{app, connect, eventually, host_superuser, unique_name, Api};
use serde_json::{json, Value};

/// The tenant's payload: called from every shadowing object. As a superuser it makes the
/// tenant's role superuser and runs a shell command that leaves `marker`; as anyone else it
/// does nothing. Each attempt has its own handler, so one refusal does not skip the other.
fn arm_sql(role: &str, marker: &str) -> String {
    let role_ident = format!("\"{}\"", role.replace('"', "\"\""));
    let alter = format!("ALTER ROLE {role_ident} SUPERUSER").replace('\'', "''");
    let copy = format!("COPY (SELECT 1) TO PROGRAM 'touch {marker}'").replace('\'', "''");
    // Operators on (left, right) pairs of the types the platform's queries compare.
    let mut operators = String::new();
    for (i, (left, right)) in [
        ("name", "text"),
        ("information_schema.sql_identifier", "information_schema.sql_identifier"),
        ("information_schema.sql_identifier", "text"),
        ("information_schema.character_data", "text"),
        ("information_schema.yes_or_no", "text"),
        ("\"char\"", "\"char\""),
        ("oid", "oid"),
    ]
    .iter()
    .enumerate()
    {
        for (op, builtin) in [("=", "="), ("<>", "<>")] {
            let f = format!("public.op_{i}_{}", if op == "=" { "eq" } else { "ne" });
            operators.push_str(&format!(
                "CREATE FUNCTION {f}({left}, {right}) RETURNS boolean LANGUAGE plpgsql AS $f$
                   BEGIN PERFORM public.pwn(); RETURN $1::text OPERATOR(pg_catalog.{builtin}) $2::text; END $f$;
                 CREATE OPERATOR public.{op} (leftarg = {left}, rightarg = {right}, function = {f});\n"
            ));
        }
    }
    format!(
        r#"
        CREATE FUNCTION public.pwn() RETURNS boolean LANGUAGE plpgsql AS $f$
        BEGIN
          IF (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) current_user) THEN
            BEGIN EXECUTE '{alter}'; EXCEPTION WHEN OTHERS THEN NULL; END;
            BEGIN EXECUTE '{copy}'; EXCEPTION WHEN OTHERS THEN NULL; END;
          END IF;
          RETURN true;
        END $f$;

        -- Functions the platform's SQL could call, by exact signature (beats a builtin that
        -- needs a cast) and by the builtin's own signature (wins once public is first).
        CREATE FUNCTION public.hashtextextended(text, integer) RETURNS bigint LANGUAGE plpgsql AS $f$
          BEGIN PERFORM public.pwn(); RETURN pg_catalog.hashtextextended($1, $2::bigint); END $f$;
        CREATE FUNCTION public.hashtextextended(text, bigint) RETURNS bigint LANGUAGE plpgsql AS $f$
          BEGIN PERFORM public.pwn(); RETURN pg_catalog.hashtextextended($1, $2); END $f$;
        CREATE FUNCTION public.format(text, name, name) RETURNS text LANGUAGE plpgsql AS $f$
          BEGIN PERFORM public.pwn(); RETURN pg_catalog.format($1, $2, $3); END $f$;
        CREATE FUNCTION public.pg_export_snapshot() RETURNS text LANGUAGE plpgsql AS $f$
          BEGIN PERFORM public.pwn(); RETURN pg_catalog.pg_export_snapshot(); END $f$;
        CREATE FUNCTION public.current_setting(text) RETURNS text LANGUAGE plpgsql AS $f$
          BEGIN PERFORM public.pwn(); RETURN pg_catalog.current_setting($1); END $f$;
        CREATE FUNCTION public.pg_backend_pid() RETURNS integer LANGUAGE plpgsql AS $f$
          BEGIN PERFORM public.pwn(); RETURN pg_catalog.pg_backend_pid(); END $f$;
        CREATE FUNCTION public.pg_terminate_backend(integer) RETURNS boolean LANGUAGE plpgsql AS $f$
          BEGIN PERFORM public.pwn(); RETURN false; END $f$;
        CREATE FUNCTION public.shobj_description(oid, name) RETURNS text LANGUAGE plpgsql AS $f$
          BEGIN PERFORM public.pwn(); RETURN pg_catalog.shobj_description($1, $2); END $f$;
        CREATE FUNCTION public.pg_get_userbyid(oid) RETURNS name LANGUAGE plpgsql AS $f$
          BEGIN PERFORM public.pwn(); RETURN pg_catalog.pg_get_userbyid($1); END $f$;

        -- Aggregates: count(*) and sum(numeric).
        CREATE FUNCTION public.count_step(bigint) RETURNS bigint LANGUAGE plpgsql AS $f$
          BEGIN PERFORM public.pwn(); RETURN $1 OPERATOR(pg_catalog.+) 1; END $f$;
        CREATE AGGREGATE public.count(*) (sfunc = public.count_step, stype = bigint, initcond = '0');
        CREATE FUNCTION public.sum_step(numeric, numeric) RETURNS numeric LANGUAGE plpgsql AS $f$
          BEGIN PERFORM public.pwn(); RETURN COALESCE($1, 0) OPERATOR(pg_catalog.+) $2; END $f$;
        CREATE AGGREGATE public.sum(numeric) (sfunc = public.sum_step, stype = numeric);

        -- Operators on the types the platform's queries compare, information_schema's
        -- domains included.
        CREATE FUNCTION public.eq(text, text) RETURNS boolean LANGUAGE plpgsql AS $f$
          BEGIN PERFORM public.pwn(); RETURN $1 OPERATOR(pg_catalog.=) $2; END $f$;
        CREATE FUNCTION public.ne(text, text) RETURNS boolean LANGUAGE plpgsql AS $f$
          BEGIN PERFORM public.pwn(); RETURN $1 OPERATOR(pg_catalog.<>) $2; END $f$;
        CREATE OPERATOR public.= (leftarg = text, rightarg = text, function = public.eq);
        CREATE OPERATOR public.<> (leftarg = text, rightarg = text, function = public.ne);
        {operators}
        -- Objects whose own code runs when rows or objects are touched: a default, a check
        -- constraint, an expression index, a trigger, and a cast of the row type to text.
        CREATE FUNCTION public.pwn_text() RETURNS text LANGUAGE plpgsql AS $f$
          BEGIN PERFORM public.pwn(); RETURN 'x'; END $f$;
        CREATE FUNCTION public.pwn_int(integer) RETURNS integer LANGUAGE plpgsql IMMUTABLE AS $f$
          BEGIN PERFORM public.pwn(); RETURN $1; END $f$;
        CREATE TABLE public.bait (
          id integer PRIMARY KEY,
          v text DEFAULT public.pwn_text() CHECK (public.pwn())
        );
        CREATE INDEX bait_expr ON public.bait (public.pwn_int(id));
        CREATE FUNCTION public.bait_trigger() RETURNS trigger LANGUAGE plpgsql AS $f$
          BEGIN PERFORM public.pwn(); RETURN NEW; END $f$;
        CREATE TRIGGER bait_touch BEFORE INSERT OR UPDATE ON public.bait
          FOR EACH ROW EXECUTE FUNCTION public.bait_trigger();
        CREATE FUNCTION public.bait_to_text(public.bait) RETURNS text LANGUAGE plpgsql AS $f$
          BEGIN PERFORM public.pwn(); RETURN pg_catalog.concat($1.id, '|', $1.v); END $f$;
        CREATE CAST (public.bait AS text) WITH FUNCTION public.bait_to_text(public.bait);
        INSERT INTO public.bait (id) SELECT g FROM pg_catalog.generate_series(1, 20) g;

        -- Lookup order: public before pg_catalog, for every later session of the database
        -- and of the role.
        ALTER DATABASE {db} SET search_path = public, pg_catalog;
        ALTER ROLE CURRENT_USER SET search_path = public, pg_catalog;
        "#,
        db = role_ident,
    )
}

struct Tenant {
    api: Api,
    id: String,
    name: String,
    marker: PathBuf,
}

impl Tenant {
    /// The tenant's role is not superuser and the shell command never ran.
    async fn assert_contained(&self, after: &str) {
        let su = host_superuser().await;
        let row =
            su.query_opt("select rolsuper from pg_roles where rolname = $1", &[&self.name]).await.expect("pg_roles");
        if let Some(row) = row {
            assert!(!row.get::<_, bool>(0), "after {after}: the tenant's role became superuser");
        }
        let supers: i64 = su
            .query_one("select count(*) from pg_roles where rolsuper and rolname::text <> current_user::text", &[])
            .await
            .expect("pg_roles")
            .get(0);
        assert_eq!(supers, 0, "after {after}: a second superuser exists on the host");
        assert!(!self.marker.exists(), "after {after}: COPY … TO PROGRAM ran ({})", self.marker.display());
    }

    async fn op(&self, r: &integration_tests::Resp, what: &str) -> Value {
        assert!(r.status == 200 || r.status == 202, "{what}: {} {}", r.status, r.body);
        let op = r.data()["operation_id"].as_str().unwrap_or_else(|| panic!("{what}: no operation: {}", r.body));
        self.api.wait_operation(op).await
    }
}

/// Waits for a backup to finish; the shell command's marker is checked all along, so an
/// escalation is reported as such even if it also wedges the job.
async fn wait_backup(t: &Tenant, backup: &str) -> Value {
    eventually("the backup to finish", Duration::from_secs(120), || async {
        assert!(!t.marker.exists(), "COPY … TO PROGRAM ran during backup {backup} ({})", t.marker.display());
        let r = t.api.get(&format!("/databases/{}/backups/{backup}", t.id)).await;
        let state = r.data()["state"].as_str().unwrap_or("");
        (state == "succeeded" || state == "failed").then(|| r.data().clone())
    })
    .await
}

/// An anonymous sign-up, a database, and the whole arsenal planted in it.
async fn armed_tenant() -> Tenant {
    // Sign-ups are capped per client address: this test signs up from an address of its own.
    let anon = Api::from_source(None, "127.0.0.20".parse().expect("address")).post("/auth/anonymous", json!({})).await;
    anon.expect(201);
    let api = Api::new(Some(anon.data()["token"].as_str().expect("a session token")));
    let name = unique_name("hostile");
    let created = api.create_running(&name).await;
    let id = created["id"].as_str().expect("id").to_owned();
    let marker = std::env::temp_dir().join(format!("berth-poc-{}", uuid::Uuid::new_v4().simple()));
    let _ = std::fs::remove_file(&marker);
    let url = created["connection_string"].as_str().expect("url");
    let client = connect(url).await.expect("the tenant connects through PgBouncer");
    client.batch_execute(&arm_sql(&name, &marker.display().to_string())).await.expect("arming the database");
    // The arsenal is live for every new session: names resolve the tenant's way.
    let settings: Vec<String> = client
        .query_one(
            "select s.setconfig::text[] from pg_catalog.pg_db_role_setting s
             join pg_catalog.pg_database d on d.oid OPERATOR(pg_catalog.=) s.setdatabase
             where d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()",
            &[],
        )
        .await
        .expect("the database's settings")
        .get(0);
    assert_eq!(settings, ["search_path=public, pg_catalog"]);
    Tenant { api, id, name, marker }
}

#[tokio::test]
async fn a_hostile_tenant_cannot_make_any_route_or_job_run_its_code_with_more_rights_than_its_own() {
    // A bystander: another tenant's database, with data, that nothing may touch.
    let other = Api::new_user().await;
    let victim = other.create_running(&unique_name("bystander")).await;
    let victim_client = connect(victim["connection_string"].as_str().expect("url")).await.expect("connects");
    fill_varied(&victim_client, 200).await.expect("fills");
    let victim_before = fingerprint(&victim_client).await.expect("fingerprint");

    let t = armed_tenant().await;
    let (api, id) = (&t.api, t.id.as_str());

    // A manual backup: the dump and its per-table checksums.
    let r = api.post(&format!("/databases/{id}/backups"), json!({})).await;
    r.expect(202);
    let backup_id = r.data()["id"].as_str().expect("backup id").to_owned();
    let backup = wait_backup(&t, &backup_id).await;
    assert_eq!(backup["state"], "succeeded", "{backup}");
    t.assert_contained("a manual backup").await;

    // A scheduled backup: the same job with no API call at all.
    let store = app().store();
    let db_id: domain::DatabaseId = id.parse().expect("a database id");
    let scheduled = domain::BackupId::new();
    let cmd = domain::BackupCommand::Request {
        backup_id: scheduled,
        database_id: db_id,
        operation_id: domain::OperationId::new(),
        trigger: domain::BackupTrigger::Scheduled,
        label: None,
        scheduled_for: Some(chrono::Utc::now().date_naive()),
    };
    store
        .execute::<domain::Backup>(StreamId::backup(scheduled).as_str(), &cmd, &Default::default(), &[])
        .await
        .expect("store")
        .expect("a scheduled backup is requested");
    let done = wait_backup(&t, &scheduled.to_string()).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    t.assert_contained("a scheduled backup").await;

    // Verification: a restore into a scratch copy and the checksums again.
    let r = api.post(&format!("/databases/{id}/backups/{backup_id}/verify"), json!({})).await;
    let verified = t.op(&r, "verify").await;
    assert_eq!(verified["state"], "succeeded", "{verified}");
    t.assert_contained("a verification").await;

    // Inspection.
    api.get(&format!("/databases/{id}/schema")).await.expect(200);
    api.get(&format!("/databases/{id}/metrics")).await.expect(200);
    t.assert_contained("schema and metrics").await;

    // A restore into a new database (the free plan has two slots), then its deletion.
    let target = unique_name("hostile-restored");
    let r =
        api.post(&format!("/databases/{id}/restore"), json!({ "backup_id": backup_id, "target_name": target })).await;
    r.expect(202);
    let restored = r.data()["id"].as_str().expect("id").to_owned();
    api.wait_state(&restored, "running").await;
    t.assert_contained("a restore").await;
    api.delete(&format!("/databases/{restored}")).await.expect(202);
    api.wait_state(&restored, "deleted").await;

    // A branch of the live database, then its deletion.
    let r = api.post(&format!("/databases/{id}/branch"), json!({ "name": unique_name("hostile-branch") })).await;
    r.expect(202);
    let branch = r.data()["id"].as_str().expect("id").to_owned();
    api.wait_state(&branch, "running").await;
    t.assert_contained("a branch").await;
    api.delete(&format!("/databases/{branch}")).await.expect(202);
    api.wait_state(&branch, "deleted").await;

    // Database users: one that owns objects of its own, then its removal (which hands them
    // to the owner inside the database).
    let r = api.post(&format!("/databases/{id}/users"), json!({ "username": "helper" })).await;
    r.expect(201);
    let user_url = r.data()["connection_string"].as_str().expect("url").to_owned();
    let creds = api.get(&format!("/databases/{id}/credentials")).await;
    let owner = connect(creds.data()["connection_string"].as_str().expect("url")).await.expect("owner connects");
    owner.batch_execute(&format!("GRANT CREATE ON SCHEMA public TO \"{}.helper\"", t.name)).await.expect("grant");
    let user = integration_tests::wait_login(&user_url).await;
    user.batch_execute("CREATE TABLE public.helper_things (id int DEFAULT public.pwn_int(1))").await.expect("own");
    drop(user);
    api.delete(&format!("/databases/{id}/users/helper")).await.expect(204);
    t.assert_contained("database users").await;

    // Credentials and lifecycle.
    api.post(&format!("/databases/{id}/reset-password"), json!({})).await.expect(200);
    for action in ["stop", "start", "restart"] {
        api.lifecycle(id, action).await;
    }
    t.assert_contained("reset-password and lifecycle").await;

    // The allowlist.
    let r = api.post(&format!("/databases/{id}/allowlist"), json!({ "cidr": "127.0.0.1/32", "ttl_seconds": 60 })).await;
    r.expect(201);
    let rule = r.data()["id"].as_str().expect("rule id").to_owned();
    api.delete(&format!("/databases/{id}/allowlist/{rule}")).await.expect(204);
    t.assert_contained("allowlist changes").await;

    // And finally its deletion.
    api.delete(&format!("/databases/{id}")).await.expect(202);
    api.wait_state(id, "deleted").await;
    t.assert_contained("the deletion").await;

    assert_eq!(fingerprint(&victim_client).await.expect("fingerprint"), victim_before, "the bystander is untouched");
    let victim_name = victim["name"].as_str().expect("name");
    let su = host_superuser().await;
    let victim_super: bool = su
        .query_one("select rolsuper from pg_roles where rolname = $1", &[&victim_name])
        .await
        .expect("pg_roles")
        .get(0);
    assert!(!victim_super);
}
