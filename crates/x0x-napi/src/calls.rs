//! How the binding's busiest calls settle: a publish, and a subscription's
//! next batch.
//!
//! A napi-rs `async fn` makes a threadsafe function for every call, runs its
//! future on napi-rs's own tokio runtime (which in turn waits on the agent's
//! runtime) and settles through that threadsafe function. For a call made
//! once per delivered message that is two runtimes, three threads and a
//! threadsafe function per message. Here the agent's runtime runs the call
//! itself and settles it through one threadsafe function made once per
//! process ([`CallPort`], shared by its agents): the JavaScript side
//! (`src/native-calls.ts`) hands each call an id, keeps the promise, and
//! keeps Node running while one is pending, so the threadsafe function
//! itself is weak.
//!
//! A call settles exactly once: with its value, or, when its task is dropped
//! unfinished (the agent closed and its runtime stopped), with the value its
//! [`Call`] was given for that case.

use std::sync::Arc;

use napi::bindgen_prelude::{FnArgs, Function, JsValue, ToNapiValue};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{sys, Env, Status};
use x0x_core::CoreError;

use crate::errors::error_object;
use crate::NativeMessage;

/// What a call settles with. Crosses into JavaScript as the value, or as a
/// coded `Error` (see [`crate::errors`]) for a failure.
pub enum Settled {
    /// A message id, hex.
    Id(Result<String, CoreError>),
    /// `Ok(None)` for a publish that was not sent in time; see `publishWithin`.
    MaybeId(Result<Option<String>, CoreError>),
    /// A subscription's next batch; `None` once the subscription ended.
    Batch(Option<Vec<NativeMessage>>),
    /// Any call whose task panicked.
    Failed(CoreError),
}

impl ToNapiValue for Settled {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        // SAFETY (each arm): napi-rs calls this on the JS thread with its own
        // valid env, which is the contract of the conversions it delegates to.
        match val {
            Settled::Id(Ok(id)) => unsafe { String::to_napi_value(env, id) },
            Settled::MaybeId(Ok(id)) => unsafe { Option::<String>::to_napi_value(env, id) },
            Settled::Batch(batch) => unsafe { Option::<Vec<NativeMessage>>::to_napi_value(env, batch) },
            Settled::Id(Err(e)) | Settled::MaybeId(Err(e)) | Settled::Failed(e) => {
                let env = Env::from_raw(env);
                let obj = error_object(&env, &e)?;
                Ok(obj.raw())
            }
        }
    }
}

/// The arguments of one `settle(id, outcome)`.
pub type Completion = FnArgs<(u32, Settled)>;
type PortFn = ThreadsafeFunction<Completion, (), Completion, Status, false, true>;

/// One agent's way back into JavaScript: `settle(id, outcome)` on Node's
/// thread, where `outcome` is the value or a coded `Error`.
#[derive(Clone)]
pub(crate) struct CallPort(Arc<PortFn>);

impl CallPort {
    /// Wraps the JavaScript `settle` function.
    pub(crate) fn new(settle: Function<'_, Completion, ()>) -> napi::Result<Self> {
        let tsfn = settle
            .build_threadsafe_function::<Completion>()
            .callee_handled::<false>()
            // Weak: src/native-calls.ts keeps the process alive while a
            // call is pending, and only then.
            .weak::<true>()
            .build_callback(|ctx| Ok(ctx.value))?;
        Ok(Self(Arc::new(tsfn)))
    }

    /// A pending call `id`; `if_dropped` is what it settles with should it
    /// be dropped before [`Call::settle`].
    pub(crate) fn call(&self, id: u32, if_dropped: fn() -> Settled) -> Call {
        Call { port: Some(self.clone()), id, if_dropped }
    }

    fn send(&self, id: u32, settled: Settled) {
        // Fails only once Node's environment is being torn down, when no
        // promise is left to settle.
        let _ = self.0.call(FnArgs::from((id, settled)), ThreadsafeFunctionCallMode::NonBlocking);
    }
}

/// One pending call. Settles once: by [`Call::settle`], or when dropped.
pub(crate) struct Call {
    port: Option<CallPort>,
    id: u32,
    if_dropped: fn() -> Settled,
}

impl Call {
    /// Settles the call with `settled`.
    pub(crate) fn settle(mut self, settled: Settled) {
        if let Some(port) = self.port.take() {
            port.send(self.id, settled);
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        if let Some(port) = self.port.take() {
            // Dropped while unwinding: the task panicked (tokio keeps the
            // panic from spreading); the caller must not mistake that for
            // a close or the end of a stream.
            let settled = if std::thread::panicking() {
                Settled::Failed(CoreError::Internal("the native call panicked; the log has the details".into()))
            } else {
                (self.if_dropped)()
            };
            port.send(self.id, settled);
        }
    }
}

/// What a publish dropped unfinished settles with.
pub(crate) fn closed_id() -> Settled {
    Settled::Id(Err(CoreError::Closed))
}

/// What a `publishWithin` dropped unfinished settles with.
pub(crate) fn closed_maybe_id() -> Settled {
    Settled::MaybeId(Err(CoreError::Closed))
}

/// What a next batch dropped unfinished settles with: the end of the stream,
/// as when the agent closes while it waits.
pub(crate) fn ended_batch() -> Settled {
    Settled::Batch(None)
}
