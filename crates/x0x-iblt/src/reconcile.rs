//! A sans-IO reconciliation session: the messages two peers exchange and
//! the state machine that drives them. No networking here; the caller
//! ships `to_bytes()` and feeds back `from_bytes()`.
//!
//! ```text
//! initiator                                   responder
//! start(local)  ── Estimate{size, sketch} ──▶ on_request: estimate d, plan cells
//!               ◀── Table{size, iblt} ──────  (or Ids when the list is smaller)
//! on_response: subtract, peel, verify
//!   ok, nothing remote → Done(diff)
//!   ok        ── Resolve{fingerprints} ───▶ the ids behind them
//!               ◀── Ids[..] ───────────────  → Done(diff)
//!   stuck     ── Extend{cells} ───────────▶ build 2× table, send low halves
//!               ◀── Extension{low halves} ─  (high halves = old − low)
//!   … doubling until max_cells or the list is smaller …
//!   last resort ── FullList ──────────────▶
//!               ◀── Ids[..] ───────────────
//! ```
//!
//! Tables hold 64-bit fingerprints of the ids, keyed by the session seed
//! ([`Keys::Fingerprints`], 13-byte cells instead of 41): the initiator
//! maps the fingerprints it holds back to its ids, and asks for the full
//! ids only of those the peer alone holds. At d = 100 split evenly that is
//! about 1.6x the raw 32·d bytes, against 2.4x for tables of whole ids.
//! The price is a second round trip when the peer holds ids the initiator
//! lacks, and a miss, until a session with another seed, when an id the
//! peer alone holds shares its fingerprint with one both hold (about
//! n·d / 2^64 per session).

use crate::ams::{AmsSketch, DEFAULT_AMS_COUNTERS};
use crate::error::{ParamsError, ReconcileError, WireError};
use crate::hash::FingerprintHasher;
use crate::iblt::{Iblt, Keys, DEFAULT_K, IBLT_HEADER_BYTES, MAX_K, MIN_K};
use crate::plan::plan;
use crate::strata::{DifferenceEstimate, StrataEstimator, DEFAULT_STRATUM_CELLS};
use crate::wire::Reader;
use crate::Id;

/// Version 2: tables of fingerprints, and the Resolve request.
const MSG_VERSION: u8 = 2;
const MSG_HEADER_BYTES: usize = 2;
const TAG_ESTIMATE: u8 = 1;
const TAG_EXTEND: u8 = 2;
const TAG_FULL_LIST: u8 = 3;
const TAG_RESOLVE: u8 = 4;
const SKETCH_STRATA: u8 = 1;
const SKETCH_AMS: u8 = 2;
const TAG_TABLE: u8 = 1;
const TAG_EXTENSION: u8 = 2;
const TAG_IDS: u8 = 3;

/// What a peer's message may make us allocate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest table accepted, in cells. Default 2^17 (5.4 MB).
    pub max_cells: usize,
    /// Largest stratum accepted, in cells. Default 384.
    pub max_stratum_cells: usize,
    /// Largest AMS sketch accepted, in counters. Default 8,192.
    pub max_ams_counters: usize,
    /// Largest full id list accepted. Default 2^20 ids (32 MiB).
    pub max_ids: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_cells: 1 << 17,
            max_stratum_cells: 384,
            max_ams_counters: 8192,
            max_ids: 1 << 20,
        }
    }
}

/// Which estimator opens a session, and its size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Estimator {
    /// A [`StrataEstimator`] with this many cells per stratum: exact for
    /// small differences, about ±15 % for large ones, 4–5 KB on 10,000 ids
    /// with 48 cells (it grows with log2 of the set size).
    Strata {
        /// Cells per stratum (a multiple of 3).
        stratum_cells: usize,
    },
    /// An [`AmsSketch`] with this many one-byte counters: ±√(2/w), about
    /// ±4.4 % with 1,024 counters (1 KB) whatever the set size.
    Ams {
        /// Counters (bytes on the wire).
        counters: usize,
    },
}

/// A difference estimator as sent in [`Request::Estimate`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Sketch {
    /// A strata estimator.
    Strata(StrataEstimator),
    /// A fast-AMS sketch.
    Ams(AmsSketch),
}

