//! A subscription's receiving end, and handing a message to every
//! subscription of a topic (a full buffer drops it, counted).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use tokio::sync::mpsc;

use super::{DropCount, Message, Shared, Subscribers, Subscription};
use crate::stats::PubSubCounters;

impl Subscription {
    /// The next message; `None` once unsubscribed or the agent closed.
    pub async fn next(&mut self) -> Option<Message> {
        self.rx.recv().await
    }

    /// Waits for the next message, then takes every message already
    /// buffered, up to `max` in all; `None` once unsubscribed or the agent
    /// closed. A reader that crosses a boundary per read (Node-API) pays the
    /// crossing once per batch instead of once per message.
    pub async fn next_batch(&mut self, max: usize) -> Option<Vec<Message>> {
        let first = self.rx.recv().await?;
        let mut batch = Vec::with_capacity(max.clamp(1, self.rx.len() + 1));
        batch.push(first);
        while batch.len() < max {
            match self.rx.try_recv() {
                Ok(m) => batch.push(m),
                Err(_) => break,
            }
        }
        Some(batch)
    }

    /// Messages this subscription missed because it was not read fast
    /// enough: its buffer (`subscription_buffer` messages) was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// A handle on [`Self::dropped`] that can be read while another task
    /// awaits [`Self::next`].
    pub fn drop_count(&self) -> DropCount {
        DropCount(Arc::clone(&self.dropped))
    }

    /// The subscribed topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Stops delivery to this subscription. Idempotent.
    pub fn close(&mut self) {
        self.rx.close();
        while self.rx.try_recv().is_ok() {}
        if let Some(shared) = self.agent.upgrade() {
            let (id, topic) = (self.id, self.topic.clone());
            self.handle.spawn(async move { shared.unsubscribe(&topic, id).await });
            self.agent = Weak::new();
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.close();
    }
}

impl Shared {
    pub(super) async fn deliver_local(&self, topic: &str, message: Message) {
        let topics = self.topics.lock().await;
        if let Some(entry) = topics.get(topic) {
            deliver(&entry.subscribers, &self.counters, message);
        }
    }
}

pub(super) fn deliver(subscribers: &Subscribers, counters: &PubSubCounters, message: Message) {
    let Ok(subs) = subscribers.lock() else { return };
    // The last subscriber takes the message itself: with the usual single
    // subscription a delivery copies no payload.
    let mut message = Some(message);
    let last = subs.len().saturating_sub(1);
    for (i, sub) in subs.values().enumerate() {
        let copy = if i == last { message.take() } else { message.clone() };
        let Some(copy) = copy else { break };
        // Counted before the send, so a reader that has the message never
        // reads a count without it (the stats test right after receiving).
        counters.delivered.fetch_add(1, Ordering::Relaxed);
        match sub.tx.try_send(copy) {
            Ok(()) => {}
            // A reader that falls a whole buffer behind loses the newest
            // messages, counted, rather than growing memory without bound.
            Err(mpsc::error::TrySendError::Full(_)) => {
                counters.delivered.fetch_sub(1, Ordering::Relaxed);
                sub.dropped.fetch_add(1, Ordering::Relaxed);
                counters.lagged_dropped.fetch_add(1, Ordering::Relaxed);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                counters.delivered.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }
}
