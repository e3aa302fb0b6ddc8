//! Agent identity: an ML-DSA-65 key pair whose public key derives the 32-byte
//! agent id (the same id ant-quic and saorsa-gossip use as the peer id).

use std::fs;
use std::io::Write;
use std::path::Path;

use saorsa_gossip_identity::MlDsaKeyPair;
use saorsa_gossip_types::PeerId;

use crate::error::{CoreError, CoreResult};

/// ML-DSA-65 public key length in bytes.
pub const PUBLIC_KEY_LEN: usize = 1952;
/// ML-DSA-65 secret key length in bytes.
pub const SECRET_KEY_LEN: usize = 4032;
/// ML-DSA-65 signature length in bytes.
pub const SIGNATURE_LEN: usize = 3309;

const FILE_MAGIC: &[u8; 8] = b"x0xkey01";
const CHECKSUM_LEN: usize = 32;
const FILE_LEN: usize = FILE_MAGIC.len() + PUBLIC_KEY_LEN + SECRET_KEY_LEN + CHECKSUM_LEN;

/// A 32-byte agent id.
pub type AgentId = [u8; 32];

/// An agent's signing key pair.
#[derive(Clone)]
pub struct AgentKeypair {
    inner: MlDsaKeyPair,
}

impl std::fmt::Debug for AgentKeypair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secret material.
        write!(f, "AgentKeypair({})", hex::encode(self.agent_id()))
    }
}

impl AgentKeypair {
    /// Generates a fresh key pair from the OS random source.
    pub fn generate() -> CoreResult<Self> {
        let inner = MlDsaKeyPair::generate()
            .map_err(|e| CoreError::BadKey(format!("key generation failed: {e}")))?;
        Ok(Self { inner })
    }

    /// Builds a key pair from raw key bytes, checking sizes and that the secret
    /// key really signs for the public key (a mismatched pair would give an
    /// agent whose messages nobody can verify).
    pub fn from_parts(public_key: &[u8], secret_key: &[u8]) -> CoreResult<Self> {
        if public_key.len() != PUBLIC_KEY_LEN {
            return Err(CoreError::BadKey(format!(
                "public key must be {PUBLIC_KEY_LEN} bytes (got {})",
                public_key.len()
            )));
        }
        if secret_key.len() != SECRET_KEY_LEN {
            return Err(CoreError::BadKey(format!(
                "secret key must be {SECRET_KEY_LEN} bytes (got {})",
                secret_key.len()
            )));
        }
        let kp = Self {
            inner: MlDsaKeyPair::from_keypair_bytes(public_key.to_vec(), secret_key.to_vec()),
        };
        let probe = b"x0x key pair self-check";
        let sig = kp
            .sign(probe)
            .map_err(|_| CoreError::BadKey("secret key is not a valid ML-DSA-65 key".into()))?;
        if !verify(public_key, probe, &sig) {
            return Err(CoreError::BadKey(
                "secret key does not match public key".into(),
            ));
        }
        Ok(kp)
    }

    /// Serialises to the key file format: magic, public key, secret key, BLAKE3 checksum.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(FILE_LEN);
        out.extend_from_slice(FILE_MAGIC);
        out.extend_from_slice(self.inner.public_key());
        out.extend_from_slice(self.inner.secret_key());
        let sum = blake3::hash(&out);
        out.extend_from_slice(sum.as_bytes());
        out
    }

    /// Parses [`Self::to_bytes`] output.
    pub fn from_bytes(bytes: &[u8]) -> CoreResult<Self> {
        if bytes.len() != FILE_LEN {
            return Err(CoreError::BadKey(format!(
                "key data must be {FILE_LEN} bytes (got {})",
                bytes.len()
            )));
        }
        if &bytes[..FILE_MAGIC.len()] != FILE_MAGIC {
            return Err(CoreError::BadKey("key data has no x0x key header".into()));
        }
        let (body, sum) = bytes.split_at(FILE_LEN - CHECKSUM_LEN);
        if blake3::hash(body).as_bytes() != sum {
            return Err(CoreError::BadKey("key data checksum mismatch (corrupt)".into()));
        }
        let pk = &body[FILE_MAGIC.len()..FILE_MAGIC.len() + PUBLIC_KEY_LEN];
        let sk = &body[FILE_MAGIC.len() + PUBLIC_KEY_LEN..];
        Self::from_parts(pk, sk)
    }

    /// Loads a key file written by [`Self::save`].
    pub fn load(path: &Path) -> CoreResult<Self> {
        let bytes = fs::read(path).map_err(|e| {
            CoreError::KeyFile(format!("cannot read key file {}: {e}", path.display()))
        })?;
        Self::from_bytes(&bytes).map_err(|e| {
            CoreError::KeyFile(format!("key file {} is invalid: {e}", path.display()))
        })
    }

    /// Writes the key file with mode 0600, replacing any file atomically so a
    /// crash never leaves half a key behind.
    pub fn save(&self, path: &Path) -> CoreResult<()> {
        let err = |e: std::io::Error| {
            CoreError::KeyFile(format!("cannot write key file {}: {e}", path.display()))
        };
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut file = opts.open(&tmp).map_err(err)?;
        file.write_all(&self.to_bytes()).map_err(err)?;
        file.sync_all().map_err(err)?;
        drop(file);
        fs::rename(&tmp, path).map_err(err)
    }

    /// The 32-byte agent id derived from the public key.
    pub fn agent_id(&self) -> AgentId {
        self.inner.peer_id().to_bytes()
    }

    /// The gossip-layer peer id (same bytes as the agent id).
    pub fn peer_id(&self) -> PeerId {
        self.inner.peer_id()
    }

    /// Public key bytes.
    pub fn public_key(&self) -> &[u8] {
        self.inner.public_key()
    }

    /// Secret key bytes (needed by the QUIC endpoint).
    pub(crate) fn secret_key(&self) -> &[u8] {
        self.inner.secret_key()
    }

    /// The saorsa-gossip key pair (for Plumtree's own frame signatures).
    pub(crate) fn gossip_keypair(&self) -> &MlDsaKeyPair {
        &self.inner
    }

    /// Signs `message` with ML-DSA-65.
    pub fn sign(&self, message: &[u8]) -> CoreResult<Vec<u8>> {
        self.inner
            .sign(message)
            .map_err(|e| CoreError::BadKey(format!("signing failed: {e}")))
    }
}

