// Copyright 2024 Saorsa Labs Ltd.
//
// This Saorsa Network Software is licensed under the General Public License (GPL), version 3.
// Please see the file LICENSE-GPL, or visit <http://www.gnu.org/licenses/> for the full text.
//
// Full details available at https://saorsalabs.com/licenses

use std::collections::VecDeque;

use bytes::Bytes;
use thiserror::Error;
use tracing::{debug, trace};

use super::Connection;
use crate::{
    TransportError,
    frame::{Datagram, FrameStruct},
};

/// API to control datagram traffic
pub struct Datagrams<'a> {
    pub(super) conn: &'a mut Connection,
}

impl Datagrams<'_> {
    /// Queue an unreliable, unordered datagram for immediate transmission
    ///
    /// If `drop` is true, previously queued datagrams which are still unsent may be discarded to
    /// make space for this datagram, in order of oldest to newest. If `drop` is false, and there
    /// isn't enough space due to previously queued datagrams, this function will return
    /// `SendDatagramError::Blocked`. `Event::DatagramsUnblocked` will be emitted once datagrams
    /// have been sent.
    ///
    /// Returns `Err` iff a `len`-byte datagram cannot currently be sent.
    pub fn send(&mut self, data: Bytes, drop: bool) -> Result<(), SendDatagramError> {
        if self.conn.config.datagram_receive_buffer_size.is_none() {
            return Err(SendDatagramError::Disabled);
        }
        let max = self
            .max_size()
            .ok_or(SendDatagramError::UnsupportedByPeer)?;
        // Every queued datagram is charged its fixed overhead, so a datagram that cannot fit
        // the send buffer with that overhead is too large.
        let send_buffer_size = self.conn.config.datagram_send_buffer_size;
        let Some(max_buffer_payload) = send_buffer_size.checked_sub(size_of::<Datagram>()) else {
            return Err(SendDatagramError::TooLarge);
        };
        if data.len() > Ord::min(max, max_buffer_payload) {
            return Err(SendDatagramError::TooLarge);
        }
        if drop {
            self.conn
                .datagrams
                .make_space_for(data.len(), send_buffer_size);
        } else if !self
            .conn
            .datagrams
            .has_send_buffer_space(data.len(), send_buffer_size)
        {
            self.conn.datagrams.send_blocked = true;
            return Err(SendDatagramError::Blocked(data));
        }
        self.conn.datagrams.outgoing.push_back(Datagram { data });
        Ok(())
    }

    /// Compute the maximum size of datagrams that may passed to `send_datagram`
    ///
    /// Returns `None` if datagrams are unsupported by the peer or disabled locally.
    ///
    /// This may change over the lifetime of a connection according to variation in the path MTU
    /// estimate. The peer can also enforce an arbitrarily small fixed limit, but if the peer's
    /// limit is large this is guaranteed to be a little over a kilobyte at minimum.
    ///
    /// Not necessarily the maximum size of received datagrams.
    pub fn max_size(&self) -> Option<usize> {
        // We use the conservative overhead bound for any packet number, reducing the budget by at
        // most 3 bytes, so that PN size fluctuations don't cause users sending maximum-size
        // datagrams to suffer avoidable packet loss.
        let max_size = self.conn.path.current_mtu() as usize
            - self.conn.predict_1rtt_overhead(None)
            - Datagram::SIZE_BOUND;
        let peer_limit = self.conn.peer_params.max_datagram_frame_size?.into_inner();
        // RFC 9221 §3: a limit of 0 means the peer does not support DATAGRAM
        // frames. A limit of 1 cannot hold the smallest frame `write` emits (an
        // empty payload with its length: 2 bytes). Either way, send nothing.
        if peer_limit < Datagram::MIN_LENGTH_PREFIXED_SIZE as u64 {
            return None;
        }
        let limit = peer_limit.saturating_sub(Datagram::SIZE_BOUND as u64);
        Some(limit.min(max_size as u64) as usize)
    }

    /// Receive an unreliable, unordered datagram
    pub fn recv(&mut self) -> Option<Bytes> {
        self.conn.datagrams.recv()
    }

    /// Bytes available in the outgoing datagram buffer
    ///
    /// When greater than zero, [`send`](Self::send)ing a datagram of at most this size is
    /// guaranteed not to cause older datagrams to be dropped.
    pub fn send_buffer_space(&self) -> usize {
        self.conn
            .config
            .datagram_send_buffer_size
            .saturating_sub(self.conn.datagrams.outgoing.memory_used())
            .saturating_sub(size_of::<Datagram>())
    }
}