impl Sketch {
    fn build(estimator: Estimator, ids: &[Id], seed: u64) -> Result<Self, ParamsError> {
        Ok(match estimator {
            Estimator::Strata { stratum_cells } => {
                Sketch::Strata(StrataEstimator::from_ids(ids, stratum_cells, seed)?)
            }
            Estimator::Ams { counters } => Sketch::Ams(AmsSketch::from_ids(ids, counters, seed)?),
        })
    }

    /// The session seed the sketch is keyed with.
    pub fn seed(&self) -> u64 {
        match self {
            Sketch::Strata(s) => s.seed(),
            Sketch::Ams(s) => s.seed(),
        }
    }

    /// Bytes of the sketch on the wire, its tag byte included.
    pub fn encoded_len(&self) -> usize {
        1 + match self {
            Sketch::Strata(s) => s.encoded_len(),
            Sketch::Ams(s) => s.encoded_len(),
        }
    }

    fn write_to(&self, out: &mut Vec<u8>) {
        match self {
            Sketch::Strata(s) => {
                out.push(SKETCH_STRATA);
                s.write_to(out);
            }
            Sketch::Ams(s) => {
                out.push(SKETCH_AMS);
                s.write_to(out);
            }
        }
    }

    fn read_from(reader: &mut Reader<'_>, limits: &Limits) -> Result<Self, WireError> {
        match reader.u8()? {
            SKETCH_STRATA => Ok(Sketch::Strata(StrataEstimator::read_from(
                reader,
                limits.max_stratum_cells,
            )?)),
            SKETCH_AMS => Ok(Sketch::Ams(AmsSketch::read_from(
                reader,
                limits.max_ams_counters,
            )?)),
            tag => Err(WireError::Tag(tag)),
        }
    }

    /// Estimates the difference between the sketched set and `local`,
    /// building the same kind of sketch of `local` with the same
    /// parameters.
    fn estimate_against(
        &self,
        local: &[Id],
        limits: &Limits,
    ) -> Result<DifferenceEstimate, ReconcileError> {
        match self {
            Sketch::Strata(remote) => {
                if remote.stratum_cells() > limits.max_stratum_cells {
                    return Err(ReconcileError::Protocol("stratum larger than the limit"));
                }
                let mine = StrataEstimator::from_ids(local, remote.stratum_cells(), remote.seed())?;
                Ok(remote.estimate(&mine)?)
            }
            Sketch::Ams(remote) => {
                if remote.counters() > limits.max_ams_counters {
                    return Err(ReconcileError::Protocol("sketch larger than the limit"));
                }
                let mine = AmsSketch::from_ids(local, remote.counters(), remote.seed())?;
                Ok(remote.estimate(&mine)?)
            }
        }
    }
}

/// Tuning of a reconciliation session. Both peers should use the same
/// values, though only the limits need to agree for sessions to succeed.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Hash functions (and sub-tables) per table. Default [`DEFAULT_K`] (4);
    /// [`plan`] is calibrated for 4.
    pub k: u8,
    /// The estimator that opens a session. Default
    /// `Estimator::Ams { counters: DEFAULT_AMS_COUNTERS }`
    /// (see `examples/iblt_bench.rs` for the comparison).
    pub estimator: Estimator,
    /// Smallest table sent, in cells. Default 8: a difference the
    /// estimator missed entirely still has room to decode.
    pub min_cells: usize,
    /// Estimates that are not exact are multiplied by this before
    /// planning, trading a slightly larger first table for fewer
    /// doublings. Default 1.06, the best measured for the default AMS
    /// sketch on 10,000 ids (about 1.5 of its standard deviations); the
    /// strata estimator, being coarser, does best near 1.2
    /// ([`Config::strata`]).
    pub estimate_margin: f64,
    /// Limits on received messages. `limits.max_cells` is also the cap on
    /// doubling: past it a session falls back to the full id list.
    pub limits: Limits,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            k: DEFAULT_K,
            estimator: Estimator::Ams {
                counters: DEFAULT_AMS_COUNTERS,
            },
            min_cells: 8,
            estimate_margin: 1.06,
            limits: Limits::default(),
        }
    }
}

