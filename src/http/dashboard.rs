//! The dashboard: plain HTML, CSS and JavaScript from `playground/dashboard/`,
//! compiled into the binary. It talks to the server through `/graphql` only.

use axum::extract::Path;
use axum::response::{Html, Response};

use super::graphiql::asset;

const PAGE: &str = include_str!("../../playground/dashboard/index.html");

const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "app.js",
        "text/javascript",
        include_bytes!("../../playground/dashboard/app.js"),
    ),
    (
        "app.css",
        "text/css",
        include_bytes!("../../playground/dashboard/app.css"),
    ),
];

pub async fn page() -> Html<&'static str> {
    Html(PAGE)
}

pub async fn dashboard_asset(Path(file): Path<String>) -> Response {
    // Revalidated on every load, so a new binary's dashboard is used at once.
    asset(ASSETS, &file, "no-cache")
}
