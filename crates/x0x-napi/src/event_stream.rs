//! The one mechanism behind every event stream of the binding (connection,
//! membership and presence events, flooded payloads): a reader of one of the
//! core's `broadcast` channels that reports lag instead of hiding it and
//! ends once the stream or its agent is closed.
//!
//! napi classes cannot be generic, so each stream is a thin class declared
//! by [`event_stream_class!`] around an [`EventStream`]; all that differs
//! between them is the event type and its conversion, which lives next to
//! the napi event type as a `From<Next<_>>` impl.

use tokio::sync::{broadcast, watch, Mutex};

/// Resolves once either flag is set: the stream's own close or its agent's.
pub(crate) async fn wait_closed(mut own: watch::Receiver<bool>, mut agent: watch::Receiver<bool>) {
    tokio::select! {
        _ = own.wait_for(|c| *c) => {}
        _ = agent.wait_for(|c| *c) => {}
    }
}

/// What an event stream hands out next.
pub(crate) enum Next<T> {
    /// The next event.
    Item(T),
    /// The reader fell behind and this many events were dropped.
    Lagged(u64),
}

/// A reader of one broadcast channel, until it or its agent is closed.
pub(crate) struct EventStream<T> {
    /// Behind an async lock because `next()` holds the receiver across an
    /// await, and JS may call `next()` again before the last one settled.
    rx: Mutex<broadcast::Receiver<T>>,
    closed: watch::Sender<bool>,
    agent_closed: watch::Receiver<bool>,
}

impl<T: Clone> EventStream<T> {
    /// Reads `rx` until [`Self::close`] or until `agent_closed` turns true.
    pub(crate) fn open(rx: broadcast::Receiver<T>, agent_closed: watch::Receiver<bool>) -> Self {
        Self { rx: Mutex::new(rx), closed: watch::channel(false).0, agent_closed }
    }

    /// Next item, or `None` once the stream or its agent is closed. A slow
    /// reader gets [`Next::Lagged`] with the count it missed, then the oldest
    /// event still held; nothing is dropped silently.
    pub(crate) async fn next(&self) -> Option<Next<T>> {
        let mut rx = self.rx.lock().await;
        let stop = wait_closed(self.closed.subscribe(), self.agent_closed.clone());
        let item = tokio::select! {
            e = rx.recv() => e,
            _ = stop => return None,
        };
        match item {
            Ok(e) => Some(Next::Item(e)),
            Err(broadcast::error::RecvError::Lagged(n)) => Some(Next::Lagged(n)),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }

    /// Ends the stream: a pending [`Self::next`] returns `None`, and so do
    /// later ones, except that one may still hand out an event already held
    /// (`select!` picks between ready branches at random); the facade does
    /// not pull again once it has closed a stream. Idempotent.
    pub(crate) fn close(&self) {
        self.closed.send_replace(true);
    }
}

/// Declares the napi class of one event stream: `next()` and `close()` over
/// an [`EventStream`] of `$core` events, each converted to `$native` by its
/// `From<Next<$core>>` impl, and an `open()` for the method that hands it
/// out. `$native` is an identifier, not a `ty` fragment, so napi-derive gets
/// the return type as plain tokens (a `ty` fragment reaches a proc macro
/// wrapped in an invisible group).
macro_rules! event_stream_class {
    ($(#[$doc:meta])* $name:ident($core:ty) -> $native:ident) => {
        $(#[$doc])*
        #[napi]
        pub struct $name {
            stream: $crate::event_stream::EventStream<$core>,
        }

        impl $name {
            /// A stream of what `rx` receives, ended by `close()` or when
            /// `agent_closed` turns true.
            pub(crate) fn open(
                rx: ::tokio::sync::broadcast::Receiver<$core>,
                agent_closed: ::tokio::sync::watch::Receiver<bool>,
            ) -> Self {
                Self { stream: $crate::event_stream::EventStream::open(rx, agent_closed) }
            }
        }

        #[napi]
        impl $name {
            /// Next event (or lag report), or null once the stream or its
            /// agent is closed.
            #[napi(catch_unwind)]
            pub async fn next(&self) -> Option<$native> {
                self.stream.next().await.map($native::from)
            }

            /// Stops the stream; a pending `next()` resolves null. Idempotent.
            #[napi(catch_unwind)]
            pub fn close(&self) {
                self.stream.close();
            }
        }
    };
}

pub(crate) use event_stream_class;

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(capacity: usize) -> (broadcast::Sender<u32>, watch::Sender<bool>, EventStream<u32>) {
        let (tx, rx) = broadcast::channel(capacity);
        let (agent_tx, agent_rx) = watch::channel(false);
        (tx, agent_tx, EventStream::open(rx, agent_rx))
    }

    fn item(next: Option<Next<u32>>) -> Option<Result<u32, u64>> {
        next.map(|n| match n {
            Next::Item(v) => Ok(v),
            Next::Lagged(missed) => Err(missed),
        })
    }

    #[tokio::test]
    async fn a_slow_reader_gets_the_lag_count_then_the_oldest_event_held() {
        let (tx, _agent, s) = stream(2);
        for v in 1..=5 {
            tx.send(v).expect("a receiver is open");
        }
        assert_eq!(item(s.next().await), Some(Err(3)));
        assert_eq!(item(s.next().await), Some(Ok(4)));
        assert_eq!(item(s.next().await), Some(Ok(5)));
    }

    // With events still held, a next() after a close may hand out one of
    // them or None (select! picks a ready branch at random); the facade
    // stops pulling once it closes, so only the empty case is pinned here.
    #[tokio::test]
    async fn close_ends_a_pending_and_every_later_next() {
        let (_tx, _agent, s) = stream(4);
        let (pending, ()) = tokio::join!(s.next(), async { s.close() });
        assert!(pending.is_none());
        assert!(s.next().await.is_none());
        s.close();
        assert!(s.next().await.is_none());
    }

    #[tokio::test]
    async fn the_agent_closing_ends_a_pending_next() {
        let (_tx, agent, s) = stream(4);
        let (pending, ()) = tokio::join!(s.next(), async { agent.send_replace(true); });
        assert!(pending.is_none());
        assert!(s.next().await.is_none());
    }

    #[tokio::test]
    async fn the_channel_closing_ends_the_stream() {
        let (tx, _agent, s) = stream(4);
        tx.send(1).expect("a receiver is open");
        drop(tx);
        assert_eq!(item(s.next().await), Some(Ok(1)));
        assert!(s.next().await.is_none());
    }
}