impl Config {
    /// The default configuration with the strata estimator
    /// ([`DEFAULT_STRATUM_CELLS`] cells per stratum) and the margin that
    /// measured best with it.
    pub fn strata() -> Self {
        Self {
            estimator: Estimator::Strata {
                stratum_cells: DEFAULT_STRATUM_CELLS,
            },
            estimate_margin: 1.2,
            ..Self::default()
        }
    }
}

/// A message from the initiator to the responder.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Request {
    /// Opens a session: the initiator's set size and a sketch of its set.
    /// The sketch's seed is the session seed.
    Estimate {
        /// Number of ids the initiator holds.
        set_size: u64,
        /// The initiator's estimator.
        sketch: Sketch,
    },
    /// Decoding failed: send the table doubled. The initiator keeps the
    /// `cells`-cell table, so only half of the doubled one is sent.
    Extend {
        /// Hash functions of the table.
        k: u8,
        /// The session seed.
        seed: u64,
        /// Cells of the table the initiator holds.
        cells: usize,
    },
    /// Last resort: send every id.
    FullList,
    /// The table decoded: send the ids behind these fingerprints, the ones
    /// only the responder holds. Answered by [`Response::Ids`].
    Resolve {
        /// The session seed, which keys the fingerprints.
        seed: u64,
        /// The fingerprints, sorted and distinct.
        fingerprints: Vec<u64>,
    },
}

/// A message from the responder to the initiator.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Response {
    /// The responder's table, sized from the estimate.
    Table {
        /// Number of ids the responder holds.
        set_size: u64,
        /// The responder's set as a table.
        table: Iblt,
    },
    /// The low half of each sub-table of the doubled table; not a table
    /// that decodes on its own.
    Extension {
        /// The packed low halves.
        low_halves: Iblt,
    },
    /// Every id the responder holds, sorted. Sent when asked, or instead
    /// of a table when the list is the smaller message; to a Resolve, only
    /// the ids behind the fingerprints named.
    Ids(Vec<Id>),
}

fn read_header(reader: &mut Reader<'_>) -> Result<u8, WireError> {
    let version = reader.u8()?;
    if version != MSG_VERSION {
        return Err(WireError::Version(version));
    }
    reader.u8()
}

impl Request {
    /// Bytes [`Request::to_bytes`] produces.
    pub fn encoded_len(&self) -> usize {
        MSG_HEADER_BYTES
            + match self {
                Request::Estimate { sketch, .. } => 8 + sketch.encoded_len(),
                Request::Extend { .. } => 1 + 8 + 4,
                Request::FullList => 0,
                Request::Resolve { fingerprints, .. } => 8 + 4 + 8 * fingerprints.len(),
            }
    }

    /// The wire encoding: version byte, tag byte, payload.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        out.push(MSG_VERSION);
        match self {
            Request::Estimate { set_size, sketch } => {
                out.push(TAG_ESTIMATE);
                out.extend_from_slice(&set_size.to_le_bytes());
                sketch.write_to(&mut out);
            }
            Request::Extend { k, seed, cells } => {
                out.push(TAG_EXTEND);
                out.push(*k);
                out.extend_from_slice(&seed.to_le_bytes());
                // Requests are built from tables, whose cell count fits.
                out.extend_from_slice(&u32::try_from(*cells).unwrap_or(u32::MAX).to_le_bytes());
            }
            Request::FullList => out.push(TAG_FULL_LIST),
            Request::Resolve { seed, fingerprints } => {
                out.push(TAG_RESOLVE);
                out.extend_from_slice(&seed.to_le_bytes());
                let count = u32::try_from(fingerprints.len()).unwrap_or(u32::MAX);
                out.extend_from_slice(&count.to_le_bytes());
                for fp in fingerprints {
                    out.extend_from_slice(&fp.to_le_bytes());
                }
            }
        }
        out
    }

    /// Decodes a request received from a peer.
    ///
    /// # Errors
    /// [`WireError`] for malformed input or sizes above `limits`.
    pub fn from_bytes(bytes: &[u8], limits: &Limits) -> Result<Self, WireError> {
        let mut reader = Reader::new(bytes);
        let request = match read_header(&mut reader)? {
            TAG_ESTIMATE => Request::Estimate {
                set_size: reader.u64()?,
                sketch: Sketch::read_from(&mut reader, limits)?,
            },
            TAG_EXTEND => {
                let k = reader.u8()?;
                let seed = reader.u64()?;
                let cells = reader.u32()? as usize;
                check_extend(k, cells, limits)?;
                Request::Extend { k, seed, cells }
            }
            TAG_FULL_LIST => Request::FullList,
            TAG_RESOLVE => read_resolve(&mut reader, limits)?,
            tag => return Err(WireError::Tag(tag)),
        };
        reader.finish()?;
        Ok(request)
    }
}

