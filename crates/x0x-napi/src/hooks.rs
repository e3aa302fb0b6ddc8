//! Test hooks: forge and inject frames to prove receivers drop forged,
//! tampered and repeated messages. Compiled only with the `test-hooks`
//! feature, into the test addon; the shipped `.node` has none of them (a test
//! checks its bytes).

use napi::bindgen_prelude::Buffer;
use napi_derive::napi;

use crate::errors::Outcome;
use crate::NativeAgent;

#[napi]
impl NativeAgent {
    /// Test hook: a signed envelope, not published.
    #[napi(catch_unwind)]
    pub fn seal_frame(&self, topic: String, payload: Buffer) -> Outcome<Buffer> {
        self.inner.seal_frame(&topic, &payload).map(Buffer::from).into()
    }

    /// Test hook: re-signs one of this agent's frames (same id, new bytes).
    #[napi(catch_unwind)]
    pub fn reseal_frame(&self, topic: String, frame: Buffer) -> Outcome<Buffer> {
        self.inner.reseal_frame(&topic, &frame).map(Buffer::from).into()
    }

    /// Test hook: gossips bytes without an envelope.
    #[napi(catch_unwind)]
    pub async fn publish_raw(&self, topic: String, frame: Buffer) -> Outcome<()> {
        self.inner.publish_raw(&topic, frame.to_vec()).await.into()
    }
}

/// Test hook: panics inside a synchronous binding call, to prove the panic
/// reaches JavaScript as a thrown error instead of aborting Node.
// The lib's own unit-test build registers no exports, so nothing calls these there.
#[cfg_attr(test, allow(dead_code))]
#[napi(catch_unwind)]
pub fn panic_for_test(message: String) {
    panic!("{message}");
}

/// Test hook: the same inside an async binding call (a rejected promise).
#[cfg_attr(test, allow(dead_code))]
#[napi(catch_unwind)]
pub async fn panic_async_for_test(message: String) {
    panic!("{message}");
}
