//! Development conveniences outside the product: a private PostgreSQL cluster
//! started on demand so `cargo run` and `cargo test` need no setup.

pub mod local_postgres;