/// A Resolve names at most `max_ids` fingerprints: its answer is an id
/// list, held to the same limit.
fn read_resolve(reader: &mut Reader<'_>, limits: &Limits) -> Result<Request, WireError> {
    let seed = reader.u64()?;
    let count = reader.u32()? as usize;
    if count > limits.max_ids {
        return Err(WireError::TooLarge {
            what: "fingerprints",
            value: count as u64,
            limit: limits.max_ids as u64,
        });
    }
    reader.expect_items(count, 8)?;
    let mut fingerprints = Vec::with_capacity(count);
    for _ in 0..count {
        fingerprints.push(reader.u64()?);
    }
    Ok(Request::Resolve { seed, fingerprints })
}

/// Validates an Extend request's parameters, so a responder never builds a
/// table from parameters it would reject in a table.
fn check_extend(k: u8, cells: usize, limits: &Limits) -> Result<(), WireError> {
    if !(MIN_K..=MAX_K).contains(&k) {
        return Err(WireError::Params(ParamsError::K(k)));
    }
    if cells == 0 || !cells.is_multiple_of(usize::from(k.max(1))) {
        return Err(WireError::Params(ParamsError::Cells {
            cells,
            k: usize::from(k),
        }));
    }
    // The responder would build twice as many cells as the initiator holds.
    let doubled = cells.saturating_mul(2);
    if doubled > limits.max_cells {
        return Err(WireError::TooLarge {
            what: "cells",
            value: doubled as u64,
            limit: limits.max_cells as u64,
        });
    }
    Ok(())
}

impl Response {
    /// Bytes [`Response::to_bytes`] produces.
    pub fn encoded_len(&self) -> usize {
        MSG_HEADER_BYTES
            + match self {
                Response::Table { table, .. } => 8 + table.encoded_len(),
                Response::Extension { low_halves } => low_halves.encoded_len(),
                Response::Ids(ids) => 4 + ids.len() * 32,
            }
    }

    /// The wire encoding: version byte, tag byte, payload.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        out.push(MSG_VERSION);
        match self {
            Response::Table { set_size, table } => {
                out.push(TAG_TABLE);
                out.extend_from_slice(&set_size.to_le_bytes());
                table.write_to(&mut out);
            }
            Response::Extension { low_halves } => {
                out.push(TAG_EXTENSION);
                low_halves.write_to(&mut out);
            }
            Response::Ids(ids) => {
                out.push(TAG_IDS);
                out.extend_from_slice(&u32::try_from(ids.len()).unwrap_or(u32::MAX).to_le_bytes());
                for id in ids {
                    out.extend_from_slice(id);
                }
            }
        }
        out
    }

    /// Decodes a response received from a peer.
    ///
    /// # Errors
    /// [`WireError`] for malformed input or sizes above `limits`.
    pub fn from_bytes(bytes: &[u8], limits: &Limits) -> Result<Self, WireError> {
        let mut reader = Reader::new(bytes);
        let response = match read_header(&mut reader)? {
            TAG_TABLE => Response::Table {
                set_size: reader.u64()?,
                table: Iblt::read_from(&mut reader, limits.max_cells)?,
            },
            // The extension is half of a table at most max_cells large.
            TAG_EXTENSION => Response::Extension {
                low_halves: Iblt::read_from(&mut reader, limits.max_cells / 2)?,
            },
            TAG_IDS => {
                let count = reader.u32()? as usize;
                if count > limits.max_ids {
                    return Err(WireError::TooLarge {
                        what: "ids",
                        value: count as u64,
                        limit: limits.max_ids as u64,
                    });
                }
                reader.expect_items(count, 32)?;
                let mut ids = Vec::with_capacity(count);
                for _ in 0..count {
                    ids.push(reader.array()?);
                }
                Response::Ids(ids)
            }
            tag => return Err(WireError::Tag(tag)),
        };
        reader.finish()?;
        Ok(response)
    }
}

