//! The ML-DSA-65 backend (aws-lc-rs, patched into the vendored
//! saorsa-gossip-identity) is interchangeable with the implementation
//! saorsa-gossip shipped (saorsa-pqc / fips204): keys from either sign for the
//! other, signatures verify in both directions, and key generation matches the
//! NIST ACVP FIPS 204 vectors. Agents on either side of an upgrade therefore
//! keep verifying each other, and stored key files keep working.

use saorsa_gossip_identity::MlDsaKeyPair;
use saorsa_pqc::{MlDsa65, MlDsaOperations, MlDsaPublicKey, MlDsaSecretKey, MlDsaSignature};

fn pqc_verify(pk: &[u8], msg: &[u8], sig: &[u8]) -> bool {
    let pk = MlDsaPublicKey::from_bytes(pk).expect("public key decodes");
    let sig = MlDsaSignature::from_bytes(sig).expect("signature decodes");
    MlDsa65::new().verify(&pk, msg, &sig).expect("verify runs")
}

#[test]
fn aws_lc_signatures_verify_under_saorsa_pqc() {
    let kp = MlDsaKeyPair::generate().unwrap();
    for msg in [&b""[..], b"x0x", &[7u8; 4096]] {
        let sig = kp.sign(msg).unwrap();
        assert!(pqc_verify(kp.public_key(), msg, &sig));
        assert!(!pqc_verify(kp.public_key(), b"other", &sig));
    }
}

#[test]
fn saorsa_pqc_keys_and_signatures_work_under_aws_lc() {
    let dsa = MlDsa65::new();
    let (pk, sk) = dsa.generate_keypair().unwrap();
    let msg = b"signed by fips204";
    let sig = dsa.sign(&sk, msg).unwrap();
    assert!(MlDsaKeyPair::verify(pk.as_bytes(), msg, sig.as_bytes()).unwrap());
    assert!(!MlDsaKeyPair::verify(pk.as_bytes(), b"tampered", sig.as_bytes()).unwrap());

    // A key file written before the backend change still signs, and
    // saorsa-pqc accepts the result.
    let old = MlDsaKeyPair::from_keypair_bytes(pk.as_bytes().to_vec(), sk.as_bytes().to_vec());
    let sig = old.sign(msg).unwrap();
    assert!(pqc_verify(pk.as_bytes(), msg, &sig));
    let _ = MlDsaSecretKey::from_bytes(old.secret_key()).expect("same encoding");
}

#[test]
fn malformed_inputs_are_errors_not_panics() {
    let kp = MlDsaKeyPair::generate().unwrap();
    let sig = kp.sign(b"m").unwrap();
    assert!(MlDsaKeyPair::verify(&kp.public_key()[..100], b"m", &sig).is_err());
    assert!(MlDsaKeyPair::verify(kp.public_key(), b"m", &sig[..100]).is_err());
    let junk_key = vec![0xffu8; 1952];
    assert!(!MlDsaKeyPair::verify(&junk_key, b"m", &sig).unwrap_or(false));
    let bad = MlDsaKeyPair::from_keypair_bytes(kp.public_key().to_vec(), vec![1u8; 10]);
    assert!(bad.sign(b"m").is_err());
}

#[test]
fn key_generation_matches_nist_acvp_vectors() {
    use aws_lc_rs::encoding::AsRawBytes;
    use aws_lc_rs::signature::{KeyPair, PqdsaKeyPair, ML_DSA_65_SIGNING};

    let data = include_str!("data/ml-dsa-65-keygen.txt");
    let mut checked = 0;
    for line in data.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let mut fields = line.split(' ').map(|f| hex::decode(f).unwrap());
        let (seed, pk, sk) = (fields.next().unwrap(), fields.next().unwrap(), fields.next().unwrap());
        let kp = PqdsaKeyPair::from_seed(&ML_DSA_65_SIGNING, &seed).unwrap();
        assert_eq!(kp.public_key().as_ref(), &pk[..], "public key of vector {checked}");
        assert_eq!(kp.private_key().as_raw_bytes().unwrap().as_ref(), &sk[..], "secret key of vector {checked}");
        // The vector's expanded key, loaded the way x0x loads key files, signs
        // for the vector's public key.
        let loaded = MlDsaKeyPair::from_keypair_bytes(pk.clone(), sk.clone());
        let sig = loaded.sign(b"vector").unwrap();
        assert!(pqc_verify(&pk, b"vector", &sig));
        checked += 1;
    }
    assert_eq!(checked, 5);
}
