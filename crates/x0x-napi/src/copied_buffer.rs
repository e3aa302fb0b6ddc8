//! Bytes handed to JavaScript as a `Buffer` that the engine owns.
//!
//! napi-rs turns a `Buffer` made from a `Vec` into an *external* buffer: V8
//! wraps the Rust allocation and runs a finalizer once it is collected. For
//! a delivered message that finalizer, and the handle it needs, cost more
//! than copying the payload: the external buffers and their finalizers took
//! a quarter of the JS thread's time in a 10-node profile at 4 KiB. A copy
//! into memory V8 allocates costs neither, and also works where external
//! buffers are forbidden (Electron's V8 sandbox).

use napi::bindgen_prelude::{BufferSlice, ToNapiValue, TypeName, ValueType};
use napi::{sys, Env};

/// A payload copied into a JS-owned `Buffer` when it crosses into JS.
pub struct CopiedBuffer(pub Vec<u8>);

impl TypeName for CopiedBuffer {
    fn type_name() -> &'static str {
        "Buffer"
    }

    fn value_type() -> ValueType {
        ValueType::Object
    }
}

impl ToNapiValue for CopiedBuffer {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        let slice = BufferSlice::copy_from(&Env::from_raw(env), &val.0)?;
        // SAFETY: napi-rs calls this with its own valid env, on the JS thread,
        // which is the contract `&BufferSlice`'s conversion needs.
        unsafe { <&BufferSlice<'_> as ToNapiValue>::to_napi_value(env, &slice) }
    }
}
