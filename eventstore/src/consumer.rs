//! Checkpointed consumers of the global order.
//!
//! Each consumer runs as a singleton across the fleet: it holds a session advisory lock on a
//! dedicated connection while it runs, and other processes wait as standbys. It is woken by
//! the NOTIFY every append sends and polls at `idle_poll` as a fallback. Handlers are
//! at-least-once: a crash between the effect and the checkpoint repeats the batch, so a
//! handler must be idempotent (job dispatch is, by task id).

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::{watch, Notify};

use crate::read::{parse_tx, read_after_on};
use crate::{Position, RecordedEvent, Store, StoreError};

#[async_trait::async_trait]
pub trait Handler: Send + Sync {
    async fn handle(&self, events: &[RecordedEvent]) -> anyhow::Result<()>;
}

#[derive(Debug, Clone)]
pub struct ConsumerOptions {
    pub batch: i64,
    pub idle_poll: Duration,
    /// After handling a batch smaller than `batch`, how long to let more events gather
    /// before reading again. Under a stream of appends (the per-query audit writes one per
    /// request) each consumer otherwise read and saved its checkpoint once per append; with
    /// it, at most once per `gather`. An append to an idle consumer is still read at once.
    pub gather: Duration,
}

impl Default for ConsumerOptions {
    fn default() -> Self {
        Self { batch: 256, idle_poll: Duration::from_millis(500), gather: Duration::from_millis(10) }
    }
}

fn lock_key(name: &str) -> i64 {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("berth consumer {name}").as_bytes());
    i64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

impl Store {
    pub async fn checkpoint(&self, name: &str) -> Result<Position, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "select tx_id::text as tx_text, global_position from consumer_checkpoints where name = $1",
                &[&name],
            )
            .await?;
        Ok(row
            .map(|r| Ok::<_, StoreError>(Position { tx_id: parse_tx(r.get(0))?, global_position: r.get(1) }))
            .transpose()?
            .unwrap_or_default())
    }

    async fn save_checkpoint(&self, name: &str, pos: Position) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "insert into consumer_checkpoints (name, tx_id, global_position, updated_at)
                 values ($1, $2::text::xid8, $3, now())
                 on conflict (name) do update set tx_id = excluded.tx_id,
                     global_position = excluded.global_position, updated_at = now()",
                &[&name, &pos.tx_id.to_string(), &pos.global_position],
            )
            .await?;
        Ok(())
    }

    /// Runs consumer `name` until `shutdown` turns true. Errors of the store or the handler
    /// are logged and retried with backoff; they never end the loop.
    pub async fn run_consumer(
        &self,
        name: &str,
        handler: Arc<dyn Handler>,
        opts: ConsumerOptions,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut backoff = Duration::from_millis(100);
        while !*shutdown.borrow() {
            match self.consume(name, handler.as_ref(), &opts, &mut shutdown).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(consumer = name, error = %e, "consumer failed; restarting");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = shutdown.changed() => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
    }

    async fn consume(
        &self,
        name: &str,
        handler: &dyn Handler,
        opts: &ConsumerOptions,
        shutdown: &mut watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        let (client, mut connection) = self.dedicated().await?;
        let wake = Arc::new(Notify::new());
        let waker = wake.clone();
        // Drive the connection and turn notifications into wake-ups.
        let driver = tokio::spawn(async move {
            let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
            while let Some(msg) = messages.next().await {
                match msg {
                    Ok(tokio_postgres::AsyncMessage::Notification(_)) => waker.notify_one(),
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "consumer connection closed");
                        break;
                    }
                }
            }
            waker.notify_one();
        });
        let _abort = AbortOnDrop(driver);
        client.batch_execute("listen berth_events").await?;
        let key = lock_key(name);
        loop {
            let got: bool = client.query_one("select pg_try_advisory_lock($1)", &[&key]).await?.get(0);
            if got {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = shutdown.changed() => return Ok(()),
            }
        }
        tracing::info!(consumer = name, "consumer holds its lock");
        let mut pos = self.checkpoint(name).await?;
        // Appends of this process wake the consumer at once; the NOTIFY covers the others.
        let mut local = self.local_appends();
        loop {
            if *shutdown.borrow() {
                return Ok(());
            }
            local.borrow_and_update();
            let events = read_after_on(&client, pos, opts.batch).await?;
            let Some(last) = events.last().map(|e| e.position()) else {
                tokio::select! {
                    _ = wake.notified() => {}
                    Ok(()) = local.changed() => {}
                    _ = tokio::time::sleep(opts.idle_poll) => {}
                    _ = shutdown.changed() => return Ok(()),
                }
                if client.is_closed() {
                    anyhow::bail!("consumer connection closed");
                }
                continue;
            };
            handler.handle(&events).await?;
            self.save_checkpoint(name, last).await?;
            pos = last;
            metrics::counter!("berth_consumer_events_total", "consumer" => name.to_owned())
                .increment(events.len() as u64);
            if (events.len() as i64) < opts.batch && !opts.gather.is_zero() {
                tokio::select! {
                    _ = tokio::time::sleep(opts.gather) => {}
                    _ = shutdown.changed() => return Ok(()),
                }
            }
        }
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
