//! How a failure reaches JavaScript: as an `Error` whose `code` property is
//! the stable `ERR_X0X_*` code of a [`CoreError`], with that variant's fields
//! as properties (`size` and `limit`, `field`). TypeScript reads `code` and
//! never parses the message.
//!
//! A JS object can only be made on Node's thread, and an `async fn` settles
//! there: every binding method returns an [`Outcome`], whose `ToNapiValue`
//! runs on that thread and turns a [`CoreError`] into such an object. napi-rs
//! then rejects (or throws) with that very object.

use napi::bindgen_prelude::{JsObjectValue, JsValue, Object, ToNapiValue, TypeName};
use napi::{sys, Env, Error, Status, ValueType};
use x0x_core::CoreError;

/// Why a binding call failed.
pub(crate) enum Fault {
    /// A failure of the core, with its code and fields.
    Core(CoreError),
    /// A bad argument the facade should have caught (napi's own `InvalidArg`).
    Napi(Error),
}

impl From<CoreError> for Fault {
    fn from(e: CoreError) -> Self {
        Self::Core(e)
    }
}

impl From<Error> for Fault {
    fn from(e: Error) -> Self {
        Self::Napi(e)
    }
}

/// A bad argument: napi's `InvalidArg`, the code napi-rs gives its own
/// argument conversion failures.
pub(crate) fn invalid_arg(message: String) -> Fault {
    Fault::Napi(Error::new(Status::InvalidArg, message))
}

/// The result of a binding call: its value, or a [`Fault`] that becomes a
/// coded JS `Error` when the value is handed to JavaScript.
pub struct Outcome<T>(pub(crate) Result<T, Fault>);

/// What the binding's method bodies return; `?` converts both fault kinds.
pub(crate) type Try<T> = Result<T, Fault>;

impl<T, E: Into<Fault>> From<Result<T, E>> for Outcome<T> {
    fn from(r: Result<T, E>) -> Self {
        Self(r.map_err(Into::into))
    }
}

impl<T: TypeName> TypeName for Outcome<T> {
    fn type_name() -> &'static str {
        T::type_name()
    }

    fn value_type() -> ValueType {
        T::value_type()
    }
}

impl<T: ToNapiValue> ToNapiValue for Outcome<T> {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        match val.0 {
            // SAFETY: same contract as ours; napi-rs passes its own valid env.
            Ok(v) => unsafe { T::to_napi_value(env, v) },
            Err(Fault::Napi(e)) => Err(e),
            Err(Fault::Core(e)) => Err(js_error(&Env::from_raw(env), &e)),
        }
    }
}

/// A napi `Error` that holds a JS `Error` with `code` and the variant's
/// fields; napi-rs throws or rejects with that object unchanged.
fn js_error(env: &Env, e: &CoreError) -> Error {
    // Making the object fails only while the environment shuts down; the
    // plain error then still carries the message.
    error_object(env, e)
        .map(|obj| Error::from(obj.to_unknown()))
        .unwrap_or_else(|_| Error::new(Status::GenericFailure, e.to_string()))
}

/// The JS `Error` for `e`: its message, `code`, and the variant's fields.
pub(crate) fn error_object<'env>(env: &'env Env, e: &CoreError) -> napi::Result<Object<'env>> {
    let mut obj = env.create_error(Error::new(Status::GenericFailure, e.to_string()))?;
    obj.set_named_property("code", e.code())?;
    match e {
        CoreError::PayloadTooLarge { size, limit } => {
            obj.set_named_property("size", *size as f64)?;
            obj.set_named_property("limit", *limit as f64)?;
        }
        CoreError::InvalidConfig { field: Some(field), .. } => {
            obj.set_named_property("field", *field)?;
        }
        _ => {}
    }
    Ok(obj)
}

/// Runs a method body that may fail with either fault kind.
pub(crate) fn outcome<T>(body: impl FnOnce() -> Try<T>) -> Outcome<T> {
    Outcome(body())
}

/// [`outcome`] for an async body.
pub(crate) async fn outcome_async<T>(body: impl std::future::Future<Output = Try<T>>) -> Outcome<T> {
    Outcome(body.await)
}
