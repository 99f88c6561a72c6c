//! PgBouncer syncs asked for at once are coalesced (`hostctl::sync`, `worker::hosts`): under a busy mix every
//! create, allowlist change and user change asked for its own render and RELOAD, one at a
//! time per host, each holding a job slot while it waited, and creates and lifecycle
//! operations waited behind them for up to the 10 s budget.

use std::time::Duration;

use hostctl::sync::Synced;
use integration_tests::{app, fixtures};

#[tokio::test]
async fn syncs_asked_for_together_share_renders() {
    let h = app();
    let store = h.store();
    let host = worker::hosts::open(&hostctl::Hosts::default(), &store, h.host_id).await.expect("the test host");
    // While the host's mutex is held nobody renders: eight requests line up behind it.
    let mutex = store.host_mutex(h.host_id.uuid()).await.expect("the host mutex");
    let plans = fixtures::plans();
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let (host, store, plans) = (host.clone(), store.clone(), plans.clone());
            tokio::spawn(async move { worker::hosts::sync_bouncer_reporting(&store, &plans, &host).await })
        })
        .collect();
    // The first to ask takes this process's turn and waits for the host's mutex; the seven
    // others, having asked, wait for the turn.
    integration_tests::eventually("seven requests waiting for their turn", Duration::from_secs(30), || async {
        host.bouncer_syncs_waiting() == 7
    })
    .await;
    drop(mutex);
    let mut rendered = 0;
    for call in calls {
        let outcome = tokio::time::timeout(Duration::from_secs(60), call)
            .await
            .expect("every request ends")
            .expect("join")
            .expect("every request succeeds");
        rendered += usize::from(outcome == Synced::Rendered);
    }
    // The first in line renders (unless a sync of the platform's own workers, which began
    // after it asked, did it already); it began after all the others asked, so it did their
    // work too.
    assert!(rendered <= 1, "8 requests made {rendered} renders");
}
