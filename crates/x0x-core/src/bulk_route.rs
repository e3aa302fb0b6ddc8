//! Which handler a Bulk-stream frame goes to, decided by its first byte.
//!
//! Kept apart from the agent's dispatch loop so the decision is a pure
//! function that tests can feed arbitrary bytes without a running agent
//! (see `decoder_fuzz_tests`). The order matters only in that the address
//! book takes whatever no protocol owns; the tag ranges themselves are
//! disjoint.

use crate::{ae_wire, flood, foaf, publisher_keys, rendezvous, source_trees, topic_interest};

/// The handler of a Bulk frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BulkRoute {
    /// [`topic_interest`] announcements (`0xE0`).
    Interest,
    /// [`flood`] frames (`0xF1`).
    Flood,
    /// [`ae_wire`] anti-entropy frames (`0xC0..=0xCF`).
    AntiEntropy,
    /// [`foaf`] queries, replies and "seen" frames (`0xB0..=0xB2`).
    Foaf,
    /// [`rendezvous`] frames (`0xD0..=0xD3`).
    Rendezvous,
    /// [`publisher_keys`] asks and answers (`0x98`, `0x99`).
    Keys,
    /// [`source_trees`] PRUNE and GRAFT (`0x9A`, `0x9B`).
    Tree,
    /// Everything else: an [`crate::addr_book`] frame (`0xA1`) or junk, which its
    /// decoder rejects.
    AddrBook,
}

/// Routes a Bulk frame by its first byte; an empty frame goes to the
/// address book, which rejects it.
pub(crate) fn route(data: &[u8]) -> BulkRoute {
    match data.first() {
        Some(&topic_interest::TAG) => BulkRoute::Interest,
        Some(&flood::TAG) => BulkRoute::Flood,
        _ if ae_wire::is_anti_entropy(data) => BulkRoute::AntiEntropy,
        Some(t) if foaf::owns(*t) => BulkRoute::Foaf,
        Some(t) if rendezvous::owns(*t) => BulkRoute::Rendezvous,
        Some(t) if publisher_keys::owns(*t) => BulkRoute::Keys,
        Some(t) if source_trees::owns(*t) => BulkRoute::Tree,
        _ => BulkRoute::AddrBook,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr_book;

    #[test]
    fn every_protocol_tag_reaches_its_own_handler() {
        assert_eq!(route(&[topic_interest::TAG]), BulkRoute::Interest);
        assert_eq!(route(&[flood::TAG]), BulkRoute::Flood);
        assert_eq!(route(&[ae_wire::TAG_PUSH]), BulkRoute::AntiEntropy);
        assert_eq!(route(&[foaf::REPLY_TAG]), BulkRoute::Foaf);
        assert_eq!(route(&[foaf::SEEN_TAG]), BulkRoute::Foaf);
        assert_eq!(route(&[rendezvous::LOOKUP_TAG]), BulkRoute::Rendezvous);
        assert_eq!(route(&[publisher_keys::WANT_TAG]), BulkRoute::Keys);
        assert_eq!(route(&[publisher_keys::HAVE_TAG]), BulkRoute::Keys);
        assert_eq!(route(&[source_trees::PRUNE_TAG]), BulkRoute::Tree);
        assert_eq!(route(&[source_trees::GRAFT_TAG]), BulkRoute::Tree);
        assert_eq!(route(&[addr_book::TAG]), BulkRoute::AddrBook);
        assert_eq!(route(&[]), BulkRoute::AddrBook);
    }
}
