//! What a deletion or a verification had to leave behind, the orphan reconciler removes
//! later: a role renamed away because a stopped tenant's database still granted it something
//! (`berth-gone-…`), and a verification's scratch copy whose worker died (issue 21). The test
//! drives rounds itself, with no grace (as `drift.rs` does).

use std::time::Duration;

use integration_tests::{app, connect, eventually, host_superuser, reconciler, unique_name, Api};

fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The renamed-away roles that `database` still grants something to.
async fn gone_roles_granted_in(database: &str) -> Vec<String> {
    host_superuser()
        .await
        .query(
            "select rolname::text from pg_roles where shobj_description(oid, 'pg_authid') like 'berth:gone:%'
               and oid in (select refobjid from pg_shdepend where dbid = (select oid from pg_database where datname = $1))",
            &[&database],
        )
        .await
        .expect("roles")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[tokio::test]
async fn a_role_renamed_away_at_a_deletion_is_dropped_once_nothing_holds_it() {
    let (b_api, c_api) = (Api::new_user().await, Api::new_user().await);
    let (b, c) = (unique_name("gone"), unique_name("holder"));
    let b_id = b_api.create_running(&b).await["id"].as_str().expect("id").to_owned();
    let created = c_api.create_running(&c).await;
    let c_id = created["id"].as_str().expect("id").to_owned();
    let client = connect(created["connection_string"].as_str().expect("url")).await.expect("C connects");
    client
        .batch_execute(&format!("CREATE TABLE public.bait (x int); GRANT SELECT ON public.bait TO {};", ident(&b)))
        .await
        .expect("C grants to B's role");
    drop(client);
    assert_eq!(c_api.lifecycle(&c_id, "stop").await["state"], "stopped");
    let r = b_api.delete(&format!("/databases/{b_id}")).await;
    let op = b_api.wait_operation(r.data()["operation_id"].as_str().expect("op")).await;
    assert_eq!(op["state"], "succeeded", "{op}");
    let gone = gone_roles_granted_in(&c).await;
    assert_eq!(gone.len(), 1, "B's role was renamed away: {gone:?}");

    // While C is stopped nothing can reach its grant: the role stays, and the reconciler
    // says why.
    let found = reconciler(Duration::ZERO).reconcile_once().await.expect("a round");
    assert!(found.iter().any(|f| f.what.contains(&gone[0])), "{found:?}");
    assert_eq!(gone_roles_granted_in(&c).await, gone, "kept while C is stopped");

    // Once C runs again, the next round drops it, and C keeps its table.
    assert_eq!(c_api.lifecycle(&c_id, "start").await["state"], "running");
    reconciler(Duration::ZERO).reconcile_once().await.expect("a round");
    let su = host_superuser().await;
    let left = su.query("select 1 from pg_roles where rolname = $1", &[&gone[0]]).await.expect("q");
    assert!(left.is_empty(), "{} is dropped", gone[0]);
    let url = c_api.get(&format!("/databases/{c_id}/credentials")).await.data()["connection_string"]
        .as_str()
        .expect("url")
        .to_owned();
    let client = connect(&url).await.expect("C connects");
    client.query("select * from public.bait", &[]).await.expect("C's table is intact");
}

#[tokio::test]
async fn a_verification_copy_left_by_a_dead_worker_is_dropped_whatever_the_tenant_did_to_it() {
    let api = Api::new_user().await;
    let name = unique_name("scratch");
    let id = api.create_running(&name).await["id"].as_str().expect("id").to_owned();
    // What a worker killed mid-verification leaves: a scratch copy owned by the tenant, which
    // the tenant then made a template and closed.
    let host = worker::hosts::open(&hostctl::Hosts::default(), &app().store(), app().host_id).await.expect("the host");
    let scratch = format!("berth-verify-{}", &uuid::Uuid::new_v4().simple().to_string()[..16]);
    let owner = domain::DatabaseName::parse(&name).expect("name");
    host.create_scratch(&scratch, &owner).await.expect("a scratch copy");
    let su = host_superuser().await;
    su.batch_execute(&format!(
        "ALTER DATABASE {s} IS_TEMPLATE true; ALTER DATABASE {s} CONNECTION LIMIT 0",
        s = ident(&scratch)
    ))
    .await
    .expect("marked as a tenant would");

    let found = reconciler(Duration::ZERO).reconcile_once().await.expect("a round");
    let finding = found.iter().find(|f| f.what.contains(&scratch)).expect("the copy is a finding");
    assert_eq!(finding.resource, id, "reported on the owner's database");
    // Once, in a full run under load, the first round found the copy but had not dropped it
    // (the platform worker's own reconciler observes every second beside it); the drop is
    // what must hold, so rounds repeat until the copy is gone, within a deadline.
    eventually(&format!("{scratch} to be dropped"), Duration::from_secs(15), || async {
        let _ = reconciler(Duration::ZERO).reconcile_once().await;
        su.query("select 1 from pg_database where datname = $1", &[&scratch]).await.expect("q").is_empty()
    })
    .await;
    assert_eq!(api.get(&format!("/databases/{id}")).await.data()["state"], "running");
}