/// The difference found by a session, from the initiator's side. Both
/// lists are sorted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diff {
    /// Ids the initiator holds and the responder lacks.
    pub local_only: Vec<Id>,
    /// Ids the responder holds and the initiator lacks.
    pub remote_only: Vec<Id>,
}

impl Diff {
    /// Size of the symmetric difference.
    pub fn len(&self) -> usize {
        self.local_only.len() + self.remote_only.len()
    }

    /// True when the two sets were equal.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What the initiator does next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// The session is over; this is the exact difference.
    Done(Diff),
    /// The table did not decode: send this request for a doubled table.
    Retry(Request),
    /// Doubling is exhausted or would cost more than the list (or the
    /// responder did not resolve its fingerprints): send this request for
    /// the responder's full id list.
    FullList(Request),
    /// The table decoded, and the responder holds ids the initiator lacks:
    /// send this request for them.
    Resolve(Request),
}

/// Traffic of one session as seen by the initiator, for reporting
/// `bytesSent` / `bytesReceived`. Each count is the exact length of the
/// messages' `to_bytes()`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Bytes of every request sent.
    pub bytes_sent: u64,
    /// Bytes of every response received.
    pub bytes_received: u64,
    /// Request/response pairs completed.
    pub round_trips: u32,
    /// Doublings asked for.
    pub retries: u32,
    /// Whether the session ended with the full id list.
    pub full_list: bool,
}

enum State {
    AwaitTable,
    AwaitExtension { table: Iblt, remote_set_size: u64 },
    AwaitIds,
    AwaitResolved {
        local_only: Vec<Id>,
        wanted: Vec<u64>,
    },
    Finished,
}

/// The initiator's side of one reconciliation session, and (as the
/// associated function [`Reconciler::on_request`]) the stateless
/// responder.
pub struct Reconciler {
    config: Config,
    seed: u64,
    local: Vec<Id>,
    /// The local ids by fingerprint, sorted by fingerprint.
    by_fingerprint: Vec<(u64, Id)>,
    state: State,
    stats: Stats,
}

impl std::fmt::Debug for Reconciler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reconciler")
            .field("seed", &format_args!("{:#018x}", self.seed))
            .field("local_ids", &self.local.len())
            .field("stats", &self.stats)
            .finish()
    }
}

/// Sorted and deduplicated: ids form a set, and an id inserted twice
/// would cancel itself out of every table.
fn to_set(ids: &[Id]) -> Vec<Id> {
    let mut set = ids.to_vec();
    set.sort_unstable();
    set.dedup();
    set
}

/// Bytes of an Extension answering a table of `cells` cells.
fn extension_bytes(cells: usize) -> usize {
    MSG_HEADER_BYTES + IBLT_HEADER_BYTES + cells * Keys::Fingerprints.cell_wire_bytes()
}

/// A fingerprint as a table key: its 8 bytes, then zeros.
fn fingerprint_key(fp: u64) -> Id {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&fp.to_le_bytes());
    key
}

fn key_fingerprint(key: &Id) -> u64 {
    u64::from_le_bytes([key[0], key[1], key[2], key[3], key[4], key[5], key[6], key[7]])
}

/// `ids` by their fingerprint under `seed`, sorted by fingerprint.
fn by_fingerprint(ids: &[Id], seed: u64) -> Vec<(u64, Id)> {
    let hasher = FingerprintHasher::new(seed);
    let mut out: Vec<(u64, Id)> = ids.iter().map(|id| (hasher.fingerprint(id), *id)).collect();
    out.sort_unstable();
    out
}

/// The table of a set's fingerprints, which is what both peers build.
fn fingerprint_table(
    fingerprints: impl Iterator<Item = u64>,
    cells: usize,
    k: u8,
    seed: u64,
) -> Result<Iblt, ParamsError> {
    let mut table = Iblt::with_keys(Keys::Fingerprints, cells, k, seed)?;
    for fp in fingerprints {
        table.insert(&fingerprint_key(fp));
    }
    Ok(table)
}

