//! No text input may hold a control character (NUL above all: PostgreSQL refuses
//! it in text, which would surface as an internal error). Checked once per
//! request over every argument written in the document and every variable, so
//! each field need not remember to.

use std::convert::Infallible;

use async_graphql::parser::types::{ExecutableDocument, Field, Selection, SelectionSet};
use async_graphql::{Value, Variables};

/// Tab, line feed and carriage return are text (a message body has lines).
fn is_refused(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r')
}

fn holds_control_character(value: &Value) -> bool {
    match value {
        Value::String(text) => text.chars().any(is_refused),
        Value::List(items) => items.iter().any(holds_control_character),
        Value::Object(fields) => fields
            .iter()
            .any(|(name, value)| name.chars().any(is_refused) || holds_control_character(value)),
        _ => false,
    }
}

/// Where the first control character is (`variable $name`, `argument name of
/// field`), if any.
pub fn control_character(document: &ExecutableDocument, variables: &Variables) -> Option<String> {
    if let Some((name, _)) = variables.iter().find(|(_, value)| holds_control_character(value)) {
        return Some(format!("variable ${name}"));
    }
    let sets = document
        .operations
        .iter()
        .map(|(_, operation)| &operation.node.selection_set.node)
        .chain(
            document
                .fragments
                .values()
                .map(|fragment| &fragment.node.selection_set.node),
        );
    sets.into_iter().find_map(in_selection_set)
}

fn in_selection_set(set: &SelectionSet) -> Option<String> {
    set.items.iter().find_map(|selection| match &selection.node {
        Selection::Field(field) => in_field(&field.node),
        Selection::InlineFragment(inline) => in_selection_set(&inline.node.selection_set.node),
        Selection::FragmentSpread(_) => None,
    })
}

fn in_field(field: &Field) -> Option<String> {
    for (name, value) in &field.arguments {
        // Variables are checked on their own; here only what is written inline.
        let written = value
            .node
            .clone()
            .into_const_with(|_| Ok::<_, Infallible>(Value::Null))
            .unwrap_or(Value::Null);
        if holds_control_character(&written) {
            return Some(format!("argument {} of {}", name.node, field.name.node));
        }
    }
    in_selection_set(&field.selection_set.node)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(query: &str, variables: serde_json::Value) -> Option<String> {
        let document = async_graphql::parser::parse_query(query).unwrap();
        control_character(&document, &Variables::from_json(variables))
    }

    #[test]
    fn finds_control_characters_in_arguments_and_variables() {
        assert_eq!(
            check(
                "{ members(search: \"a\\u0000b\") { totalCount } }",
                serde_json::json!({})
            ),
            Some("argument search of members".into())
        );
        assert_eq!(
            check(
                "mutation($i: CreateMemberInput!) { createMember(input: $i) { member { id } } }",
                serde_json::json!({ "i": { "name": "Ana\u{7}" } })
            ),
            Some("variable $i".into())
        );
        assert_eq!(
            check(
                "query { ...F } fragment F on Query { offers(search: \"\\u001b[31m\") { totalCount } }",
                serde_json::json!({})
            ),
            Some("argument search of offers".into())
        );
        assert_eq!(
            check(
                "mutation($t: String) { f(body: \"line one\\nline two\\tend\", t: $t) }",
                serde_json::json!({ "t": "a\r\nb" })
            ),
            None
        );
    }
}
