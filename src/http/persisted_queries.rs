//! Apollo's automatic persisted queries: a client sends the SHA-256 of its query
//! instead of the text; the first time a server does not know the hash it answers
//! `PERSISTED_QUERY_NOT_FOUND`, the client sends hash and text once, and from then
//! on the hash alone (over GET too, so an HTTP cache can keep the answer).
//!
//! Hashes are checked against the text before they are kept, so nobody can file
//! another query under a hash; the text is then measured and limited like any
//! other. Each server keeps its own bounded cache: a client that reaches a server
//! which has not seen its hash just registers it there too.

use std::sync::Arc;

use async_graphql::{Request, Value};
use sha2::{Digest, Sha256};

/// What the cache holds at most, in bytes of memory: each entry weighs its hash
/// and text plus what the cache itself spends on an entry.
pub const CACHE_BYTES: u64 = 16 * 1024 * 1024;

/// Memory the cache spends per entry beyond the hash's and the text's bytes (its
/// node, the key's and value's heap headers, the frequency sketch, the
/// deques): about 290 bytes measured by `tests/persisted_query_memory.rs`, with room.
const ENTRY_OVERHEAD: usize = 384;

/// Known queries by the hex SHA-256 of their text.
#[derive(Clone)]
pub struct PersistedQueries(moka::future::Cache<String, Arc<str>>);

/// Why a request's `persistedQuery` extension cannot be used.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The hash alone, and this server does not know it: send the text once.
    NotFound,
    /// Only version 1 exists.
    UnsupportedVersion,
    /// Not `{ "version": 1, "sha256Hash": "<64 hex digits>" }`.
    Malformed,
    /// The text given does not hash to the hash given.
    HashMismatch,
}

impl Refusal {
    /// The message Apollo's clients look for, and the code.
    pub fn message_and_code(&self) -> (&'static str, &'static str) {
        match self {
            Refusal::NotFound => ("PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND"),
            Refusal::UnsupportedVersion => ("only version 1 of persistedQuery is supported", "BAD_USER_INPUT"),
            Refusal::Malformed => (
                "persistedQuery must be { version: 1, sha256Hash: <64 hex digits> }",
                "BAD_USER_INPUT",
            ),
            Refusal::HashMismatch => ("provided sha does not match query", "BAD_USER_INPUT"),
        }
    }
}

impl Default for PersistedQueries {
    fn default() -> Self {
        PersistedQueries(
            moka::future::Cache::builder()
                .weigher(|hash: &String, query: &Arc<str>| {
                    (hash.len() + query.len() + ENTRY_OVERHEAD)
                        .try_into()
                        .unwrap_or(u32::MAX)
                })
                .max_capacity(CACHE_BYTES)
                .build(),
        )
    }
}

impl PersistedQueries {
    /// Applies the cache's pending writes and evictions now (it does so by itself
    /// as it is used; tests measuring it call this).
    pub async fn settle(&self) {
        self.0.run_pending_tasks().await;
    }

    /// Fills in the query text of a request that names a persisted query, and keeps
    /// the text of one that brings it along with its hash. `max_query_bytes` bounds
    /// what is kept (longer text is refused later anyway).
    pub async fn resolve(&self, request: &mut Request, max_query_bytes: usize) -> Result<(), Refusal> {
        let Some(extension) = request.extensions.remove("persistedQuery") else {
            return Ok(());
        };
        let hash = requested_hash(&extension)?;
        if request.query.is_empty() {
            let query = self.0.get(&hash).await.ok_or(Refusal::NotFound)?;
            request.query = query.to_string();
            return Ok(());
        }
        if format!("{:x}", Sha256::digest(request.query.as_bytes())) != hash {
            return Err(Refusal::HashMismatch);
        }
        if request.query.len() <= max_query_bytes {
            self.0.insert(hash, Arc::from(request.query.as_str())).await;
        }
        Ok(())
    }
}

/// The lower-case hex hash a `persistedQuery` extension names.
fn requested_hash(extension: &Value) -> Result<String, Refusal> {
    let Value::Object(fields) = extension else {
        return Err(Refusal::Malformed);
    };
    match fields.get("version") {
        Some(Value::Number(n)) if n.as_i64() == Some(1) => {}
        Some(Value::Number(_)) => return Err(Refusal::UnsupportedVersion),
        _ => return Err(Refusal::Malformed),
    }
    match fields.get("sha256Hash") {
        Some(Value::String(hash)) if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok(hash.to_ascii_lowercase())
        }
        _ => Err(Refusal::Malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_extension(query: &str, extension: serde_json::Value) -> Request {
        let mut request = Request::new(query);
        request
            .extensions
            .insert("persistedQuery".into(), Value::from_json(extension).unwrap());
        request
    }

    #[tokio::test]
    async fn a_hash_is_known_only_after_its_text_came_with_it() {
        let cache = PersistedQueries::default();
        let query = "{ viewer { role } }";
        let hash = format!("{:x}", Sha256::digest(query.as_bytes()));
        let by_hash = || with_extension("", serde_json::json!({ "version": 1, "sha256Hash": hash }));

        assert_eq!(cache.resolve(&mut by_hash(), 1000).await, Err(Refusal::NotFound));
        let mut registering = with_extension(query, serde_json::json!({ "version": 1, "sha256Hash": hash }));
        cache.resolve(&mut registering, 1000).await.unwrap();
        assert_eq!(registering.query, query);
        let mut request = by_hash();
        cache.resolve(&mut request, 1000).await.unwrap();
        assert_eq!(request.query, query);
    }

    #[tokio::test]
    async fn another_query_cannot_be_filed_under_a_hash() {
        let cache = PersistedQueries::default();
        let hash = format!("{:x}", Sha256::digest(b"{ viewer { role } }"));
        let mut forged = with_extension(
            "{ apiKeys { id } }",
            serde_json::json!({ "version": 1, "sha256Hash": hash }),
        );
        assert_eq!(cache.resolve(&mut forged, 1000).await, Err(Refusal::HashMismatch));
        let mut by_hash = with_extension("", serde_json::json!({ "version": 1, "sha256Hash": hash }));
        assert_eq!(cache.resolve(&mut by_hash, 1000).await, Err(Refusal::NotFound));
    }

    #[tokio::test]
    async fn text_over_the_size_limit_is_not_kept() {
        let cache = PersistedQueries::default();
        let query = "{ viewer { role } }";
        let hash = format!("{:x}", Sha256::digest(query.as_bytes()));
        let extension = serde_json::json!({ "version": 1, "sha256Hash": hash });
        cache
            .resolve(&mut with_extension(query, extension.clone()), 5)
            .await
            .unwrap();
        assert_eq!(
            cache.resolve(&mut with_extension("", extension), 5).await,
            Err(Refusal::NotFound)
        );
    }

    #[tokio::test]
    async fn malformed_extensions_are_refused() {
        let cache = PersistedQueries::default();
        for (extension, refusal) in [
            (
                serde_json::json!({ "version": 2, "sha256Hash": "a".repeat(64) }),
                Refusal::UnsupportedVersion,
            ),
            (
                serde_json::json!({ "version": 1, "sha256Hash": "xyz" }),
                Refusal::Malformed,
            ),
            (serde_json::json!({ "sha256Hash": "a".repeat(64) }), Refusal::Malformed),
            (serde_json::json!("hash"), Refusal::Malformed),
        ] {
            assert_eq!(
                cache.resolve(&mut with_extension("", extension.clone()), 1000).await,
                Err(refusal),
                "{extension}"
            );
        }
    }
}