/// Bytes of an Ids response with `ids` ids.
fn list_bytes(ids: u64) -> u64 {
    (MSG_HEADER_BYTES + 4) as u64 + ids.saturating_mul(32)
}

impl Reconciler {
    /// Opens a session over `local_ids` (the caller's snapshot; later
    /// changes to its set do not affect the session) with a random seed,
    /// returning the first request to send.
    pub fn start(config: Config, local_ids: &[Id]) -> (Self, Request) {
        Self::start_with_seed(config, local_ids, rand::random())
    }

    /// As [`Reconciler::start`] with a chosen seed. A fresh random seed per
    /// session keeps a peer that crafts ids from predicting cells; fixed
    /// seeds are for tests.
    pub fn start_with_seed(config: Config, local_ids: &[Id], seed: u64) -> (Self, Request) {
        let local = to_set(local_ids);
        // An estimator size outside its range falls back to the default
        // strata size rather than failing the session.
        let sketch = Sketch::build(config.estimator, &local, seed).or_else(|_| {
            Sketch::build(
                Estimator::Strata {
                    stratum_cells: DEFAULT_STRATUM_CELLS,
                },
                &local,
                seed,
            )
        });
        let request = match sketch {
            Ok(sketch) => Request::Estimate {
                set_size: local.len() as u64,
                sketch,
            },
            Err(_) => Request::FullList,
        };
        let by_fingerprint = by_fingerprint(&local, seed);
        let mut session = Self {
            config,
            seed,
            local,
            by_fingerprint,
            state: match request {
                Request::FullList => State::AwaitIds,
                _ => State::AwaitTable,
            },
            stats: Stats::default(),
        };
        session.stats.bytes_sent += request.encoded_len() as u64;
        (session, request)
    }

    /// The session seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Traffic so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// After [`Next::Resolve`]: the ids only this side holds, already
    /// known. A caller that fetches the peer's items by fingerprint
    /// instead of sending the Resolve takes these and drops the session.
    pub fn local_only(&self) -> Option<&[Id]> {
        match &self.state {
            State::AwaitResolved { local_only, .. } => Some(local_only),
            _ => None,
        }
    }

    /// The responder's side: answers `request` from `local_ids`. Stateless,
    /// so a responder needs no per-session memory; it should answer all
    /// requests of one session from the same snapshot of its set, or the
    /// session will fail verification and fall back to the full list.
    ///
    /// # Errors
    /// [`ReconcileError::Params`] if the request's parameters are invalid
    /// (requests decoded with [`Request::from_bytes`] are already checked).
    pub fn on_request(
        config: &Config,
        local_ids: &[Id],
        request: &Request,
    ) -> Result<Response, ReconcileError> {
        let local = to_set(local_ids);
        let n = local.len() as u64;
        match request {
            Request::Estimate { set_size, sketch } => {
                let mut estimate = sketch.estimate_against(&local, &config.limits)?;
                // The difference is at least the gap between the set sizes.
                let gap = usize::try_from(set_size.abs_diff(n)).unwrap_or(usize::MAX);
                if gap > estimate.value {
                    estimate = DifferenceEstimate {
                        value: gap,
                        exact: false,
                    };
                }
                let cells = plan(estimate, config);
                if (extension_bytes(cells) as u64) >= list_bytes(n) {
                    return Ok(Response::Ids(local));
                }
                let table = Self::responder_table(&local, cells, config.k, sketch.seed())?;
                Ok(Response::Table { set_size: n, table })
            }
            Request::Extend { k, seed, cells } => {
                check_extend(*k, *cells, &config.limits)?;
                if (extension_bytes(*cells) as u64) >= list_bytes(n) {
                    return Ok(Response::Ids(local));
                }
                let doubled = Self::responder_table(&local, cells * 2, *k, *seed)?;
                Ok(Response::Extension {
                    low_halves: doubled.low_halves()?,
                })
            }
            Request::FullList => Ok(Response::Ids(local)),
            Request::Resolve { seed, fingerprints } => {
                Ok(Response::Ids(Self::resolve(local, *seed, fingerprints)))
            }
        }
    }

