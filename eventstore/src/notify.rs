//! Wake-ups on every append: one LISTEN connection per process turns the NOTIFY that each
//! append sends into a counter that waiters watch, instead of each waiter polling.

use std::time::Duration;

use futures::StreamExt;
use tokio::sync::watch;

use crate::Store;

impl Store {
    /// A receiver that changes after every committed append (and at least every few seconds
    /// while the listening connection is being re-established). Spawns the listener on the
    /// current runtime; call once per process and share the receiver.
    pub fn listen_appends(&self) -> watch::Receiver<u64> {
        let (tx, rx) = watch::channel(0u64);
        let store = self.clone();
        tokio::spawn(async move {
            loop {
                if tx.is_closed() {
                    return;
                }
                match store.dedicated().await {
                    Ok((client, mut conn)) => {
                        let (ntx, mut nrx) = tokio::sync::mpsc::unbounded_channel();
                        let driver = tokio::spawn(async move {
                            let mut messages = futures::stream::poll_fn(move |cx| conn.poll_message(cx));
                            while let Some(Ok(msg)) = messages.next().await {
                                if let tokio_postgres::AsyncMessage::Notification(_) = msg {
                                    let _ = ntx.send(());
                                }
                            }
                        });
                        if client.batch_execute("listen berth_events").await.is_ok() {
                            while nrx.recv().await.is_some() {
                                tx.send_modify(|n| *n += 1);
                            }
                        }
                        driver.abort();
                    }
                    Err(e) => tracing::warn!(error = %e, "append listener cannot connect"),
                }
                // Connection lost: wake everyone once (they re-check), then reconnect.
                tx.send_modify(|n| *n += 1);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
        rx
    }
}
