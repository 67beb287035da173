//! The persisted-query cache stays within its stated bytes under a flood of
//! registrations, measured by counting every byte this process allocates.
//! (Its own test binary: the counting allocator must be the only one in it.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use sales_tracking::http::persisted_queries::{CACHE_BYTES, PersistedQueries};
use sha2::{Digest, Sha256};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// A registration as an anonymous client sends it: a small query with its hash.
fn registration(n: usize) -> async_graphql::Request {
    let query = format!("{{ __typename a{n}: __typename }}");
    let hash = format!("{:x}", Sha256::digest(query.as_bytes()));
    let mut request = async_graphql::Request::new(query);
    request.extensions.insert(
        "persistedQuery".into(),
        async_graphql::Value::from_json(serde_json::json!({ "version": 1, "sha256Hash": hash })).unwrap(),
    );
    request
}

#[tokio::test(flavor = "current_thread")]
async fn a_registration_flood_stays_within_the_stated_bytes() {
    let cache = PersistedQueries::default();
    // Warm up whatever the cache and the runtime allocate once.
    for n in 0..1_000 {
        cache.resolve(&mut registration(n), 32 * 1024).await.unwrap();
    }
    cache.settle().await;
    let before = LIVE.load(Ordering::Relaxed);
    let mut peak = 0;
    for n in 1_000..400_000 {
        cache.resolve(&mut registration(n), 32 * 1024).await.unwrap();
        if n % 10_000 == 0 {
            peak = peak.max(LIVE.load(Ordering::Relaxed).saturating_sub(before));
        }
    }
    cache.settle().await;
    let held = LIVE.load(Ordering::Relaxed).saturating_sub(before);
    let stated = CACHE_BYTES as usize;
    println!("held {held} bytes, peak {peak} during the flood, stated {stated}");
    assert!(held <= stated, "the cache holds {held} bytes; it states {stated}");
    // While the flood runs, writes not yet applied may add a little.
    assert!(peak <= stated + stated / 4, "peak {peak} bytes during the flood");
}
