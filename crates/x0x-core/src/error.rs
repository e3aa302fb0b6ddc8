//! One error type for the whole core, each variant with a stable code that the
//! binding forwards to JavaScript unchanged.

use thiserror::Error;

/// Everything that can go wrong inside an agent.
#[derive(Debug, Error)]
pub enum CoreError {
    /// The agent was closed; nothing more can be done with it.
    #[error("agent is closed")]
    Closed,
    /// A key could not be decoded or does not form a valid ML-DSA-65 pair.
    #[error("{0}")]
    BadKey(String),
    /// A key file is missing, unreadable, or corrupt.
    #[error("{0}")]
    KeyFile(String),
    /// An address is not a valid `ip:port`.
    #[error("{0}")]
    BadAddress(String),
    /// No bootstrap peer could be reached.
    #[error("{0}")]
    JoinFailed(String),
    /// A topic is empty or too long.
    #[error("{0}")]
    InvalidTopic(String),
    /// A payload is above [`crate::MAX_PAYLOAD_BYTES`].
    #[error("payload of {size} bytes exceeds the limit of {limit} bytes")]
    PayloadTooLarge {
        /// Size of the rejected payload.
        size: usize,
        /// The limit it exceeded.
        limit: usize,
    },
    /// A configuration value is out of range.
    #[error("{message}")]
    InvalidConfig {
        /// The option at fault, named as in the TypeScript config (e.g.
        /// `"activeViewSize"`), when one option is to blame.
        field: Option<&'static str>,
        /// What is wrong, with the allowed range.
        message: String,
    },
    /// The transport or gossip layer failed.
    #[error("{0}")]
    Network(String),
    /// No rendezvous holder stored a registration (none known, or none
    /// reachable, or all refused it).
    #[error("{0}")]
    Rendezvous(String),
    /// A bug in x0x: one of the agent's own tasks panicked, and the agent can
    /// no longer be relied on (see `supervise`).
    #[error("{0}")]
    Internal(String),
}

impl CoreError {
    /// Stable machine-readable code, shared with the TypeScript error classes.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Closed => "ERR_X0X_CLOSED",
            Self::BadKey(_) => "ERR_X0X_BAD_KEY",
            Self::KeyFile(_) => "ERR_X0X_KEY_FILE",
            Self::BadAddress(_) => "ERR_X0X_BAD_ADDRESS",
            Self::JoinFailed(_) => "ERR_X0X_JOIN_FAILED",
            Self::InvalidTopic(_) => "ERR_X0X_INVALID_TOPIC",
            Self::PayloadTooLarge { .. } => "ERR_X0X_PAYLOAD_TOO_LARGE",
            Self::InvalidConfig { .. } => "ERR_X0X_INVALID_CONFIG",
            Self::Network(_) => "ERR_X0X_NETWORK",
            Self::Rendezvous(_) => "ERR_X0X_RENDEZVOUS",
            Self::Internal(_) => "ERR_X0X_INTERNAL",
        }
    }

    /// Every code [`CoreError::code`] can return, one per variant, in
    /// declaration order. The binding exports it so a test can tie each code
    /// to its TypeScript class.
    pub const CODES: &'static [&'static str] = &[
        "ERR_X0X_CLOSED",
        "ERR_X0X_BAD_KEY",
        "ERR_X0X_KEY_FILE",
        "ERR_X0X_BAD_ADDRESS",
        "ERR_X0X_JOIN_FAILED",
        "ERR_X0X_INVALID_TOPIC",
        "ERR_X0X_PAYLOAD_TOO_LARGE",
        "ERR_X0X_INVALID_CONFIG",
        "ERR_X0X_NETWORK",
        "ERR_X0X_RENDEZVOUS",
        "ERR_X0X_INTERNAL",
    ];

    /// An invalid-config error that names no single option.
    pub(crate) fn config(message: String) -> Self {
        Self::InvalidConfig { field: None, message }
    }

    pub(crate) fn network(context: &str, err: impl std::fmt::Display) -> Self {
        Self::Network(format!("{context}: {err}"))
    }
}

/// Result alias for the core.
pub type CoreResult<T> = Result<T, CoreError>;

#[cfg(test)]
mod tests {
    use super::CoreError;

    /// One value of each variant. `position` below is an exhaustive match, so
    /// a new variant fails to compile until it is added here and to `CODES`.
    fn samples() -> Vec<CoreError> {
        vec![
            CoreError::Closed,
            CoreError::BadKey(String::new()),
            CoreError::KeyFile(String::new()),
            CoreError::BadAddress(String::new()),
            CoreError::JoinFailed(String::new()),
            CoreError::InvalidTopic(String::new()),
            CoreError::PayloadTooLarge { size: 2, limit: 1 },
            CoreError::InvalidConfig { field: None, message: String::new() },
            CoreError::Network(String::new()),
            CoreError::Rendezvous(String::new()),
            CoreError::Internal(String::new()),
        ]
    }

    fn position(e: &CoreError) -> usize {
        match e {
            CoreError::Closed => 0,
            CoreError::BadKey(_) => 1,
            CoreError::KeyFile(_) => 2,
            CoreError::BadAddress(_) => 3,
            CoreError::JoinFailed(_) => 4,
            CoreError::InvalidTopic(_) => 5,
            CoreError::PayloadTooLarge { .. } => 6,
            CoreError::InvalidConfig { .. } => 7,
            CoreError::Network(_) => 8,
            CoreError::Rendezvous(_) => 9,
            CoreError::Internal(_) => 10,
        }
    }

    #[test]
    fn codes_lists_every_variant_once_in_order() {
        let samples = samples();
        assert_eq!(samples.len(), CoreError::CODES.len());
        for (i, e) in samples.iter().enumerate() {
            assert_eq!(position(e), i, "samples() is out of declaration order");
            assert_eq!(e.code(), CoreError::CODES[i]);
        }
        let mut unique = CoreError::CODES.to_vec();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), CoreError::CODES.len(), "two variants share a code");
    }
}
