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
    #[error("{0}")]
    InvalidConfig(String),
    /// The transport or gossip layer failed.
    #[error("{0}")]
    Network(String),
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
            Self::InvalidConfig(_) => "ERR_X0X_INVALID_CONFIG",
            Self::Network(_) => "ERR_X0X_NETWORK",
        }
    }

    pub(crate) fn network(context: &str, err: impl std::fmt::Display) -> Self {
        Self::Network(format!("{context}: {err}"))
    }
}

/// Result alias for the core.
pub type CoreResult<T> = Result<T, CoreError>;
