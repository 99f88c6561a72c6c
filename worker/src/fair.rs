//! A fair share of the data lane's running slots: at most `total` data jobs run at once, at
//! most `per_account` of them for one account, and a waiting job of an account below its
//! share goes before the waiting jobs of accounts at theirs — in the order they came. A
//! tenant that queues twenty backups of databases that never finish holds `per_account`
//! slots; every other account's jobs start as soon as a slot is free of its own.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use uuid::Uuid;

pub struct FairGate {
    total: usize,
    per_account: usize,
    state: Mutex<State>,
    changed: Notify,
}

#[derive(Default)]
struct State {
    running: HashMap<Uuid, usize>,
    total_running: usize,
    waiting: VecDeque<(u64, Uuid)>,
    next_ticket: u64,
}

impl State {
    fn has_room(&self, account: &Uuid, per_account: usize) -> bool {
        self.running.get(account).copied().unwrap_or(0) < per_account
    }
}

/// A running slot; given back when dropped.
pub struct Slot {
    gate: Arc<FairGate>,
    account: Uuid,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut st = self.gate.lock();
        st.total_running = st.total_running.saturating_sub(1);
        if let Some(n) = st.running.get_mut(&self.account) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                st.running.remove(&self.account);
            }
        }
        drop(st);
        self.gate.changed.notify_waiters();
    }
}

/// A place in the waiting line; left when dropped (a cancelled wait).
struct Ticket<'a> {
    gate: &'a FairGate,
    number: u64,
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        let mut st = self.gate.lock();
        st.waiting.retain(|(n, _)| *n != self.number);
        drop(st);
        self.gate.changed.notify_waiters();
    }
}

impl FairGate {
    pub fn new(total: usize, per_account: usize) -> Arc<Self> {
        Arc::new(Self {
            total: total.max(1),
            per_account: per_account.max(1),
            state: Mutex::new(State::default()),
            changed: Notify::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Waits for a running slot for `account`.
    pub async fn acquire(self: &Arc<Self>, account: Uuid) -> Slot {
        let ticket = {
            let mut st = self.lock();
            st.next_ticket += 1;
            let number = st.next_ticket;
            st.waiting.push_back((number, account));
            Ticket { gate: self, number }
        };
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            {
                let mut st = self.lock();
                // The first waiter whose account is below its share goes next.
                let next = st.waiting.iter().find(|(_, a)| st.has_room(a, self.per_account)).map(|(n, _)| *n);
                if st.total_running < self.total && next == Some(ticket.number) {
                    st.total_running += 1;
                    *st.running.entry(account).or_default() += 1;
                    st.waiting.retain(|(n, _)| *n != ticket.number);
                    drop(st);
                    std::mem::forget(ticket);
                    return Slot { gate: self.clone(), account };
                }
            }
            changed.await;
        }
    }

    /// Running data jobs of `account` (for tests and metrics).
    pub fn running(&self, account: Uuid) -> usize {
        self.lock().running.get(&account).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    async fn soon<T>(f: impl std::future::Future<Output = T>) -> Option<T> {
        tokio::time::timeout(Duration::from_millis(200), f).await.ok()
    }

    #[tokio::test]
    async fn an_account_at_its_share_waits_and_others_pass_it() {
        let gate = FairGate::new(3, 1);
        let (hog, other) = (Uuid::new_v4(), Uuid::new_v4());
        let first = soon(gate.acquire(hog)).await.expect("a free slot is taken at once");
        // The hog's second job waits (its share is one) …
        let gate2 = gate.clone();
        let second = tokio::spawn(async move { gate2.acquire(hog).await });
        tokio::task::yield_now().await;
        assert!(!second.is_finished());
        // … and another account's job, which came later, goes first.
        let theirs = soon(gate.acquire(other)).await.expect("another account is not held up by the hog");
        assert_eq!(gate.running(other), 1);
        drop(first);
        let second = soon(second).await.expect("the hog's next job runs once its first ends").expect("join");
        assert_eq!(gate.running(hog), 1);
        drop((second, theirs));
        assert_eq!(gate.running(hog) + gate.running(other), 0);
    }

    #[tokio::test]
    async fn the_total_is_never_exceeded_and_a_cancelled_wait_leaves_no_trace() {
        let gate = FairGate::new(1, 2);
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let held = soon(gate.acquire(a)).await.expect("slot");
        assert!(soon(gate.acquire(b)).await.is_none(), "no slot past the total");
        drop(held);
        let again = soon(gate.acquire(b)).await.expect("the cancelled waiter does not block the line");
        drop(again);
    }
}
