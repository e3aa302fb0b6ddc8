//! The body of a beacon record: UTF-8 JSON `{"state":"online","addrs":[...]}`
//! (`state` is `"online"` or `"offline"`, `addrs` lists `"ip:port"`
//! strings), padded with trailing spaces (valid JSON whitespace) to a
//! multiple of [`BODY_BLOCK`] bytes, at least one space, so the length of a
//! sealed beacon says little about how many addresses it lists. JSON keeps
//! beacons readable by agents of earlier releases, whose TypeScript
//! `JSON.stringify` wrote exactly these bytes.

use serde::{Deserialize, Serialize};

use super::seal::BODY_BLOCK;
use crate::records::MAX_BODY_BYTES;

/// What a beacon says about its signer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BeaconState {
    /// Online, reachable at the listed addresses.
    Online,
    /// Leaving now (sent on a graceful stop).
    Offline,
}

#[derive(Serialize, Deserialize)]
struct Body {
    state: BeaconState,
    addrs: Vec<String>,
}

fn padded(json: String) -> Vec<u8> {
    let len = (json.len() + 1).div_ceil(BODY_BLOCK) * BODY_BLOCK;
    let mut out = json.into_bytes();
    out.resize(len, b' ');
    out
}

/// Encodes a body. Addresses that would take it past the record body limit
/// are left out (the first ones are kept), so a beacon can always be signed.
pub fn encode(state: BeaconState, addrs: &[String]) -> Vec<u8> {
    let mut body = Body { state, addrs: addrs.to_vec() };
    loop {
        // Serialising a struct of strings cannot fail; an empty fallback
        // would still be a valid (unreadable, so ignored) beacon.
        let json = serde_json::to_string(&body).unwrap_or_default();
        let out = padded(json);
        if out.len() <= MAX_BODY_BYTES || body.addrs.is_empty() {
            return out;
        }
        body.addrs.pop();
    }
}

/// Decodes a body; `None` when it is not one (signed but unreadable).
pub fn decode(body: &[u8]) -> Option<(BeaconState, Vec<String>)> {
    let parsed: Body = serde_json::from_slice(body).ok()?;
    Some((parsed.state, parsed.addrs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn writes_what_json_stringify_wrote_padded_to_whole_blocks() {
        let body = encode(BeaconState::Online, &addrs(&["127.0.0.1:5483", "[::1]:9"]));
        let json = br#"{"state":"online","addrs":["127.0.0.1:5483","[::1]:9"]}"#;
        assert_eq!(body.len(), BODY_BLOCK);
        assert_eq!(&body[..json.len()], json);
        assert!(body[json.len()..].iter().all(|b| *b == b' '));
        assert_eq!(
            decode(&body),
            Some((BeaconState::Online, addrs(&["127.0.0.1:5483", "[::1]:9"])))
        );
    }

    #[test]
    fn pads_to_128_byte_blocks_with_at_least_one_space() {
        for n in 0..40 {
            let list: Vec<String> = (0..n).map(|i| format!("10.0.0.{i}:5483")).collect();
            let body = encode(BeaconState::Offline, &list);
            assert_eq!(body.len() % BODY_BLOCK, 0, "{n} addresses");
            assert_eq!(body.last(), Some(&b' '));
            assert_eq!(decode(&body), Some((BeaconState::Offline, list)));
        }
        // Exactly one block's worth of JSON needs a second block.
        let json_len = |b: &[u8]| b.iter().rposition(|c| *c != b' ').map_or(0, |i| i + 1);
        let mut list = vec![String::new()];
        while json_len(&encode(BeaconState::Online, &list)) < BODY_BLOCK {
            list[0].push('x');
        }
        let body = encode(BeaconState::Online, &list);
        assert_eq!((json_len(&body), body.len()), (BODY_BLOCK, 2 * BODY_BLOCK));
    }

    #[test]
    fn too_many_addresses_are_cut_to_fit_a_record() {
        let list: Vec<String> = (0..1000).map(|i| format!("203.0.113.{}:{}", i % 256, 1000 + i)).collect();
        let body = encode(BeaconState::Online, &list);
        assert!(body.len() <= MAX_BODY_BYTES);
        let (_, kept) = decode(&body).unwrap();
        assert!(!kept.is_empty() && kept.len() < list.len());
        assert_eq!(kept[..], list[..kept.len()]);
    }

    #[test]
    fn rejects_what_is_not_a_body() {
        for bad in [
            &b""[..],
            b"   ",
            b"not json",
            br#"{"state":"away","addrs":[]}"#,
            br#"{"state":"online"}"#,
            br#"{"state":"online","addrs":[1]}"#,
            br#"{"state":"online","addrs":"1.2.3.4:5"}"#,
            b"\xff\xfe",
        ] {
            assert_eq!(decode(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
        // Fields it does not know are ignored, as JSON.parse readers did.
        assert_eq!(
            decode(br#"{"v":2,"state":"offline","addrs":[]}"#),
            Some((BeaconState::Offline, vec![]))
        );
    }
}
