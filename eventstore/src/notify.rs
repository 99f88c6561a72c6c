//! Wake-ups on every append: one LISTEN connection per process turns the NOTIFYs that
//! appends send (see `notifier`) into a counter that waiters watch, instead of each waiter polling. Caches
//! that must drop what an append changes also get each payload and the connection's health
//! ([`Store::listen_appends_with`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::sync::watch;

use crate::Store;

/// How often the listening connection is asked a trivial query, to tell a silently dead
/// connection (no error, no notifications) from a quiet one.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);

/// A heartbeat not answered within this is taken as a lost connection.
const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(2);

/// What the append listener observes, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendSignal<'a> {
    /// A committed append, one per stream a notification names (a coalesced wake-up names
    /// several, comma-separated). Empty (or not a stream id) when the sender did not say:
    /// treat that as "anything may have changed".
    Append(&'a str),
    /// The connection is listening and answered a query sent at this instant (it is sent
    /// once when LISTEN succeeds, then every [`HEARTBEAT_EVERY`]).
    Alive(Instant),
    /// The connection is down or did not answer: appends may go unreported until the next
    /// `Alive`.
    Lost,
}

/// Receives [`AppendSignal`]s on the listener's task; must not block.
pub type OnAppendSignal = Arc<dyn Fn(AppendSignal<'_>) + Send + Sync>;

impl Store {
    /// A receiver that moves at once after every append committed through this store or a
    /// clone of it, in this process; no round trip through PostgreSQL. Appends of other
    /// processes reach [`Store::listen_appends`] only; wait on both.
    pub fn local_appends(&self) -> watch::Receiver<u64> {
        self.notifier.local()
    }

    /// Calls `observer` with the stream id of every append committed through this store or
    /// a clone of it, in this process, after its commit and before the append returns — so a
    /// cache in this process never serves what its own process just changed. Held weakly:
    /// dropping the last `Arc` stops it. Appends of other processes reach
    /// [`Store::listen_appends_with`] only.
    pub fn observe_local_appends(&self, observer: &Arc<crate::notifier::LocalObserver>) {
        self.notifier.observe(observer);
    }

    /// A receiver that changes after every committed append (and at least every few seconds
    /// while the listening connection is being re-established). Spawns the listener on the
    /// current runtime; call once per process and share the receiver.
    pub fn listen_appends(&self) -> watch::Receiver<u64> {
        self.listen_appends_with(Arc::new(|_| {}))
    }

    /// [`Store::listen_appends`], also calling `on` with every payload and each change of the
    /// connection's health (before the counter moves, so a waiter woken by the counter sees
    /// what `on` did).
    pub fn listen_appends_with(&self, on: OnAppendSignal) -> watch::Receiver<u64> {
        let (tx, rx) = watch::channel(0u64);
        let store = self.clone();
        tokio::spawn(async move {
            loop {
                if tx.is_closed() {
                    return;
                }
                match store.dedicated().await {
                    Ok((client, mut conn)) => {
                        let (ntx, mut nrx) = tokio::sync::mpsc::unbounded_channel::<String>();
                        let driver = tokio::spawn(async move {
                            let mut messages = futures::stream::poll_fn(move |cx| conn.poll_message(cx));
                            while let Some(Ok(msg)) = messages.next().await {
                                if let tokio_postgres::AsyncMessage::Notification(n) = msg {
                                    let _ = ntx.send(n.payload().to_owned());
                                }
                            }
                        });
                        if client.batch_execute("listen berth_events").await.is_ok() {
                            on(AppendSignal::Alive(Instant::now()));
                            listen(&client, &mut nrx, &tx, &on).await;
                        }
                        driver.abort();
                    }
                    Err(e) => tracing::warn!(error = %e, "append listener cannot connect"),
                }
                // Connection lost: wake everyone once (they re-check), then reconnect.
                on(AppendSignal::Lost);
                tx.send_modify(|n| *n += 1);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
        rx
    }
}

/// Relays notifications and heartbeats until the connection fails or stops answering. A
/// heartbeat in flight does not hold back notifications.
async fn listen(
    client: &tokio_postgres::Client,
    nrx: &mut tokio::sync::mpsc::UnboundedReceiver<String>,
    tx: &watch::Sender<u64>,
    on: &OnAppendSignal,
) {
    let mut beat = tokio::time::interval(HEARTBEAT_EVERY);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    beat.tick().await;
    type Heartbeat<'c> = std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send + 'c>>;
    let mut in_flight: Option<(Instant, Heartbeat<'_>)> = None;
    loop {
        tokio::select! {
            // Notifications first: an `Alive` must not overtake appends already received.
            biased;
            payload = nrx.recv() => {
                let Some(payload) = payload else { return };
                for stream in payload.split(',') {
                    on(AppendSignal::Append(stream));
                }
                tx.send_modify(|n| *n += 1);
            }
            _ = beat.tick(), if in_flight.is_none() => {
                let query = tokio::time::timeout(HEARTBEAT_TIMEOUT, client.batch_execute("select 1"));
                in_flight = Some((Instant::now(), Box::pin(async move { matches!(query.await, Ok(Ok(()))) })));
            }
            answered = async {
                match in_flight.as_mut() {
                    Some((_, query)) => query.await,
                    None => std::future::pending().await,
                }
            } => {
                let Some((sent, _)) = in_flight.take() else { continue };
                if !answered {
                    return;
                }
                on(AppendSignal::Alive(sent));
            }
        }
    }
}
