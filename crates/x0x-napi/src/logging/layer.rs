//! The `tracing` layer: it rejects disabled callsites when they register,
//! formats enabled events into [`Record`]s and queues them for JavaScript.

use std::sync::{PoisonError, RwLock};

use tracing::level_filters::LevelFilter;
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

use super::filter::Filter;
use super::queue::Queue;
use super::record::Record;

/// Records waiting for the JavaScript thread. Enough for a burst of a join
/// or a reconnect storm at debug level; beyond that records are dropped
/// and the count is reported with the next batch.
const QUEUE_CAPACITY: usize = 4096;

/// Sends a wake-up to the consumer; `false` when it could not.
pub type Wake = Box<dyn Fn() -> bool + Send + Sync>;

/// Everything the layer shares with the binding: the filter JavaScript set,
/// the queue, and how to wake the JavaScript thread.
pub struct State {
    filter: RwLock<Filter>,
    pub queue: Queue<Record>,
    wake: RwLock<Option<Wake>>,
}

impl State {
    pub const fn new() -> Self {
        Self { filter: RwLock::new(Filter::OFF), queue: Queue::new(QUEUE_CAPACITY), wake: RwLock::new(None) }
    }

    /// Replaces the filter. Callsites keep their cached decision until
    /// `tracing::callsite::rebuild_interest_cache()` runs.
    pub fn set_filter(&self, filter: Filter) {
        *self.filter.write().unwrap_or_else(PoisonError::into_inner) = filter;
    }

    pub fn set_wake(&self, wake: Wake) {
        *self.wake.write().unwrap_or_else(PoisonError::into_inner) = Some(wake);
    }

    fn wants(&self, meta: &Metadata<'_>) -> bool {
        // Spans carry nothing the bridge prints; refusing them keeps the
        // registry from allocating span data.
        meta.is_event() && self.filter.read().unwrap_or_else(PoisonError::into_inner).wants(meta.level(), meta.target())
    }

    fn max_level(&self) -> LevelFilter {
        self.filter.read().unwrap_or_else(PoisonError::into_inner).max_level()
    }

    fn deliver(&self, record: Record) {
        if self.queue.push(record) {
            let sent = self.wake.read().unwrap_or_else(PoisonError::into_inner).as_ref().is_some_and(|wake| wake());
            if !sent {
                self.queue.wake_failed();
            }
        }
    }
}

/// The layer over a `tracing_subscriber::Registry`.
pub struct Bridge {
    state: &'static State,
}

impl Bridge {
    pub fn new(state: &'static State) -> Self {
        Self { state }
    }
}

impl<S: Subscriber> Layer<S> for Bridge {
    /// Decides once per callsite. `never` makes the `tracing` macro skip the
    /// event entirely (no field is evaluated or formatted); the decision
    /// is revisited only when the filter changes.
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        if self.state.wants(meta) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, meta: &Metadata<'_>, _: Context<'_, S>) -> bool {
        self.state.wants(meta)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(self.state.max_level())
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        self.state.deliver(Record::from_event(event));
    }
}

#[cfg(test)]
mod tests {
    use std::fmt;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use tracing::callsite::rebuild_interest_cache;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::Registry;

    use super::super::filter::logger_level;
    use super::super::namespace::DebugSpec;
    use super::super::record::Value;
    use super::*;

    /// Counts how often it is formatted.
    struct Probe(Arc<AtomicUsize>);

    impl fmt::Display for Probe {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            self.0.fetch_add(1, Ordering::SeqCst);
            f.write_str("probe")
        }
    }

    #[test]
    fn disabled_events_are_never_formatted_and_enabled_ones_are_queued() {
        static STATE: State = State::new();
        let wakes = Arc::new(AtomicUsize::new(0));
        let counted = wakes.clone();
        STATE.set_wake(Box::new(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            true
        }));
        STATE.set_filter(Filter::new(DebugSpec::parse("x0x:membership"), LevelFilter::OFF));
        let formatted = Arc::new(AtomicUsize::new(0));
        let emit = |formatted: &Arc<AtomicUsize>| {
            tracing::debug!(target: "saorsa_gossip_pubsub", peer = %Probe(formatted.clone()), "pubsub line");
            tracing::trace!(target: "saorsa_gossip_membership", peer = %Probe(formatted.clone()), "too verbose");
            tracing::debug!(target: "saorsa_gossip_membership", peer_id = %"ab12", n = 3u64, ok = true, "Added to active view");
        };

        tracing::subscriber::with_default(Registry::default().with(Bridge::new(&STATE)), || {
            emit(&formatted);
            assert_eq!(formatted.load(Ordering::SeqCst), 0, "a disabled event was formatted");
            let (records, dropped) = STATE.queue.take();
            assert_eq!(dropped, 0);
            assert_eq!(
                records,
                [Record {
                    level: "debug",
                    namespace: "x0x:membership".to_owned(),
                    target: "saorsa_gossip_membership".to_owned(),
                    message: "Added to active view".to_owned(),
                    fields: vec![
                        ("peer_id", Value::Text("ab12".to_owned())),
                        ("n", Value::Number(3.0)),
                        ("ok", Value::Bool(true)),
                    ],
                }]
            );
            assert_eq!(wakes.load(Ordering::SeqCst), 1);

            // A logger at trace level turns every callsite on once the
            // cached interest is rebuilt.
            STATE.set_filter(Filter::new(DebugSpec::OFF, logger_level(Some("trace"))));
            rebuild_interest_cache();
            emit(&formatted);
            assert_eq!(formatted.load(Ordering::SeqCst), 2);
            assert_eq!(STATE.queue.take().0.len(), 3);

            STATE.set_filter(Filter::OFF);
            rebuild_interest_cache();
            emit(&formatted);
            assert_eq!(formatted.load(Ordering::SeqCst), 2, "switched off, yet formatted");
            assert!(STATE.queue.take().0.is_empty());
        });
    }
}
