//! Plumtree's header inspection (vendored pubsub, patch 5) accepts the frames
//! x0x sends: transport-authenticated hops carry empty signature and key
//! fields. Before the patch every such frame failed inspection, which built
//! an error per send (and a backtrace under `RUST_BACKTRACE=1`).

use bytes::Bytes;
use saorsa_gossip_pubsub::{inspect_message_header, GossipMessage};
use saorsa_gossip_types::{MessageHeader, MessageKind, TopicId};

fn frame(signature: Vec<u8>, public_key: Vec<u8>) -> Vec<u8> {
    let topic = TopicId::from_entity(b"inspect".as_slice());
    let payload = Bytes::from_static(b"payload");
    let mut header = MessageHeader::new(topic, MessageKind::Eager, 8);
    header.seal_payload_hash(Some(&payload));
    let message = GossipMessage { header, payload: Some(payload), signature, public_key };
    postcard::to_stdvec(&message).expect("a message serializes")
}

#[test]
fn a_hop_authenticated_frame_passes_inspection_with_its_topic() {
    let inspected = inspect_message_header(&frame(Vec::new(), Vec::new())).expect("empty signature and key are accepted");
    assert_eq!(inspected.topic, TopicId::from_entity(b"inspect".as_slice()));
    assert_eq!(inspected.kind, MessageKind::Eager);
    assert!(!inspected.hop_local_control);
}

#[test]
fn a_signed_frame_still_passes_and_a_truncated_signature_does_not() {
    assert!(inspect_message_header(&frame(vec![7; 3309], vec![9; 1952])).is_some());
    assert!(inspect_message_header(&frame(vec![7; 5], Vec::new())).is_none());
    assert!(inspect_message_header(&frame(Vec::new(), vec![9; 100])).is_none());
}
