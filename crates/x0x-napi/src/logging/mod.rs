//! Bridges the Rust `tracing` events of the core and its dependencies to
//! JavaScript, where `src/logging.ts` prints them through the `debug`
//! package and hands them to the loggers given to `withLogger`.
//!
//! One layer is installed per process as the global default, the first
//! time JavaScript sets a filter. JavaScript tells it what is wanted
//! ([`set_log_filter`]); the layer rejects every other callsite when it
//! registers, so with logging off an event costs one level comparison and
//! is never formatted, queued or sent. Enabled events are formatted on the
//! thread that logs, queued in a bounded queue, and fetched in batches by
//! one weak threadsafe function ([`set_log_sink`]) that does not keep Node
//! alive.
//!
//! Records are process-wide: they do not say which agent of the process
//! logged them (the core does not log inside per-agent spans).

mod filter;
mod layer;
mod namespace;
mod queue;
mod record;

use std::sync::Once;

use napi::bindgen_prelude::{Either3, Function};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::Status;
use napi_derive::napi;
use tracing::callsite::rebuild_interest_cache;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Registry;

use filter::{logger_level, Filter};
use layer::{Bridge, State};
use namespace::DebugSpec;
use record::{Record, Value};

static STATE: State = State::new();
static INSTALL: Once = Once::new();

/// What to log, process-wide.
#[napi(object)]
pub struct NativeLogFilter {
    /// The `debug` package's parsed `DEBUG` names (`createDebug.names`).
    pub debug_names: Vec<String>,
    /// Its excluded names (`createDebug.skips`).
    pub debug_skips: Vec<String>,
    /// The most verbose level any open agent's logger takes, for every
    /// target; absent when no agent has a logger.
    pub logger_level: Option<String>,
}

/// One field of a record.
#[napi(object)]
pub struct NativeLogField {
    pub name: String,
    pub value: Either3<String, f64, bool>,
}

/// One Rust `tracing` event.
#[napi(object)]
pub struct NativeLogRecord {
    /// `error`, `warn`, `info`, `debug` or `trace`.
    pub level: String,
    /// The `debug` namespace, e.g. `x0x:membership`.
    pub namespace: String,
    /// The tracing target, usually a Rust module path.
    pub target: String,
    pub message: String,
    pub fields: Vec<NativeLogField>,
}

/// The records queued since the last batch.
#[napi(object)]
pub struct NativeLogBatch {
    pub records: Vec<NativeLogRecord>,
    /// Records dropped because the queue was full.
    pub dropped: f64,
}

/// Sets what is logged. The first call installs the bridge as the
/// process's global `tracing` subscriber; if another subscriber was
/// installed first, nothing is bridged.
#[napi(catch_unwind)]
pub fn set_log_filter(filter: NativeLogFilter) {
    INSTALL.call_once(|| {
        // Err means some other subscriber is the global default already;
        // there is nothing better to do than leave it in charge.
        let _ = tracing::subscriber::set_global_default(Registry::default().with(Bridge::new(&STATE)));
    });
    let debug = DebugSpec::new(filter.debug_names, filter.debug_skips);
    STATE.set_filter(Filter::new(debug, logger_level(filter.logger_level.as_deref())));
    // Every callsite cached its decision when it first ran; ask again.
    rebuild_interest_cache();
}

/// Sets the function that receives record batches on the JavaScript
/// thread; it replaces any earlier one. It must not throw: an exception
/// from it is an uncaught exception in Node.
#[napi(catch_unwind)]
pub fn set_log_sink(deliver: Function<'_, NativeLogBatch, ()>) -> napi::Result<()> {
    let tsfn: ThreadsafeFunction<(), (), NativeLogBatch, Status, false, true> = deliver
        .build_threadsafe_function::<()>()
        .callee_handled::<false>()
        // Weak: pending log output must not keep a process alive whose
        // agents are closed.
        .weak::<true>()
        .build_callback(|_| Ok(take_batch()))?;
    STATE.set_wake(Box::new(move || tsfn.call((), ThreadsafeFunctionCallMode::NonBlocking) == Status::Ok));
    Ok(())
}

fn take_batch() -> NativeLogBatch {
    let (records, dropped) = STATE.queue.take();
    NativeLogBatch { records: records.into_iter().map(to_native).collect(), dropped: dropped as f64 }
}

fn to_native(r: Record) -> NativeLogRecord {
    NativeLogRecord {
        level: r.level.to_owned(),
        namespace: r.namespace,
        target: r.target,
        message: r.message,
        fields: r
            .fields
            .into_iter()
            .map(|(name, value)| NativeLogField {
                name: name.to_owned(),
                value: match value {
                    Value::Text(s) => Either3::A(s),
                    Value::Number(n) => Either3::B(n),
                    Value::Bool(b) => Either3::C(b),
                },
            })
            .collect(),
    }
}
