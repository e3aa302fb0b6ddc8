//! Error types. They are coarse and `#[non_exhaustive]`: a network layer
//! matches on the kind (drop the peer, retry, fall back), never on the text.

use thiserror::Error;

/// Invalid table or estimator parameters, or two tables that cannot be
/// combined because their parameters differ.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ParamsError {
    /// The number of hash functions is outside [`crate::MIN_K`]`..=`[`crate::MAX_K`].
    #[error("k = {0} is outside the supported range")]
    K(u8),
    /// The cell count is zero or not a multiple of the number of sub-tables.
    #[error("{cells} cells is not a positive multiple of {k}")]
    Cells {
        /// The cell count asked for.
        cells: usize,
        /// The number of sub-tables it must divide into.
        k: usize,
    },
    /// The cell count is above the hard construction limit.
    #[error("{cells} cells exceeds the maximum of {max}")]
    TooManyCells {
        /// The cell count asked for.
        cells: usize,
        /// The limit.
        max: usize,
    },
    /// Two tables (or estimators) with different sizes, `k` or seeds were
    /// combined: their cells hash differently, so cell-wise arithmetic
    /// would be meaningless.
    #[error("parameters differ: {0}")]
    Mismatch(&'static str),
}

/// Bytes received from a peer were rejected. Every decoder in this crate
/// returns this instead of panicking or allocating more than its limits.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum WireError {
    /// The input ended before the structure did.
    #[error("input truncated: {needed} bytes needed at offset {offset}")]
    Truncated {
        /// Where the missing field starts.
        offset: usize,
        /// How many bytes the field needs.
        needed: usize,
    },
    /// The leading version byte is not one this build understands.
    #[error("unsupported wire version {0}")]
    Version(u8),
    /// A message tag is unknown.
    #[error("unknown message tag {0}")]
    Tag(u8),
    /// Bytes were left over after a complete structure: encodings are
    /// canonical, so the byte counts reported to callers are exact.
    #[error("{0} trailing bytes")]
    TrailingBytes(usize),
    /// A declared size (cells, strata, ids) is above the receiver's limit.
    #[error("{what} = {value} exceeds the limit of {limit}")]
    TooLarge {
        /// Which size.
        what: &'static str,
        /// The declared value.
        value: u64,
        /// The receiver's limit.
        limit: u64,
    },
    /// The declared parameters are invalid.
    #[error("invalid parameters: {0}")]
    Params(#[from] ParamsError),
}

/// Peeling could not list the whole difference.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// No pure cell is left but some cells are not empty: the difference
    /// is too large for the table (or the table is corrupt). Retry with a
    /// larger table.
    #[error("peeling stuck after {peeled} ids with {stuck_cells} non-empty cells left")]
    Stuck {
        /// Ids recovered before peeling stopped.
        peeled: usize,
        /// Cells still non-empty.
        stuck_cells: usize,
    },
    /// More ids were peeled than the table has cells, which no honest
    /// table can produce: the input was crafted or corrupted.
    #[error("inconsistent table: more ids peeled than cells")]
    Inconsistent,
}

/// A reconciliation session could not continue.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ReconcileError {
    /// A message's parameters are invalid or do not match the session.
    #[error(transparent)]
    Params(#[from] ParamsError),
    /// A message from the peer could not be decoded.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// The peer answered with a message that does not fit the session's
    /// state (for example an extension before any table, or a seed other
    /// than the session's).
    #[error("protocol violation: {0}")]
    Protocol(&'static str),
    /// `on_response` was called after the session had finished.
    #[error("the session has already finished")]
    Finished,
}
