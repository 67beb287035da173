//! Property tests over every argument of the schema: each root query and mutation
//! is sent with generated values for every text, money, id, number, date and enum
//! input (hostile strings and amounts among them), as an admin. Whatever comes
//! in, the answer is never a 5xx or `INTERNAL`, and every error has a code.

use std::collections::HashMap;

use async_graphql::parser::types::{BaseType, Type, TypeKind};
use proptest::prelude::*;
use proptest::strategy::{BoxedStrategy, ValueTree};
use proptest::test_runner::TestRunner;
use serde_json::{Value, json};

use crate::common::{TestApp, named_type, schema_types};

/// An argument or input field: its name and type.
#[derive(Clone)]
struct Input {
    name: String,
    ty: Type,
}

/// What the generator needs of the schema.
struct Schema {
    inputs: HashMap<String, Vec<Input>>,
    enums: HashMap<String, Vec<String>>,
    composite: std::collections::HashSet<String>,
    /// Root fields with arguments: (operation, field, arguments, returns an object).
    roots: Vec<(&'static str, String, Vec<Input>, bool)>,
}

impl Schema {
    fn read() -> Self {
        let mut schema = Schema {
            inputs: HashMap::new(),
            enums: HashMap::new(),
            composite: Default::default(),
            roots: Vec::new(),
        };
        let mut root_fields = Vec::new();
        for definition in schema_types() {
            let name = definition.name.node.to_string();
            match definition.kind {
                TypeKind::InputObject(input) => {
                    let fields = input
                        .fields
                        .into_iter()
                        .map(|f| Input {
                            name: f.node.name.node.to_string(),
                            ty: f.node.ty.node,
                        })
                        .collect();
                    schema.inputs.insert(name, fields);
                }
                TypeKind::Enum(values) => {
                    let values = values.values.iter().map(|v| v.node.value.node.to_string()).collect();
                    schema.enums.insert(name, values);
                }
                TypeKind::Object(object) => {
                    if name == "Query" || name == "Mutation" {
                        let operation = if name == "Query" { "query" } else { "mutation" };
                        for field in object.fields {
                            let arguments: Vec<Input> = field
                                .node
                                .arguments
                                .iter()
                                .map(|a| Input {
                                    name: a.node.name.node.to_string(),
                                    ty: a.node.ty.node.clone(),
                                })
                                .collect();
                            if !arguments.is_empty() {
                                let returns = named_type(&field.node.ty.node).to_string();
                                root_fields.push((operation, field.node.name.node.to_string(), arguments, returns));
                            }
                        }
                    }
                    schema.composite.insert(name);
                }
                TypeKind::Interface(_) | TypeKind::Union(_) => {
                    schema.composite.insert(name);
                }
                _ => {}
            }
        }
        schema.roots = root_fields
            .into_iter()
            .map(|(operation, field, arguments, returns)| {
                let is_object = schema.composite.contains(&returns);
                (operation, field, arguments, is_object)
            })
            .collect();
        schema
    }

    /// Values for a type: nulls where it is nullable, lists of 0 to 2; `plausible`
    /// keeps to values a real client would send.
    fn values(&self, ty: &Type, ids: &[String], plausible: bool) -> BoxedStrategy<Value> {
        let inner = match &ty.base {
            BaseType::List(element) => {
                let element = self.values(element, ids, plausible);
                proptest::collection::vec(element, 0..3).prop_map(Value::Array).boxed()
            }
            BaseType::Named(name) if plausible => self.plausible_values(name, ids),
            BaseType::Named(name) => self.named_values(name, ids),
        };
        if ty.nullable {
            prop_oneof![1 => Just(Value::Null), 4 => inner].boxed()
        } else {
            inner
        }
    }

    fn plausible_values(&self, name: &str, ids: &[String]) -> BoxedStrategy<Value> {
        let pick = |values: &[&str]| {
            let values: Vec<String> = values.iter().map(|v| v.to_string()).collect();
            proptest::sample::select(values).prop_map(Value::String).boxed()
        };
        match name {
            "String" => (0u32..1_000_000, 0usize..4)
                .prop_map(|(n, kind)| {
                    Value::String(match kind {
                        0 => format!("Ana {n}"),
                        1 => format!("ana.{n}@example.com"),
                        2 => format!("https://shop.example.com/p/{n}"),
                        _ => format!("CODE{n}"),
                    })
                })
                .boxed(),
            "ID" => proptest::sample::select(ids.to_vec()).prop_map(Value::String).boxed(),
            "Money" | "Percent" => pick(&["25.00", "10", "0.50"]),
            "Int" => (1i64..10).prop_map(|n| json!(n)).boxed(),
            "Date" => pick(&["2026-11-01", "2026-12-01"]),
            "DateTime" => pick(&["2026-12-01T10:00:00Z"]),
            _ if self.inputs.contains_key(name) => {
                let fields: Vec<(String, BoxedStrategy<Value>)> = self.inputs[name]
                    .iter()
                    .map(|f| (f.name.clone(), self.values(&f.ty, ids, true)))
                    .collect();
                let (names, strategies): (Vec<String>, Vec<BoxedStrategy<Value>>) = fields.into_iter().unzip();
                strategies
                    .prop_map(move |values| {
                        Value::Object(
                            names
                                .iter()
                                .cloned()
                                .zip(values)
                                .filter(|(_, v)| !v.is_null())
                                .collect(),
                        )
                    })
                    .boxed()
            }
            _ => self.named_values(name, ids),
        }
    }

