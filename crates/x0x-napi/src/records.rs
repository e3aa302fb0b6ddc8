//! Binding of signed records (`x0x_core::records`) and anonymous flooding:
//! conversion only; the managers that use them live in TypeScript.

use std::sync::Mutex as StdMutex;

use napi::bindgen_prelude::Buffer;
use napi::{Error, Result, Status};
use x0x_core::CoreError;
use napi_derive::napi;
use x0x_core::records::{self, Record, RecordBook};

use crate::errors::{outcome, outcome_async, Outcome, Try};
use crate::event_stream::{event_stream_class, Next};
use crate::{hex_id, parse_id, NativeAgent, NativeKeypair};

fn invalid(message: String) -> Error {
    Error::new(Status::InvalidArg, message)
}

fn kind_of(kind: u32) -> Result<u8> {
    u8::try_from(kind).map_err(|_| invalid(format!("record kind must be 0 to 255 (got {kind})")))
}

/// A JS number of milliseconds as `u64`: a non-negative safe integer.
pub(crate) fn ms(value: f64, name: &str) -> Result<u64> {
    if value.is_finite() && value >= 0.0 && value.fract() == 0.0 && value <= 9_007_199_254_740_991.0
    {
        Ok(value as u64)
    } else {
        Err(invalid(format!(
            "{name} must be a non-negative integer of ms (got {value})"
        )))
    }
}

/// A verified record.
#[napi(object)]
pub struct NativeRecord {
    pub kind: u32,
    /// Signer agent id, hex.
    pub signer: String,
    pub timestamp: f64,
    pub expires_at: f64,
    pub body: Buffer,
    pub public_key: Buffer,
    pub signature: Buffer,
}

fn to_native(r: Record) -> NativeRecord {
    NativeRecord {
        kind: r.kind.into(),
        signer: hex_id(&r.signer),
        timestamp: r.timestamp as f64,
        expires_at: r.expires_at as f64,
        body: r.body.into(),
        public_key: r.public_key.into(),
        signature: r.signature.into(),
    }
}

/// Outcome of [`NativeRecordBook::offer`]: exactly one field is set.
#[napi(object)]
pub struct NativeOffer {
    pub record: Option<NativeRecord>,
    /// "malformed", "wrong-kind", "signer-mismatch", "bad-signature",
    /// "expired", "from-future" or "replayed".
    pub rejection: Option<String>,
}

/// Rejections counted by a book, by reason.
#[napi(object)]
pub struct NativeRejectionCount {
    pub reason: String,
    pub count: f64,
}

/// Flood counters.
#[napi(object)]
pub struct NativeFloodStats {
    pub sent: f64,
    pub received: f64,
    pub duplicates: f64,
    pub oversized: f64,
    /// New frames dropped because their neighbour's budget was spent.
    pub rate_limited: f64,
    /// Records in the clear that failed verification; not forwarded.
    pub invalid: f64,
}

/// The newest valid record of one kind per signer.
#[napi]
pub struct NativeRecordBook {
    inner: StdMutex<RecordBook>,
}

#[napi]
impl NativeRecordBook {
    /// A book for `kind`, accepting timestamps up to `maxSkewMs` ahead.
    #[napi(constructor, catch_unwind)]
    pub fn new(kind: u32, max_skew_ms: f64) -> Result<Self> {
        Ok(Self {
            inner: StdMutex::new(RecordBook::new(
                kind_of(kind)?,
                ms(max_skew_ms, "maxSkewMs")?,
            )),
        })
    }

    fn book(&self) -> Try<std::sync::MutexGuard<'_, RecordBook>> {
        Ok(self
            .inner
            .lock()
            .map_err(|_| CoreError::Network("record book poisoned".to_owned()))?)
    }

    /// Verifies `bytes` and keeps it if acceptable; never throws on bad input.
    #[napi(catch_unwind)]
    pub fn offer(&self, bytes: Buffer, now_ms: f64) -> Outcome<NativeOffer> {
        outcome(|| {
        let now = ms(now_ms, "nowMs")?;
        Ok(match self.book()?.offer(&bytes, now) {
            Ok(r) => NativeOffer {
                record: Some(to_native(r)),
                rejection: None,
            },
            Err(why) => NativeOffer {
                record: None,
                rejection: Some(why.as_str().to_owned()),
            },
        })
        })
    }

    /// Forgets a signer's record, keeping replay protection.
    #[napi(catch_unwind)]
    pub fn remove(&self, signer: String) -> Outcome<bool> {
        outcome(|| {
            let id = parse_id(&signer)?;
            Ok(self.book()?.remove(&id))
        })
    }

    /// Drops and returns the records expired at `nowMs`.
    #[napi(catch_unwind)]
    pub fn expire(&self, now_ms: f64) -> Outcome<Vec<NativeRecord>> {
        outcome(|| {
            let now = ms(now_ms, "nowMs")?;
            Ok(self.book()?.expire(now).into_iter().map(to_native).collect())
        })
    }

    /// The current records.
    #[napi(catch_unwind)]
    pub fn records(&self) -> Outcome<Vec<NativeRecord>> {
        outcome(|| Ok(self.book()?.records().into_iter().map(to_native).collect()))
    }

    /// Records accepted so far.
    #[napi(catch_unwind)]
    pub fn accepted(&self) -> Outcome<f64> {
        outcome(|| Ok(self.book()?.accepted() as f64))
    }

    /// Rejections so far, by reason.
    #[napi(catch_unwind)]
    pub fn rejections(&self) -> Outcome<Vec<NativeRejectionCount>> {
        outcome(|| Ok(self
            .book()?
            .rejections()
            .into_iter()
            .map(|(why, n)| NativeRejectionCount {
                reason: why.as_str().to_owned(),
                count: n as f64,
            })
            .collect()))
    }
}