    fn responder_table(local: &[Id], cells: usize, k: u8, seed: u64) -> Result<Iblt, ParamsError> {
        let hasher = FingerprintHasher::new(seed);
        fingerprint_table(local.iter().map(|id| hasher.fingerprint(id)), cells, k, seed)
    }

    /// The ids of `local` (sorted) whose fingerprint under `seed` is one of
    /// `fingerprints`.
    fn resolve(local: Vec<Id>, seed: u64, fingerprints: &[u64]) -> Vec<Id> {
        let mut wanted = fingerprints.to_vec();
        wanted.sort_unstable();
        wanted.dedup();
        let hasher = FingerprintHasher::new(seed);
        local
            .into_iter()
            .filter(|id| wanted.binary_search(&hasher.fingerprint(id)).is_ok())
            .collect()
    }

    /// Feeds the responder's answer to the last request.
    ///
    /// # Errors
    /// [`ReconcileError::Protocol`] for a response that does not answer
    /// the last request (wrong kind, another seed, mismatched sizes),
    /// [`ReconcileError::Finished`] after the session has ended. Any error
    /// ends the session.
    pub fn on_response(&mut self, response: Response) -> Result<Next, ReconcileError> {
        let state = std::mem::replace(&mut self.state, State::Finished);
        if matches!(state, State::Finished) {
            return Err(ReconcileError::Finished);
        }
        self.stats.bytes_received += response.encoded_len() as u64;
        self.stats.round_trips += 1;
        match (state, response) {
            (State::AwaitResolved { local_only, wanted }, Response::Ids(ids)) => {
                Ok(self.on_resolved(local_only, &wanted, ids))
            }
            (_, Response::Ids(ids)) => {
                if ids.len() > self.config.limits.max_ids {
                    return Err(ReconcileError::Protocol("id list larger than the limit"));
                }
                self.stats.full_list = true;
                Ok(Next::Done(self.diff_with_list(ids)))
            }
            (State::AwaitTable, Response::Table { set_size, table }) => {
                self.decode_or_retry(table, set_size)
            }
            (
                State::AwaitExtension {
                    table,
                    remote_set_size,
                },
                Response::Extension { low_halves },
            ) => {
                let full = table
                    .unfold(&low_halves)
                    .map_err(|_| ReconcileError::Protocol("extension does not match the table"))?;
                self.decode_or_retry(full, remote_set_size)
            }
            _ => Err(ReconcileError::Protocol(
                "response does not answer the request",
            )),
        }
    }

    fn decode_or_retry(
        &mut self,
        remote: Iblt,
        remote_set_size: u64,
    ) -> Result<Next, ReconcileError> {
        if remote.seed() != self.seed {
            return Err(ReconcileError::Protocol("table seed is not the session's"));
        }
        if remote.cells() > self.config.limits.max_cells {
            return Err(ReconcileError::Protocol("table larger than the limit"));
        }
        if remote.keys() != Keys::Fingerprints {
            return Err(ReconcileError::Protocol("table does not hold fingerprints"));
        }
        let fingerprints = self.by_fingerprint.iter().map(|(fp, _)| *fp);
        let mut diff = fingerprint_table(fingerprints, remote.cells(), remote.k(), self.seed)?;
        diff.subtract(&remote)?;
        if let Some((local_only, wanted)) = diff.decode().ok().and_then(|d| self.verified(d)) {
            return Ok(self.done_or_resolve(local_only, wanted));
        }
        let cells = remote.cells();
        let too_big = cells.saturating_mul(2) > self.config.limits.max_cells;
        if too_big || extension_bytes(cells) as u64 >= list_bytes(remote_set_size) {
            let request = Request::FullList;
            self.stats.bytes_sent += request.encoded_len() as u64;
            self.state = State::AwaitIds;
            return Ok(Next::FullList(request));
        }
        let request = Request::Extend {
            k: remote.k(),
            seed: self.seed,
            cells,
        };
        self.stats.bytes_sent += request.encoded_len() as u64;
        self.stats.retries += 1;
        self.state = State::AwaitExtension {
            table: remote,
            remote_set_size,
        };
        Ok(Next::Retry(request))
    }