    fn named_values(&self, name: &str, ids: &[String]) -> BoxedStrategy<Value> {
        if let Some(values) = self.enums.get(name) {
            return proptest::sample::select(values.clone()).prop_map(Value::String).boxed();
        }
        if let Some(fields) = self.inputs.get(name) {
            let fields: Vec<(String, BoxedStrategy<Value>)> = fields
                .iter()
                .map(|f| (f.name.clone(), self.values(&f.ty, ids, false)))
                .collect();
            let (names, strategies): (Vec<String>, Vec<BoxedStrategy<Value>>) = fields.into_iter().unzip();
            return strategies
                .prop_map(move |values| {
                    let object = names
                        .iter()
                        .cloned()
                        .zip(values)
                        .filter(|(_, v)| !v.is_null())
                        .collect();
                    Value::Object(object)
                })
                .boxed();
        }
        match name {
            "String" => text().prop_map(Value::String).boxed(),
            "ID" => prop_oneof![
                3 => proptest::sample::select(ids.to_vec()),
                1 => text(),
                1 => Just("offer_99999999999999999999".to_string()),
                1 => Just("member_-1".to_string()),
            ]
            .prop_map(Value::String)
            .boxed(),
            "Money" | "Percent" => money().prop_map(Value::String).boxed(),
            "Int" => prop_oneof![
                Just(i64::from(i32::MIN)),
                Just(-1i64),
                Just(0i64),
                Just(1i64),
                Just(100i64),
                Just(i64::from(i32::MAX)),
                any::<i32>().prop_map(i64::from),
            ]
            .prop_map(|n| json!(n))
            .boxed(),
            "Float" => prop_oneof![Just(json!(0.5)), Just(json!(-1e300)), Just(json!(1e300))].boxed(),
            "Boolean" => any::<bool>().prop_map(Value::Bool).boxed(),
            "Date" => prop_oneof![
                Just("2026-12-01".to_string()),
                Just("2026-02-30".to_string()),
                Just("0001-01-01".to_string()),
                Just("9999-12-31".to_string()),
                text(),
            ]
            .prop_map(Value::String)
            .boxed(),
            "DateTime" => prop_oneof![
                Just("2026-12-01T10:00:00Z".to_string()),
                Just("+275760-09-13T00:00:00Z".to_string()),
                Just("1970-01-01T00:00:00+14:00".to_string()),
                text(),
            ]
            .prop_map(Value::String)
            .boxed(),
            _ => Just(json!({ "a": [1, "\u{0}"] })).boxed(),
        }
    }
}

/// Hostile and ordinary text: control characters, NUL, formulas, markup, SQL,
/// very long, non-Latin, and arbitrary Unicode.
fn text() -> BoxedStrategy<String> {
    prop_oneof![
        2 => Just(String::new()),
        4 => Just("Ana".to_string()),
        4 => Just("ana@example.com".to_string()),
        1 => Just("\u{0}".to_string()),
        1 => Just("Trail\u{0}Shoes".to_string()),
        1 => Just("bell\u{7} escape\u{1b}[31m".to_string()),
        1 => Just("=HYPERLINK(\"http://evil.example\")".to_string()),
        1 => Just("'; DROP TABLE members; --".to_string()),
        1 => Just("<script>alert(1)</script>".to_string()),
        1 => Just("%_\\".to_string()),
        1 => Just("x".repeat(5_000)),
        1 => Just("\u{FF1D}\u{1F600}\u{202E}كود".to_string()),
        1 => Just("{{memberName}} {{nope}} {{".to_string()),
        6 => "\\PC{0,30}",
        1 => any::<String>(),
    ]
    .boxed()
}

/// Text that has broken servers: NUL above all, escapes, very long, formulas.
fn hostile_text() -> BoxedStrategy<String> {
    prop_oneof![
        4 => Just("Ana\u{0}".to_string()),
        1 => Just("\u{1b}[31m\u{7}".to_string()),
        1 => Just("x".repeat(5_000)),
        1 => Just("=cmd|' /C calc'!A0".to_string()),
        2 => any::<String>(),
    ]
    .boxed()
}

/// Amounts past every bound, badly scaled or not numbers at all.
fn money() -> BoxedStrategy<String> {
    prop_oneof![
        Just("0".to_string()),
        Just("-1".to_string()),
        Just("0.001".to_string()),
        Just("12.345".to_string()),
        Just("25.00".to_string()),
        Just("100000000.00".to_string()),
        Just("999999999999.99".to_string()),
        Just("99999999999999999999999999".to_string()),
        Just("1e10".to_string()),
        Just("NaN".to_string()),
        Just("abc".to_string()),
        (0u64..u64::MAX, 0u32..6).prop_map(|(n, scale)| rust_decimal::Decimal::new(n as i64, scale).to_string()),
    ]
    .boxed()
}

/// The places of every string in `value`.
fn string_leaves(value: &Value, path: Vec<String>, into: &mut Vec<Vec<String>>) {
    match value {
        Value::String(_) => into.push(path),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let mut inner = path.clone();
                inner.push(i.to_string());
                string_leaves(item, inner, into);
            }
        }
        Value::Object(fields) => {
            for (key, item) in fields {
                let mut inner = path.clone();
                inner.push(key.clone());
                string_leaves(item, inner, into);
            }
        }
        _ => {}
    }
}