/// Checks a record given as fields: the key hashes to `signer` and signed them.
#[napi(catch_unwind)]
pub fn verify_record(
    kind: u32,
    signer: String,
    timestamp: f64,
    expires_at: f64,
    body: Buffer,
    public_key: Buffer,
    signature: Buffer,
) -> Outcome<bool> {
    outcome(|| {
    let signer = parse_id(&signer)?;
    Ok(records::verify_fields(
        kind_of(kind)?,
        &signer,
        ms(timestamp, "timestamp")?,
        ms(expires_at, "expiresAt")?,
        &body,
        &public_key,
        &signature,
    )
    .is_ok())
    })
}

/// One item of the flood stream, as a union discriminated by `type`.
#[napi(discriminant = "type", discriminant_case = "lowercase")]
pub enum NativeFlood {
    /// A payload flooded by another agent.
    Payload { payload: Buffer },
    /// The reader fell behind; `missed` payloads were dropped.
    Lagged { missed: f64 },
}

impl From<Next<Vec<u8>>> for NativeFlood {
    fn from(next: Next<Vec<u8>>) -> Self {
        match next {
            Next::Item(bytes) => Self::Payload { payload: bytes.into() },
            // A slow reader loses the oldest beacons; the next round repeats them.
            Next::Lagged(n) => Self::Lagged { missed: n as f64 },
        }
    }
}

event_stream_class! {
    /// Flooded payloads.
    NativeFloodPayloads(Vec<u8>) -> NativeFlood
}

#[napi]
impl NativeAgent {
    /// Signs a record with the agent's key.
    #[napi(catch_unwind)]
    pub fn sign_record(
        &self,
        kind: u32,
        body: Buffer,
        timestamp: f64,
        expires_at: f64,
    ) -> Outcome<Buffer> {
        outcome(|| {
            let bytes = self.inner.sign_record(
                kind_of(kind)?,
                &body,
                ms(timestamp, "timestamp")?,
                ms(expires_at, "expiresAt")?,
            )?;
            Ok(bytes.into())
        })
    }

    /// Floods a payload anonymously; resolves with the neighbours reached.
    #[napi(catch_unwind)]
    pub async fn flood(&self, payload: Buffer) -> Outcome<u32> {
        outcome_async(async {
            let n = self.inner.flood(payload.to_vec()).await?;
            Ok(u32::try_from(n).unwrap_or(u32::MAX))
        })
        .await
    }

    /// Payloads flooded by others.
    #[napi(catch_unwind)]
    pub fn flood_payloads(&self) -> Outcome<NativeFloodPayloads> {
        self.inner
            .flood_payloads()
            .map(|rx| NativeFloodPayloads::open(rx, self.inner.closed_signal()))
            .into()
    }

    /// Flood counters.
    #[napi(catch_unwind)]
    pub fn flood_stats(&self) -> Outcome<NativeFloodStats> {
        self.inner
            .flood_stats()
            .map(|s| NativeFloodStats {
                sent: s.sent as f64,
                received: s.received as f64,
                duplicates: s.duplicates as f64,
                oversized: s.oversized as f64,
                rate_limited: s.rate_limited as f64,
                invalid: s.invalid as f64,
            })
            .into()
    }
}

#[napi]
impl NativeKeypair {
    /// Signs a record with this key pair, without an agent. Lets tests and
    /// tools craft records (including deliberately bad ones) to offer to a book.
    #[napi(catch_unwind)]
    pub fn sign_record(
        &self,
        kind: u32,
        body: Buffer,
        timestamp: f64,
        expires_at: f64,
    ) -> Outcome<Buffer> {
        outcome(|| {
            let bytes = records::sign(
                &self.inner,
                kind_of(kind)?,
                &body,
                ms(timestamp, "timestamp")?,
                ms(expires_at, "expiresAt")?,
            )?;
            Ok(bytes.into())
        })
    }
}
