//! The layers import only downward (README, *Architecture*): a test reads the
//! sources, so a shortcut across layers fails here rather than in review.

use std::path::{Path, PathBuf};

fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// Lines of code (not comments) in `layer` that mention any of `forbidden`.
fn offending(layer: &str, forbidden: &[&str]) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(layer);
    let mut found = Vec::new();
    for file in sources(&root) {
        let text = std::fs::read_to_string(&file).unwrap();
        for (number, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            if let Some(name) = forbidden.iter().find(|name| code.contains(*name)) {
                found.push(format!("{}:{}: {name}", file.display(), number + 1));
            }
        }
    }
    found
}

#[test]
fn each_layer_imports_only_the_layers_below_it() {
    let web = ["async_graphql", "axum", "crate::graphql", "crate::http"];
    let rules: [(&str, Vec<&str>); 6] = [
        (
            "domain",
            [
                &web[..],
                &[
                    "diesel",
                    "tokio",
                    "lettre",
                    "crate::app",
                    "crate::db",
                    "crate::providers",
                ],
            ]
            .concat(),
        ),
        ("db", [&web[..], &["crate::app", "crate::providers"]].concat()),
        ("providers", [&web[..], &["crate::db", "diesel"]].concat()),
        ("app", web.to_vec()),
        // The adapters hold the `App` and call the workflows: never the database
        // or an outside service behind the application's back.
        ("graphql", vec!["crate::db", "crate::providers", "diesel"]),
        ("http", vec!["crate::db", "crate::providers", "diesel"]),
    ];
    for (layer, forbidden) in rules {
        let found = offending(layer, &forbidden);
        assert!(
            found.is_empty(),
            "src/{layer} reaches past its layer:\n{}",
            found.join("\n")
        );
    }
}

/// `offending`, leaving out the lines that name one of `allowed` (a narrower path).
fn offending_except(layer: &str, forbidden: &[&str], allowed: &[&str]) -> Vec<String> {
    offending(layer, forbidden)
        .into_iter()
        .filter(|found| !allowed.iter().any(|path| source_line(found).contains(path)))
        .collect()
}

#[test]
fn providers_implement_the_ports_app_owns_and_nothing_else_of_app() {
    let found = offending_except("providers", &["crate::app"], &["crate::app::ports"]);
    assert!(
        found.is_empty(),
        "providers implement `app::ports` and call no workflow:\n{}",
        found.join("\n")
    );
}

#[test]
fn workflows_reach_providers_only_through_their_ports() {
    // The App is assembled in one place, which picks the implementations.
    let found: Vec<String> = offending("app", &["crate::providers"])
        .into_iter()
        .filter(|found| !found.contains("/app/application.rs:"))
        .collect();
    assert!(
        found.is_empty(),
        "workflows call `app::ports` traits, not providers:\n{}",
        found.join("\n")
    );
}

#[test]
fn main_parses_arguments_and_calls_app_not_the_database() {
    let main = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/main.rs");
    let text = std::fs::read_to_string(main).unwrap();
    let found: Vec<&str> = text
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .filter(|line| line.contains("sales_tracking::db") || line.contains(" db::"))
        .collect();
    assert!(
        found.is_empty(),
        "src/main.rs reaches the database:\n{}",
        found.join("\n")
    );
}

#[test]
fn only_the_graphql_endpoint_reaches_into_graphql() {
    let serving_graphql = ["mod.rs", "graphql.rs", "live.rs"];
    let found: Vec<String> = offending("http", &["crate::graphql"])
        .into_iter()
        .filter(|line| {
            !serving_graphql
                .iter()
                .any(|file| line.contains(&format!("/http/{file}:")))
        })
        .collect();
    assert!(
        found.is_empty(),
        "REST handlers call the application, not GraphQL:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_guard_sees_a_forbidden_import() {
    // The scan itself works: GraphQL code does use async-graphql.
    assert!(!offending("graphql", &["async_graphql"]).is_empty());
}

#[test]
fn rows_and_signatures_carry_entity_ids_not_bare_integers() {
    let bare = [
        "id: i64",
        "_id: Option<i64>",
        "ids: &[i64]",
        "ids: Vec<i64>",
        "ids: Option<Vec<i64>>",
    ];
    // A keyset cursor is any list's row id; test helpers build ids from numbers.
    let allowed = [
        "pub before_id: Option<i64>,",
        "fn click(membership_id: i64, days_before: i64, eligible: bool) -> ClickCandidate {",
        "fn entry(entry_id: i64, membership_id: i64, amount: &str) -> DueEntry {",
        "pub(super) fn format(kind: Kind, id: i64) -> String {",
    ];
    let found: Vec<String> = ["app", "db", "domain", "graphql", "http", "providers", "fixtures"]
        .into_iter()
        .flat_map(|layer| offending(layer, &bare))
        .filter(|found| !allowed.iter().any(|line| source_line(found).trim() == *line))
        .collect();
    assert!(
        found.is_empty(),
        "ids are typed per entity (domain::ids), not bare i64:\n{}",
        found.join("\n")
    );
}

/// The source line an `offending` finding points at.
fn source_line(found: &str) -> String {
    let mut parts = found.splitn(3, ':');
    let (file, number) = (parts.next().unwrap(), parts.next().unwrap());
    let number: usize = number.parse().unwrap();
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .nth(number - 1)
        .unwrap()
        .to_string()
}