fn replace_at(value: &mut Value, path: &[String], with: Value) {
    match path.split_first() {
        None => *value = with,
        Some((step, rest)) => {
            let inner = match value {
                Value::Array(items) => items.get_mut(step.parse::<usize>().unwrap()),
                Value::Object(fields) => fields.get_mut(step),
                _ => None,
            };
            if let Some(inner) = inner {
                replace_at(inner, rest, with);
            }
        }
    }
}

/// Each root field with arguments, `cases` times with hostile values, and as
/// many times with plausible values but one text made hostile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_argument_takes_any_value_without_an_internal_error() {
    let app = TestApp::new().await;
    let shop = crate::tracking::shop(&app).await;
    for _ in 0..2 {
        crate::tracking::click(&app, &shop.link_code, "Mozilla/5.0").await;
    }
    let ids: Vec<String> = [
        shop.link_offer.as_str(),
        shop.code_offer.as_str(),
        shop.link_membership.as_str(),
        shop.code_membership.as_str(),
        "member_1",
        "project_1",
        "conversion_1",
        "payment_1",
        "email_1",
        "reward_1",
        "rewardRule_1",
        "apiKey_1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let schema = Schema::read();
    let cases = 16;
    let mut runner = TestRunner::deterministic();
    let mut sent = 0;
    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    for (operation, field, arguments, is_object) in &schema.roots {
        let definitions: Vec<String> = arguments.iter().map(|a| format!("${}: {}", a.name, a.ty)).collect();
        let passing: Vec<String> = arguments.iter().map(|a| format!("{0}: ${0}", a.name)).collect();
        let selection = if *is_object { " { __typename }" } else { "" };
        let document = format!(
            "{operation}({}) {{ {field}({}){selection} }}",
            definitions.join(", "),
            passing.join(", ")
        );
        for case in 0..cases * 2 {
            let plausible = case % 2 == 1;
            let mut variables = serde_json::Map::new();
            for argument in arguments {
                let strategy = schema.values(&argument.ty, &ids, plausible);
                variables.insert(argument.name.clone(), strategy.new_tree(&mut runner).unwrap().current());
            }
            let mut variables = Value::Object(variables);
            if plausible {
                let mut leaves = Vec::new();
                string_leaves(&variables, Vec::new(), &mut leaves);
                if !leaves.is_empty() {
                    let which = (0..leaves.len()).new_tree(&mut runner).unwrap().current();
                    let hostile = hostile_text().new_tree(&mut runner).unwrap().current();
                    replace_at(&mut variables, &leaves[which], Value::String(hostile));
                }
            }
            let (status, body) = app.graphql(Some(&shop.brand.admin), &document, variables.clone()).await;
            sent += 1;
            assert!(status.as_u16() < 500, "{document} {variables}: {status} {body}");
            let first = body["errors"][0]["extensions"]["code"]
                .as_str()
                .unwrap_or("OK")
                .to_string();
            *outcomes.entry(first).or_insert(0) += 1;
            for error in body["errors"].as_array().into_iter().flatten() {
                let code = error["extensions"]["code"].as_str();
                assert!(
                    code.is_some_and(|c| c != "INTERNAL"),
                    "{document}\nvariables: {variables}\nanswer: {body}"
                );
            }
        }
    }
    assert!(sent > 1_000, "only {sent} requests");
    // Some generated input must get past validation, or the walk tests nothing deeper.
    assert!(outcomes.get("OK").is_some_and(|n| *n > 50), "{outcomes:?}");
}