/// Result of receiving a datagram, including any drops that occurred
#[derive(Debug, Clone, Copy, Default)]
pub struct DatagramReceivedResult {
    /// Whether the receive buffer was empty before this datagram
    pub was_empty: bool,
    /// Number of old datagrams that were dropped to make room
    pub dropped_count: usize,
    /// Total bytes of dropped datagrams
    pub dropped_bytes: usize,
}

#[derive(Default)]
pub(super) struct DatagramState {
    /// Datagrams received by the local transport but not delivered to the application
    pub(super) incoming: DatagramBuffer,
    pub(super) outgoing: DatagramBuffer,
    pub(super) send_blocked: bool,
}

impl DatagramState {
    /// Accept a received DATAGRAM frame whose encoded size is `frame_len` bytes
    pub(super) fn received(
        &mut self,
        datagram: Datagram,
        frame_len: usize,
        window: &Option<usize>,
    ) -> Result<DatagramReceivedResult, TransportError> {
        // `window` is `datagram_receive_buffer_size`. We advertise it, capped at
        // `u16::MAX`, as `max_datagram_frame_size` (see `TransportParameters::new`).
        // RFC 9221 §3: no parameter, or a value of 0, means DATAGRAM frames are
        // not supported, and a frame larger than the advertised value is a
        // PROTOCOL_VIOLATION. The limit applies to the whole encoded frame
        // (type, optional length, payload), not just the payload.
        let window = match window {
            None | Some(0) => {
                return Err(TransportError::PROTOCOL_VIOLATION(
                    "unexpected DATAGRAM frame",
                ));
            }
            Some(x) => *x,
        };
        let max_frame_size = window.min(usize::from(u16::MAX));
        // The fixed in-memory overhead is charged only when deciding which
        // queued datagrams to evict, so it must not turn a legal frame into a
        // protocol violation.
        if frame_len > max_frame_size {
            return Err(TransportError::PROTOCOL_VIOLATION("oversized datagram"));
        }

        let size_with_overhead = datagram.data.len().saturating_add(size_of::<Datagram>());

        let was_empty = self.incoming.is_empty();
        let mut dropped_count = 0;
        let mut dropped_bytes = 0;

        while self
            .incoming
            .memory_used()
            .saturating_add(size_with_overhead)
            > window
        {
            if let Some(dropped) = self.recv() {
                dropped_count += 1;
                dropped_bytes += dropped.len();
                debug!(
                    dropped_count,
                    dropped_bytes,
                    recv_buffered = self.incoming.payload_bytes,
                    incoming_len = datagram.data.len(),
                    window,
                    "dropping stale datagram (buffer full) - application not reading fast enough"
                );
            } else {
                // The payload fits the advertised limit, but payload plus the
                // in-memory overhead exceeds `window` and nothing older is
                // queued. Keep the datagram so a legal frame is delivered.
                break;
            }
        }

        self.incoming.push_back(datagram);
        Ok(DatagramReceivedResult {
            was_empty,
            dropped_count,
            dropped_bytes,
        })
    }

    /// Drop the oldest outgoing datagrams until a `datagram_len`-byte datagram fits
    fn make_space_for(&mut self, datagram_len: usize, send_buffer_size: usize) {
        while !self.has_send_buffer_space(datagram_len, send_buffer_size) {
            // `pop_front` keeps `payload_bytes` in sync; do not subtract again.
            let Some(prev) = self.outgoing.pop_front() else {
                break;
            };
            debug!(
                len = prev.data.len(),
                "dropping outgoing datagram (send buffer full)"
            );
        }
    }

    /// Whether a `datagram_len`-byte datagram fits the send buffer with its overhead
    fn has_send_buffer_space(&self, datagram_len: usize, send_buffer_size: usize) -> bool {
        let Some(total) = self
            .outgoing
            .memory_used()
            .checked_add(datagram_len)
            .and_then(|total| total.checked_add(size_of::<Datagram>()))
        else {
            return false;
        };

        total <= send_buffer_size
    }

