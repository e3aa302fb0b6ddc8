//! A subscription's stream of messages, read a batch at a time.

use std::sync::Arc;

use napi_derive::napi;
use tokio::sync::{watch, Mutex};
use x0x_core::Agent;

use crate::calls::{ended_batch, CallPort, Settled};
use crate::event_stream::wait_closed;
use crate::{to_native_message, NativeMessage};

/// What the subscription's calls share with the tasks that run them.
struct State {
    sub: Mutex<Option<x0x_core::Subscription>>,
    closed: watch::Sender<bool>,
    agent_closed: watch::Receiver<bool>,
}

/// A subscription.
#[napi]
pub struct NativeSubscription {
    state: Arc<State>,
    dropped: x0x_core::DropCount,
    agent: Arc<Agent>,
    port: CallPort,
}

impl NativeSubscription {
    pub(crate) fn new(sub: x0x_core::Subscription, agent: Arc<Agent>, port: CallPort) -> Self {
        let (closed, _) = watch::channel(false);
        Self {
            dropped: sub.drop_count(),
            state: Arc::new(State { sub: Mutex::new(Some(sub)), closed, agent_closed: agent.closed_signal() }),
            agent,
            port,
        }
    }
}

#[napi]
impl NativeSubscription {
    /// Waits for the next message, then settles call `id` with it and every
    /// message already buffered, at most `max` (at least 1) in all; with
    /// null once closed. One crossing into JS per batch instead of one per
    /// message, which is what a busy subscriber pays most for.
    #[napi(catch_unwind)]
    pub fn next_batch_call(&self, max: u32, id: u32) {
        let call = self.port.call(id, ended_batch);
        let state = Arc::clone(&self.state);
        let max = usize::try_from(max).unwrap_or(usize::MAX).max(1);
        self.agent.spawn_detached(async move {
            call.settle(Settled::Batch(next_batch(&state, max).await));
        });
    }

    /// Messages dropped because this subscription was not read fast enough.
    #[napi(catch_unwind)]
    pub fn dropped(&self) -> f64 {
        self.dropped.get() as f64
    }

    /// Stops delivery. Idempotent.
    #[napi(catch_unwind)]
    pub fn close(&self) {
        self.state.closed.send_replace(true);
        if let Ok(mut guard) = self.state.sub.try_lock() {
            if let Some(mut s) = guard.take() {
                s.close();
            }
        }
    }
}

async fn next_batch(state: &State, max: usize) -> Option<Vec<NativeMessage>> {
    let mut guard = state.sub.lock().await;
    let sub = guard.as_mut()?;
    let stop = wait_closed(state.closed.subscribe(), state.agent_closed.clone());
    let batch = tokio::select! {
        b = sub.next_batch(max) => b,
        _ = stop => None,
    };
    if *state.closed.borrow() {
        if let Some(mut s) = guard.take() {
            s.close();
        }
        return None;
    }
    batch.map(|messages| messages.into_iter().map(to_native_message).collect())
}