    /// Checks a decoded difference against the local set and maps it back
    /// to ids: every fingerprint claimed local must be one of ours (it
    /// becomes its id), every one claimed remote must not be, and none may
    /// repeat. This catches the rare false "pure" cell, and a peer whose
    /// set changed between rounds, before a wrong result escapes. Returns
    /// the local-only ids (sorted) and the remote-only fingerprints
    /// (sorted).
    fn verified(&self, decoded: crate::Decoded) -> Option<(Vec<Id>, Vec<u64>)> {
        let mine: Vec<u64> = decoded.only_in_self.iter().map(key_fingerprint).collect();
        let mut theirs: Vec<u64> = decoded.only_in_other.iter().map(key_fingerprint).collect();
        theirs.sort_unstable();
        let local_only = mine
            .iter()
            .map(|fp| self.local_id(*fp))
            .collect::<Option<Vec<Id>>>()?;
        let mut sorted = local_only.clone();
        sorted.sort_unstable();
        let unique = |v: &[u64]| v.windows(2).all(|w| w[0] != w[1]);
        let ids_unique = sorted.windows(2).all(|w| w[0] != w[1]);
        let ok = ids_unique
            && unique(&theirs)
            && !theirs.iter().any(|fp| self.local_id(*fp).is_some());
        ok.then_some((sorted, theirs))
    }

    /// The local id with fingerprint `fp`, if there is exactly one.
    fn local_id(&self, fp: u64) -> Option<Id> {
        let start = self.by_fingerprint.partition_point(|(f, _)| *f < fp);
        let mut same = self.by_fingerprint[start..].iter().take_while(|(f, _)| *f == fp);
        match (same.next(), same.next()) {
            (Some((_, id)), None) => Some(*id),
            _ => None,
        }
    }

    fn done_or_resolve(&mut self, local_only: Vec<Id>, wanted: Vec<u64>) -> Next {
        if wanted.is_empty() {
            return Next::Done(Diff {
                local_only,
                remote_only: Vec::new(),
            });
        }
        let request = Request::Resolve {
            seed: self.seed,
            fingerprints: wanted.clone(),
        };
        self.stats.bytes_sent += request.encoded_len() as u64;
        self.state = State::AwaitResolved { local_only, wanted };
        Next::Resolve(request)
    }

    /// Accepts the responder's ids for the fingerprints asked, exactly one
    /// id per fingerprint and none of ours; anything else (its set changed,
    /// two of its ids share a fingerprint) falls back to the full list.
    fn on_resolved(&mut self, local_only: Vec<Id>, wanted: &[u64], ids: Vec<Id>) -> Next {
        let hasher = FingerprintHasher::new(self.seed);
        let mut got: Vec<(u64, Id)> = ids.into_iter().map(|id| (hasher.fingerprint(&id), id)).collect();
        got.sort_unstable();
        let matches = got.len() == wanted.len()
            && got.iter().zip(wanted).all(|((fp, _), w)| fp == w)
            && got.iter().all(|(_, id)| self.local.binary_search(id).is_err());
        if !matches {
            let request = Request::FullList;
            self.stats.bytes_sent += request.encoded_len() as u64;
            self.state = State::AwaitIds;
            return Next::FullList(request);
        }
        let mut remote_only: Vec<Id> = got.into_iter().map(|(_, id)| id).collect();
        remote_only.sort_unstable();
        Next::Done(Diff {
            local_only,
            remote_only,
        })
    }

    fn diff_with_list(&self, ids: Vec<Id>) -> Diff {
        let remote = {
            let mut ids = ids;
            ids.sort_unstable();
            ids.dedup();
            ids
        };
        let mut diff = Diff::default();
        let (mut i, mut j) = (0, 0);
        while i < self.local.len() || j < remote.len() {
            match (self.local.get(i), remote.get(j)) {
                (Some(a), Some(b)) if a == b => {
                    i += 1;
                    j += 1;
                }
                (Some(a), Some(b)) if a < b => {
                    diff.local_only.push(*a);
                    i += 1;
                }
                (Some(_), Some(b)) | (None, Some(b)) => {
                    diff.remote_only.push(*b);
                    j += 1;
                }
                (Some(a), None) => {
                    diff.local_only.push(*a);
                    i += 1;
                }
                (None, None) => break,
            }
        }
        diff
    }
}
