//! `schema.graphql` is the checked-in contract. This test fails when the code's
//! schema differs; `UPDATE_SCHEMA=1 cargo test` rewrites the file.

#[test]
fn schema_graphql_matches_the_code() {
    let sdl = sales_tracking::graphql::sdl(&sales_tracking::graphql::build_schema(Default::default()));
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema.graphql");
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &sdl).unwrap();
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == sdl,
        "schema.graphql differs from the code's schema; run `UPDATE_SCHEMA=1 cargo test schema_graphql` and review the diff"
    );
}