    /// Discard outgoing datagrams with a payload larger than `max_payload` bytes
    ///
    /// Used to ensure that reductions in MTU don't get us stuck in a state where we have a datagram
    /// queued but can't send it. A datagram whose payload is exactly `max_payload` still fits and
    /// is kept.
    ///
    /// Returns `true` if datagrams were dropped while a send was blocked, i.e. the caller should
    /// emit [`Event::DatagramsUnblocked`]: dropping frees send-buffer space, but `poll_transmit`
    /// only emits that event after a successful send, so otherwise a sender waiting on the event
    /// after the queue was emptied would never be told it may retry.
    pub(super) fn drop_oversized(&mut self, max_payload: usize) -> bool {
        let before = self.outgoing.queue.len();
        self.outgoing.queue.retain(|datagram| {
            let keep = datagram.data.len() <= max_payload;
            if !keep {
                trace!(
                    "dropping {} byte datagram violating {} byte limit",
                    datagram.data.len(),
                    max_payload
                );
                self.outgoing.payload_bytes -= datagram.data.len();
            }
            keep
        });
        let dropped = before != self.outgoing.queue.len();
        if dropped && self.send_blocked {
            self.send_blocked = false;
            true
        } else {
            false
        }
    }

    /// Attempt to write a datagram frame into `buf`, consuming it from `self.outgoing`
    ///
    /// Returns whether a frame was written. At most `max_size` bytes will be written, including
    /// framing.
    pub(super) fn write(&mut self, buf: &mut Vec<u8>, max_size: usize) -> bool {
        let datagram = match self.outgoing.pop_front() {
            Some(x) => x,
            None => return false,
        };

        if buf.len() + datagram.size(true) > max_size {
            // Future work: we could be more clever about cramming small datagrams into
            // mostly-full packets when a larger one is queued first
            self.outgoing.push_front(datagram);
            return false;
        }

        trace!(len = datagram.data.len(), "DATAGRAM");

        datagram.encode(true, buf);
        true
    }

    pub(super) fn recv(&mut self) -> Option<Bytes> {
        Some(self.incoming.pop_front()?.data)
    }
}

/// Queue of datagrams that tracks the payload bytes it holds
#[derive(Default)]
pub(super) struct DatagramBuffer {
    queue: VecDeque<Datagram>,
    payload_bytes: usize,
}

impl DatagramBuffer {
    fn push_back(&mut self, datagram: Datagram) {
        self.payload_bytes += datagram.data.len();
        self.queue.push_back(datagram);
    }

    fn pop_front(&mut self) -> Option<Datagram> {
        let datagram = self.queue.pop_front()?;
        self.payload_bytes -= datagram.data.len();
        Some(datagram)
    }

    fn push_front(&mut self, datagram: Datagram) {
        self.payload_bytes += datagram.data.len();
        self.queue.push_front(datagram);
    }

    /// Payload bytes plus the fixed in-memory size of every queued datagram
    fn memory_used(&self) -> usize {
        self.payload_bytes
            .saturating_add(self.queue.len().saturating_mul(size_of::<Datagram>()))
    }

