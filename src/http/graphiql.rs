//! GraphiQL, served from files shipped in `playground/` and compiled into the
//! binary, so it works with no network.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

const PAGE: &str = include_str!("../../playground/graphiql/index.html");

const VENDOR: &[(&str, &str, &[u8])] = &[
    (
        "graphiql.min.js",
        "text/javascript",
        include_bytes!("../../playground/graphiql/vendor/graphiql.min.js"),
    ),
    (
        "graphiql.min.css",
        "text/css",
        include_bytes!("../../playground/graphiql/vendor/graphiql.min.css"),
    ),
    (
        "react.production.min.js",
        "text/javascript",
        include_bytes!("../../playground/graphiql/vendor/react.production.min.js"),
    ),
    (
        "react-dom.production.min.js",
        "text/javascript",
        include_bytes!("../../playground/graphiql/vendor/react-dom.production.min.js"),
    ),
];

pub async fn page() -> Html<&'static str> {
    Html(PAGE)
}

pub async fn vendor_asset(Path(file): Path<String>) -> Response {
    asset(VENDOR, &file, "public, max-age=86400")
}

/// One of `files` (name, content type, bytes), or 404.
pub(super) fn asset(files: &[(&str, &'static str, &'static [u8])], file: &str, cache: &'static str) -> Response {
    match files.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, body)) => (
            [(header::CONTENT_TYPE, *content_type), (header::CACHE_CONTROL, cache)],
            *body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}
