//! Binding of coordinator adverts (`x0x_core::coordinators`): conversion
//! only; the advert body, the schedule and the acceptance rules live in the
//! core.

use std::sync::Arc;
use std::time::Duration;

use napi::bindgen_prelude::Buffer;
use napi_derive::napi;
use x0x_core::coordinators::{self, CoordinatorAdvert};
use x0x_core::{CoordinatorConfig, Coordinators};

use crate::errors::{outcome, outcome_async, Outcome, Try};
use crate::records::ms;
use crate::{hex_id, parse_id, NativeAgent};

/// Coordinator settings, already validated by TypeScript (validated again in Rust).
#[napi(object)]
pub struct NativeCoordinatorConfig {
    /// Advert lifetime; adverts go out every half of it.
    pub advert_ttl_ms: u32,
    /// Advertise from `start()` on.
    pub advertise: bool,
}

/// A verified coordinator advert.
#[napi(object)]
pub struct NativeCoordinatorAdvert {
    pub peer_id: String,
    pub addrs: Vec<String>,
    pub timestamp: f64,
    pub expires_at: f64,
    pub signature: Buffer,
    pub public_key: Buffer,
}

fn to_native(a: CoordinatorAdvert) -> NativeCoordinatorAdvert {
    NativeCoordinatorAdvert {
        peer_id: hex_id(&a.peer),
        addrs: a.addrs,
        timestamp: a.timestamp as f64,
        expires_at: a.expires_at as f64,
        signature: a.signature.into(),
        public_key: a.public_key.into(),
    }
}

fn from_native(a: NativeCoordinatorAdvert) -> Try<CoordinatorAdvert> {
    Ok(CoordinatorAdvert {
        peer: parse_id(&a.peer_id)?,
        addrs: a.addrs,
        timestamp: ms(a.timestamp, "timestamp")?,
        expires_at: ms(a.expires_at, "expiresAt")?,
        signature: a.signature.to_vec(),
        public_key: a.public_key.to_vec(),
    })
}

/// Adverts accepted and rejected; `rejected` lists every reason.
#[napi(object)]
pub struct NativeCoordinatorStats {
    pub accepted: f64,
    pub rejected: Vec<crate::records::NativeRejectionCount>,
}

/// Coordinator adverts of one agent.
#[napi]
pub struct NativeCoordinators {
    pub(crate) inner: Arc<Coordinators>,
}

#[napi]
impl NativeAgent {
    /// Coordinator adverts for this agent, idle until `start()`.
    #[napi(catch_unwind)]
    pub fn coordinators(&self, config: NativeCoordinatorConfig) -> Outcome<NativeCoordinators> {
        outcome(|| {
            let config = CoordinatorConfig {
                advert_ttl: Duration::from_millis(config.advert_ttl_ms.into()),
                advertise: config.advertise,
            };
            Ok(NativeCoordinators { inner: Arc::new(Coordinators::new(&self.inner, &config)?) })
        })
    }
}

#[napi]
impl NativeCoordinators {
    /// Starts listening and, if configured, advertising. Idempotent.
    #[napi(catch_unwind)]
    pub async fn start(&self) -> Outcome<()> {
        outcome_async(async { Ok(self.inner.start().await?) }).await
    }

    /// Advertises now and every TTL/2; resolves with the advert published.
    #[napi(catch_unwind)]
    pub async fn advertise(&self) -> Outcome<NativeCoordinatorAdvert> {
        outcome_async(async { Ok(to_native(self.inner.advertise().await?)) }).await
    }

    /// Verified, unexpired adverts, by coordinator id.
    #[napi(catch_unwind)]
    pub fn list(&self) -> Vec<NativeCoordinatorAdvert> {
        self.inner.coordinators().into_iter().map(to_native).collect()
    }

    /// Counters.
    #[napi(catch_unwind)]
    pub fn stats(&self) -> NativeCoordinatorStats {
        let s = self.inner.stats();
        NativeCoordinatorStats {
            accepted: s.accepted as f64,
            rejected: s
                .rejected
                .into_iter()
                .map(|(reason, count)| crate::records::NativeRejectionCount { reason: reason.to_owned(), count: count as f64 })
                .collect(),
        }
    }

    /// Stops advertising and listening. Idempotent.
    #[napi(catch_unwind)]
    pub fn stop(&self) {
        self.inner.stop();
    }
}

/// Re-checks an advert from its fields: the key hashes to `peerId` and
/// signed the addresses and times. False for anything malformed.
#[napi(catch_unwind)]
pub fn verify_coordinator_advert(advert: NativeCoordinatorAdvert) -> bool {
    from_native(advert).is_ok_and(|a| coordinators::verify(&a))
}
