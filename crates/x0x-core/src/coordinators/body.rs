//! The body of a coordinator advert: UTF-8 JSON `{"addrs":[...]}` listing
//! `"ip:port"` strings, unpadded. These are exactly the bytes the
//! TypeScript `JSON.stringify({ addrs })` of earlier releases wrote, so
//! adverts of both sign and verify alike.

use serde::{Deserialize, Serialize};

use crate::records::MAX_BODY_BYTES;

#[derive(Serialize, Deserialize)]
struct Body {
    addrs: Vec<String>,
}

/// Encodes a body listing `addrs`, all of them. [`verify`](super::verify)
/// needs the exact bytes that were signed, so nothing is left out here.
pub fn encode(addrs: &[String]) -> Vec<u8> {
    // Serialising a struct of strings cannot fail; an empty fallback would
    // still be a valid (unreadable, so unlisted) advert.
    serde_json::to_vec(&Body { addrs: addrs.to_vec() }).unwrap_or_default()
}

/// Encodes a body for signing: addresses that would take it past the record
/// body limit are left out (the first ones are kept), so an advert can
/// always be signed.
pub fn encode_fitting(addrs: &[String]) -> Vec<u8> {
    let mut kept = addrs.to_vec();
    loop {
        let body = encode(&kept);
        if body.len() <= MAX_BODY_BYTES || kept.is_empty() {
            return body;
        }
        kept.pop();
    }
}

/// Decodes a body; `None` when it is not one (signed but unreadable).
/// Fields it does not know are ignored, as `JSON.parse` readers did.
pub fn decode(body: &[u8]) -> Option<Vec<String>> {
    serde_json::from_slice::<Body>(body).ok().map(|b| b.addrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    /// `Buffer.from(JSON.stringify({ addrs }))` of the TypeScript
    /// implementation this module replaces (`src/coordinators.ts`), for
    /// these addresses: adverts of earlier releases verify here and back.
    #[test]
    fn matches_the_typescript_test_vector() {
        let list = addrs(&["127.0.0.1:5483", "[::1]:9"]);
        assert_eq!(
            hex::encode(encode(&list)),
            "7b226164647273223a5b223132372e302e302e313a35343833222c225b3a3a315d3a39225d7d"
        );
        assert_eq!(decode(&encode(&list)), Some(list));
    }

    #[test]
    fn too_many_addresses_are_cut_to_fit_a_record() {
        let list: Vec<String> = (0..1000).map(|i| format!("203.0.113.{}:{}", i % 256, 1000 + i)).collect();
        let body = encode_fitting(&list);
        assert!(body.len() <= MAX_BODY_BYTES);
        let kept = decode(&body).unwrap();
        assert!(!kept.is_empty() && kept.len() < list.len());
        assert_eq!(kept[..], list[..kept.len()]);
        assert_eq!(encode_fitting(&list[..2]), encode(&list[..2]));
    }

    #[test]
    fn rejects_what_is_not_a_body() {
        for bad in [&b""[..], b"not json", br#"{"addrs":[1]}"#, br#"{"addrs":"1.2.3.4:5"}"#, br#"{}"#, b"\xff"] {
            assert_eq!(decode(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(decode(br#"{"v":2,"addrs":[]}"#), Some(vec![]));
    }
}