    /// Whether the oldest datagram fits a 1-RTT packet with `max_size` bytes of space
    pub(super) fn can_send_1rtt(&self, max_size: usize) -> bool {
        self.queue.front().is_some_and(|x| x.size(true) <= max_size)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

/// Errors that can arise when sending a datagram
#[derive(Debug, Error, Clone, Eq, PartialEq, Ord, PartialOrd, Hash)]
pub enum SendDatagramError {
    /// The peer does not support receiving datagram frames
    #[error("datagrams not supported by peer")]
    UnsupportedByPeer,
    /// Datagram support is disabled locally
    #[error("datagram support disabled")]
    Disabled,
    /// The datagram is larger than the connection can currently accommodate
    ///
    /// Indicates that the path MTU minus overhead or the limit advertised by the peer has been
    /// exceeded.
    #[error("datagram too large")]
    TooLarge,
    /// Send would block
    #[error("datagram send blocked")]
    Blocked(Bytes),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{Frame, Iter};

    /// Receive `datagram` as the length-prefixed frame our own sender emits.
    fn receive_len_prefixed(
        state: &mut DatagramState,
        datagram: Datagram,
        window: &Option<usize>,
    ) -> Result<DatagramReceivedResult, TransportError> {
        let frame_len = datagram.size(true);
        state.received(datagram, frame_len, window)
    }

    #[test]
    fn test_datagram_received_no_drop() {
        let mut state = DatagramState::default();
        let window = Some(1024);

        // Add a small datagram that fits
        let datagram = Datagram {
            data: Bytes::from(vec![0u8; 100]),
        };
        let result = receive_len_prefixed(&mut state, datagram, &window).unwrap();

        assert!(result.was_empty);
        assert_eq!(result.dropped_count, 0);
        assert_eq!(result.dropped_bytes, 0);
        assert_eq!(state.incoming.payload_bytes, 100);
    }

    #[test]
    fn test_datagram_received_with_drop() {
        let mut state = DatagramState::default();
        let window = Some(1024);

        // Fill the buffer with a datagram
        let datagram1 = Datagram {
            data: Bytes::from(vec![0u8; 800]),
        };
        let result1 = receive_len_prefixed(&mut state, datagram1, &window).unwrap();
        assert!(result1.was_empty);
        assert_eq!(result1.dropped_count, 0);

        // Add another datagram that would exceed the window
        let datagram2 = Datagram {
            data: Bytes::from(vec![1u8; 500]),
        };
        let result2 = receive_len_prefixed(&mut state, datagram2, &window).unwrap();

        // Should have dropped the first datagram to make room
        assert!(!result2.was_empty);
        assert_eq!(result2.dropped_count, 1);
        assert_eq!(result2.dropped_bytes, 800);

        // Buffer should now contain only the second datagram
        assert_eq!(state.incoming.payload_bytes, 500);
        assert_eq!(state.incoming.queue.len(), 1);
    }

    #[test]
    fn test_datagram_received_multiple_drops() {
        let mut state = DatagramState::default();
        // Room for exactly five 200-byte datagrams with their fixed overhead.
        let window = Some(1000 + 5 * size_of::<Datagram>());

        // Fill with multiple small datagrams
        for i in 0..5 {
            let datagram = Datagram {
                data: Bytes::from(vec![i as u8; 200]),
            };
            receive_len_prefixed(&mut state, datagram, &window).unwrap();
        }

        // Buffer should have 1000 bytes (5 x 200)
        assert_eq!(state.incoming.payload_bytes, 1000);
        assert_eq!(state.incoming.queue.len(), 5);

        // Add a large datagram that requires dropping multiple old ones
        let large_datagram = Datagram {
            data: Bytes::from(vec![99u8; 900]),
        };
        let result = receive_len_prefixed(&mut state, large_datagram, &window).unwrap();

        // Should have dropped 5 datagrams (1000 bytes) to fit 900 bytes
        assert_eq!(result.dropped_count, 5);
        assert_eq!(result.dropped_bytes, 1000);
        assert_eq!(state.incoming.payload_bytes, 900);
        assert_eq!(state.incoming.queue.len(), 1);
    }

    #[test]
    fn test_datagram_received_disabled() {
        let mut state = DatagramState::default();
        let window = None; // Datagrams disabled

        let datagram = Datagram {
            data: Bytes::from(vec![0u8; 100]),
        };
        let result = receive_len_prefixed(&mut state, datagram, &window);

        assert!(result.is_err());
    }

    /// `datagram_receive_buffer_size` is advertised as `max_datagram_frame_size`.
    /// A payload of that limit minus the DATAGRAM frame bound (1024 - 9 = 1015)
    /// is legal and must be queued. A payload past the advertised limit is a
    /// protocol violation.
    #[test]
    fn legal_datagram_payload_within_advertised_limit_is_delivered() {
        let mut state = DatagramState::default();
        let window = Some(1024);
        let max_legal = 1024 - Datagram::SIZE_BOUND;
        assert_eq!(max_legal, 1015);

        let data = Bytes::from(vec![0x5Au8; max_legal]);
        let result = receive_len_prefixed(&mut state, Datagram { data: data.clone() }, &window)
            .expect("legal payload must not close the connection");
        assert!(result.was_empty);
        assert_eq!(result.dropped_count, 0);
        assert_eq!(state.recv(), Some(data));

        let oversized = Datagram {
            data: Bytes::from(vec![0u8; 1025]),
        };
        let err = receive_len_prefixed(&mut state, oversized, &window).unwrap_err();
        assert_eq!(
            err,
            TransportError::PROTOCOL_VIOLATION("oversized datagram")
        );
    }

    #[test]
    fn test_datagram_received_oversized() {
        let mut state = DatagramState::default();
        let window = Some(100);

        // Datagram larger than window
        let datagram = Datagram {
            data: Bytes::from(vec![0u8; 200]),
        };
        let result = receive_len_prefixed(&mut state, datagram, &window);

        assert!(result.is_err());
    }

    /// Encode a DATAGRAM frame carrying `payload_len` bytes.
    fn encode_datagram(payload_len: usize, length: bool) -> Vec<u8> {
        let mut buf = Vec::new();
        Datagram {
            data: Bytes::from(vec![0xA5u8; payload_len]),
        }
        .encode(length, &mut buf);
        buf
    }

    /// Decode `bytes` as exactly one DATAGRAM frame, returning it with its
    /// encoded length as the frame decoder reports it.
    fn decode_datagram(bytes: Vec<u8>) -> (Datagram, usize) {
        let mut frames = Iter::new(Bytes::from(bytes)).expect("non-empty payload");
        let decoded = match frames.next() {
            Some(Ok(Frame::Datagram(datagram, frame_len))) => (datagram, frame_len),
            other => panic!("expected a DATAGRAM frame, got {other:?}"),
        };
        assert!(frames.next().is_none(), "expected exactly one frame");
        decoded
    }

    /// RFC 9221 §3: `max_datagram_frame_size` bounds the whole encoded frame.
    /// These payloads fit the 1024-byte limit, but with the frame type (and
    /// length) the frame is 1025 bytes, so it is a protocol violation.
    #[test]
    fn payload_within_limit_but_frame_over_limit_is_rejected() {
        let window = Some(1024);
        for (payload_len, length) in [(1022, true), (1024, false)] {
            let (datagram, frame_len) = decode_datagram(encode_datagram(payload_len, length));
            assert_eq!(frame_len, 1025);
            assert!(datagram.data.len() <= 1024);
            let mut state = DatagramState::default();
            let err = state
                .received(datagram, frame_len, &window)
                .expect_err("a frame over the advertised limit must be rejected");
            assert_eq!(
                err,
                TransportError::PROTOCOL_VIOLATION("oversized datagram"),
                "payload {payload_len}, length field {length}"
            );
            assert!(state.incoming.is_empty());
        }
    }

    /// The limit counts the bytes actually on the wire. A peer may encode the
    /// length varint in more bytes than needed; a 1021-byte payload with a
    /// 4-byte length varint is a 1026-byte frame.
    #[test]
    fn non_minimal_length_varint_counts_towards_frame_size() {
        let payload_len = 1021usize;
        let mut bytes = vec![0x31];
        bytes.extend_from_slice(&(0x8000_0000u32 | payload_len as u32).to_be_bytes());
        bytes.extend_from_slice(&vec![0xA5u8; payload_len]);
        let (datagram, frame_len) = decode_datagram(bytes);
        assert_eq!(datagram.data.len(), payload_len);
        assert_eq!(frame_len, 1026);
        let mut state = DatagramState::default();
        assert_eq!(
            state
                .received(datagram, frame_len, &Some(1024))
                .unwrap_err(),
            TransportError::PROTOCOL_VIOLATION("oversized datagram")
        );
    }

    /// A frame whose encoded size is exactly the advertised limit is legal, in
    /// both frame forms.
    #[test]
    fn frame_exactly_at_limit_is_accepted() {
        let window = Some(1024);
        for (payload_len, length) in [(1021, true), (1023, false)] {
            let (datagram, frame_len) = decode_datagram(encode_datagram(payload_len, length));
            assert_eq!(frame_len, 1024);
            let mut state = DatagramState::default();
            state
                .received(datagram, frame_len, &window)
                .expect("a frame at the advertised limit is legal");
            assert_eq!(state.recv().map(|d| d.len()), Some(payload_len));
        }
    }

    /// We advertise `datagram_receive_buffer_size` capped at `u16::MAX`, so a
    /// larger receive buffer does not raise the frame limit above 65535.
    #[test]
    fn frame_limit_is_the_advertised_u16_cap() {
        let window = Some(1 << 20);
        let (datagram, frame_len) = decode_datagram(encode_datagram(65_534, false));
        assert_eq!(frame_len, 65_535);
        let mut state = DatagramState::default();
        state
            .received(datagram, frame_len, &window)
            .expect("a frame at the advertised cap is legal");

        let (datagram, frame_len) = decode_datagram(encode_datagram(65_535, false));
        assert_eq!(frame_len, 65_536);
        assert_eq!(
            state.received(datagram, frame_len, &window).unwrap_err(),
            TransportError::PROTOCOL_VIOLATION("oversized datagram")
        );
    }

    /// RFC 9221 §3: an advertised `max_datagram_frame_size` of 0 means no
    /// DATAGRAM support, so even an empty DATAGRAM frame is a protocol
    /// violation.
    #[test]
    fn zero_limit_rejects_empty_datagram() {
        for length in [true, false] {
            let (datagram, frame_len) = decode_datagram(encode_datagram(0, length));
            assert!(datagram.data.is_empty());
            let mut state = DatagramState::default();
            assert_eq!(
                state.received(datagram, frame_len, &Some(0)).unwrap_err(),
                TransportError::PROTOCOL_VIOLATION("unexpected DATAGRAM frame"),
                "length field {length}"
            );
            assert!(state.incoming.is_empty());
        }
    }
}
