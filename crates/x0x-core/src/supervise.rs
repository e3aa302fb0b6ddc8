//! Tasks whose panics are reported instead of vanishing (issue 14, finding
//! 13).
//!
//! Tokio catches a panic in a spawned task and drops the task, so a bug in a
//! long-lived loop (the frame dispatcher, a driver) used to leave the agent
//! running without that part, with nothing said. Here a panic is caught at
//! the task boundary, logged at `error` level and counted. What follows
//! depends on the task:
//! - a [`Scope::Frame`] task handles one inbound frame; its frame is lost and
//!   the agent carries on, so remote input that trips a bug costs one frame,
//!   not the agent;
//! - a [`Scope::Agent`] task is part of the agent itself; the agent is then
//!   faulted, and every later call fails with [`CoreError::Internal`] naming
//!   the task, instead of an agent that quietly stopped hearing its peers.
//!   Its counters (the `*_stats` and `diagnostics` reads) still answer, so
//!   that `metrics()` shows the fault.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::FutureExt;
use tracing::error;

use crate::error::CoreError;

/// What a panic in the task takes down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// One inbound frame.
    Frame,
    /// The agent: the task is one of its loops.
    Agent,
}

/// Panics caught in one agent's tasks.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    panicked: AtomicU64,
    /// The first agent-scope panic: which task, and its message.
    fatal: Mutex<Option<String>>,
}

impl Faults {
    /// Panics caught so far, of either scope.
    pub(crate) fn panicked(&self) -> u64 {
        self.panicked.load(Ordering::Relaxed)
    }

    /// `Err` once an agent-scope task panicked.
    pub(crate) fn check(&self) -> Result<(), CoreError> {
        match self.fatal.lock().ok().and_then(|f| f.clone()) {
            Some(what) => Err(CoreError::Internal(what)),
            None => Ok(()),
        }
    }

    fn record(&self, task: &'static str, scope: Scope, payload: &(dyn Any + Send)) {
        self.panicked.fetch_add(1, Ordering::Relaxed);
        let message = panic_message(payload);
        error!(task, ?scope, "x0x task panicked: {message}");
        if scope == Scope::Agent {
            if let Ok(mut fatal) = self.fatal.lock() {
                fatal.get_or_insert_with(|| {
                    format!("the agent's {task} task panicked ({message}); close this agent and start a new one")
                });
            }
        }
    }
}

/// Runs `fut` to completion, catching and recording a panic in it.
pub(crate) async fn guarded<F>(faults: &Faults, task: &'static str, scope: Scope, fut: F)
where
    F: Future<Output = ()>,
{
    // Unwind safety: after a panic the task's state is dropped, never
    // observed again; shared state is behind locks that poison or atomics.
    if let Err(payload) = AssertUnwindSafe(fut).catch_unwind().await {
        faults.record(task, scope, payload.as_ref());
    }
}

/// Spawns `fut` on the current runtime under [`guarded`].
pub(crate) fn spawn<F>(faults: Arc<Faults>, task: &'static str, scope: Scope, fut: F) -> tokio::task::JoinHandle<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move { guarded(&faults, task, scope, fut).await })
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_frame_panic_is_counted_and_leaves_the_agent_usable() {
        let faults = Arc::new(Faults::default());
        spawn(Arc::clone(&faults), "frame", Scope::Frame, async { panic!("bad frame") }).await.unwrap();
        assert_eq!(faults.panicked(), 1);
        assert!(faults.check().is_ok());
    }

    #[tokio::test]
    async fn an_agent_task_panic_faults_the_agent_with_the_task_named() {
        let faults = Arc::new(Faults::default());
        spawn(Arc::clone(&faults), "dispatch", Scope::Agent, async { panic!("broken {}", 7) }).await.unwrap();
        spawn(Arc::clone(&faults), "driver", Scope::Agent, async { panic!("second") }).await.unwrap();
        assert_eq!(faults.panicked(), 2);
        let err = faults.check().unwrap_err();
        assert_eq!(err.code(), "ERR_X0X_INTERNAL");
        let text = err.to_string();
        assert!(text.contains("dispatch") && text.contains("broken 7"), "{text}");
    }

    #[tokio::test]
    async fn a_task_that_ends_normally_records_nothing() {
        let faults = Arc::new(Faults::default());
        spawn(Arc::clone(&faults), "quiet", Scope::Agent, async {}).await.unwrap();
        assert_eq!(faults.panicked(), 0);
        assert!(faults.check().is_ok());
    }
}