/// A public key with the agent id it hashes to, computed once: the
/// publisher-key book keeps these, so a verify compares 32 bytes instead of
/// hashing 1,952.
#[derive(Clone, Debug)]
pub struct PublicKey {
    id: AgentId,
    bytes: std::sync::Arc<[u8]>,
}

impl PublicKey {
    /// Wraps `bytes`, hashing them to their agent id.
    pub fn new(bytes: &[u8]) -> Self {
        Self { id: PeerId::from_pubkey(bytes).to_bytes(), bytes: std::sync::Arc::from(bytes) }
    }

    /// The agent id this key is the key of.
    pub fn id(&self) -> &AgentId {
        &self.id
    }

    /// The raw key.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// Verifies an ML-DSA-65 signature; malformed keys or signatures verify false.
pub fn verify(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    MlDsaKeyPair::verify(public_key, message, signature).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_bytes_and_keeps_id() {
        let kp = AgentKeypair::generate().unwrap();
        let back = AgentKeypair::from_bytes(&kp.to_bytes()).unwrap();
        assert_eq!(kp.agent_id(), back.agent_id());
        assert_eq!(kp.public_key().len(), PUBLIC_KEY_LEN);
    }

    #[test]
    fn agent_id_matches_ant_quic_peer_id() {
        let kp = AgentKeypair::generate().unwrap();
        let pk = ant_quic::MlDsaPublicKey::from_bytes(kp.public_key()).unwrap();
        assert_eq!(ant_quic::derive_peer_id_from_public_key(&pk).0, kp.agent_id());
    }

    #[test]
    fn corrupt_bytes_are_rejected_with_reason() {
        let kp = AgentKeypair::generate().unwrap();
        let mut bytes = kp.to_bytes();
        bytes[100] ^= 1;
        let err = AgentKeypair::from_bytes(&bytes).unwrap_err();
        assert_eq!(err.code(), "ERR_X0X_BAD_KEY");
        assert!(err.to_string().contains("checksum"));
        assert!(AgentKeypair::from_bytes(&bytes[..10]).is_err());
    }

    #[test]
    fn mismatched_pair_is_rejected() {
        let a = AgentKeypair::generate().unwrap();
        let b = AgentKeypair::generate().unwrap();
        let err = AgentKeypair::from_parts(a.public_key(), b.secret_key()).unwrap_err();
        assert!(err.to_string().contains("does not match"));
    }

    #[test]
    fn save_and_load_with_private_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.key");
        let kp = AgentKeypair::generate().unwrap();
        kp.save(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        assert_eq!(AgentKeypair::load(&path).unwrap().agent_id(), kp.agent_id());
        fs::write(&path, b"garbage").unwrap();
        let err = AgentKeypair::load(&path).unwrap_err();
        assert_eq!(err.code(), "ERR_X0X_KEY_FILE");
        let missing = AgentKeypair::load(&dir.path().join("nope")).unwrap_err();
        assert_eq!(missing.code(), "ERR_X0X_KEY_FILE");
    }

    #[test]
    fn signatures_verify_and_tampering_fails() {
        let kp = AgentKeypair::generate().unwrap();
        let sig = kp.sign(b"hello").unwrap();
        assert_eq!(sig.len(), SIGNATURE_LEN);
        assert!(verify(kp.public_key(), b"hello", &sig));
        assert!(!verify(kp.public_key(), b"hellp", &sig));
        assert!(!verify(&[0u8; 3], b"hello", &sig));
    }
}
