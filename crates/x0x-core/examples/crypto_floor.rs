//! The per-message crypto floor on this machine, for `bench:pubsub`: one
//! ML-DSA-65 sign, one verify (key parsed per call, as the gossip layer does,
//! and key parsed once), and one BLAKE3 of a payload. Prints one JSON line,
//! with saorsa-pqc's sign and verify (the backend before aws-lc-rs) measured
//! in the same run as the peer.
//!
//! `cargo run --release -p x0x-core --example crypto_floor -- [payload_bytes]`

use std::time::Instant;

use saorsa_gossip_identity::MlDsaKeyPair;

fn per_call_us(iters: u32, mut f: impl FnMut()) -> f64 {
    for _ in 0..iters / 10 {
        f();
    }
    let started = Instant::now();
    for _ in 0..iters {
        f();
    }
    started.elapsed().as_secs_f64() * 1e6 / f64::from(iters)
}

fn main() -> anyhow::Result<()> {
    let payload_len: usize = std::env::args().nth(1).map_or(Ok(4096), |s| s.parse())?;
    let kp = MlDsaKeyPair::generate()?;
    let msg = [0x5au8; 32];
    let sig = kp.sign(&msg)?;
    let payload = vec![0xa5u8; payload_len];
    let parsed = aws_lc_rs::signature::ParsedPublicKey::new(&aws_lc_rs::signature::ML_DSA_65, kp.public_key())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let sign_us = per_call_us(400, || {
        kp.sign(&msg).ok();
    });
    let verify_us = per_call_us(2000, || {
        MlDsaKeyPair::verify(kp.public_key(), &msg, &sig).ok();
    });
    let verify_parsed_us = per_call_us(2000, || {
        parsed.verify_sig(&msg, &sig).ok();
    });
    let pqc = {
        use saorsa_pqc::{MlDsa65, MlDsaOperations};
        let dsa = MlDsa65::new();
        let (pk, sk) = dsa.generate_keypair()?;
        let sig = dsa.sign(&sk, &msg)?;
        let sign = per_call_us(100, || {
            dsa.sign(&sk, &msg).ok();
        });
        let verify = per_call_us(500, || {
            dsa.verify(&pk, &msg, &sig).ok();
        });
        (sign, verify)
    };
    let blake3_us = per_call_us(2000, || {
        std::hint::black_box(blake3::hash(&payload));
    });
    println!(
        "{{\"signUs\":{sign_us:.1},\"verifyUs\":{verify_us:.1},\"verifyParsedUs\":{verify_parsed_us:.1},\"blake3Us\":{blake3_us:.1},\"payloadBytes\":{payload_len},\"saorsaPqcSignUs\":{:.1},\"saorsaPqcVerifyUs\":{:.1}}}",
        pqc.0, pqc.1
    );
    Ok(())
}
