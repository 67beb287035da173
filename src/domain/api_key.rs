//! API keys: random tokens shown once, stored as a SHA-256 digest.

use rand::Rng;
use rand::distr::Alphanumeric;
use sha2::{Digest, Sha256};

const KEY_PREFIX: &str = "stk_";
const RANDOM_CHARS: usize = 40;

/// A freshly made key: the secret for the user, and what the database keeps.
pub struct NewApiKey {
    pub secret: String,
    pub hash: Vec<u8>,
    /// The first characters, kept to tell keys apart in lists.
    pub display_prefix: String,
}

/// Makes a key with about 238 bits of randomness.
pub fn generate() -> NewApiKey {
    let random: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .take(RANDOM_CHARS)
        .map(char::from)
        .collect();
    let secret = format!("{KEY_PREFIX}{random}");
    NewApiKey {
        hash: hash(&secret),
        display_prefix: secret[..KEY_PREFIX.len() + 6].to_string(),
        secret,
    }
}

/// The digest a presented key is looked up by. A slow password hash is not needed:
/// the keys are long random strings, not guessable passwords.
pub fn hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_hash_to_what_is_stored() {
        let a = generate();
        let b = generate();
        assert_ne!(a.secret, b.secret);
        assert!(a.secret.starts_with("stk_") && a.secret.len() == 44);
        assert_eq!(hash(&a.secret), a.hash);
        assert_eq!(a.hash.len(), 32);
        assert!(a.secret.starts_with(&a.display_prefix));
    }
}
