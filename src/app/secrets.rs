//! Secrets kept at rest (shops' access tokens), sealed with AES-256-GCM. The
//! first configured key seals; every configured key opens, so a key is rotated
//! by putting the new one first, re-sealing (`sales-tracking rotate-secrets`),
//! then dropping the old one.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest, Sha256};

use super::{AppError, AppResult};

/// The sealed form's version: `v1.<key id>.<base64 of nonce and ciphertext>`.
const VERSION: &str = "v1";
const NONCE_BYTES: usize = 12;

/// The server's secrets keys; the first seals.
#[derive(Clone)]
pub struct SecretsKeys {
    keys: Vec<(String, Aes256Gcm)>,
}

impl std::fmt::Debug for SecretsKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("SecretsKeys").field("key_ids", &ids).finish()
    }
}

impl SecretsKeys {
    /// Keys as `--secrets-key` takes them: base64 of 32 random bytes each,
    /// separated by commas, the sealing one first (`openssl rand -base64 32`).
    pub fn parse(text: &str) -> Result<SecretsKeys, String> {
        let mut keys = Vec::new();
        for (position, encoded) in text.split(',').map(str::trim).enumerate() {
            let bytes = BASE64
                .decode(encoded)
                .map_err(|_| format!("secrets key {} is not base64", position + 1))?;
            let cipher = Aes256Gcm::new_from_slice(&bytes)
                .map_err(|_| format!("secrets key {} is not 32 bytes", position + 1))?;
            keys.push((key_id(&bytes), cipher));
        }
        Ok(SecretsKeys { keys })
    }

    /// Seals `plain` under the first key, with a fresh random nonce.
    pub fn seal(&self, plain: &str) -> String {
        let (id, cipher) = &self.keys[0];
        let nonce_bytes: [u8; NONCE_BYTES] = rand::random();
        let sealed = cipher
            .encrypt(Nonce::from_slice(&nonce_bytes), plain.as_bytes())
            .expect("AES-GCM seals any input of this size");
        let mut bytes = nonce_bytes.to_vec();
        bytes.extend(sealed);
        format!("{VERSION}.{id}.{}", BASE64.encode(bytes))
    }

    /// Opens what a configured key sealed; a key no longer configured, or a
    /// sealed value changed at rest, is an internal error (nothing to show callers).
    pub fn open(&self, sealed: &str) -> AppResult<String> {
        let broken = |why: &str| AppError::internal(anyhow::anyhow!("a sealed secret cannot be opened: {why}"));
        let mut parts = sealed.splitn(3, '.');
        let (Some(VERSION), Some(id), Some(body)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(broken("not a sealed value"));
        };
        let (_, cipher) = self
            .keys
            .iter()
            .find(|(key, _)| key == id)
            .ok_or_else(|| broken("its key is not configured (--secrets-key)"))?;
        let bytes = BASE64.decode(body).map_err(|_| broken("not base64"))?;
        if bytes.len() < NONCE_BYTES {
            return Err(broken("too short"));
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        let plain = cipher
            .decrypt(Nonce::from_slice(nonce), ciphertext)
            .map_err(|_| broken("it was altered"))?;
        String::from_utf8(plain).map_err(|_| broken("not text"))
    }

    /// Whether `sealed` is under the sealing key (else re-sealing moves it there).
    pub fn is_current(&self, sealed: &str) -> bool {
        sealed.split('.').nth(1) == Some(self.keys[0].0.as_str())
    }
}

/// A key's id in sealed values: the start of its SHA-256, which tells nothing of it.
fn key_id(key: &[u8]) -> String {
    Sha256::digest(key)[..4].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> String {
        BASE64.encode(rand::random::<[u8; 32]>())
    }

    #[test]
    fn a_sealed_secret_opens_with_its_key_only_and_unchanged() {
        let (old, new) = (key(), key());
        let keys = SecretsKeys::parse(&old).unwrap();
        let sealed = keys.seal("shpat_secret");
        assert!(!sealed.contains("shpat_secret"));
        assert_ne!(sealed, keys.seal("shpat_secret"), "each seal has its own nonce");
        assert_eq!(keys.open(&sealed).unwrap(), "shpat_secret");
        // Rotation: the new key seals, the old one still opens.
        let rotated = SecretsKeys::parse(&format!("{new},{old}")).unwrap();
        assert!(!rotated.is_current(&sealed));
        assert_eq!(rotated.open(&sealed).unwrap(), "shpat_secret");
        assert!(rotated.is_current(&rotated.seal("x")));
        // Without its key, or altered, it does not open.
        assert!(SecretsKeys::parse(&new).unwrap().open(&sealed).is_err());
        // One ciphertext character changed, well before the padding.
        let at = sealed.len() - 10;
        let flipped = if &sealed[at..=at] == "A" { "B" } else { "A" };
        let altered = format!("{}{flipped}{}", &sealed[..at], &sealed[at + 1..]);
        assert!(keys.open(&altered).is_err());
    }

    #[test]
    fn keys_must_be_32_bytes_of_base64() {
        assert!(SecretsKeys::parse("not base64!").is_err());
        assert!(SecretsKeys::parse(&BASE64.encode([0u8; 16])).is_err());
        assert!(format!("{:?}", SecretsKeys::parse(&key()).unwrap()).contains("key_ids"));
    }
}
