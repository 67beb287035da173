//! Members' email and payout addresses reach admin keys only: a test walks the
//! whole schema (every field without required arguments, through every root
//! list and `node`) as an analyst and finds no address anywhere, while the same
//! walk as an admin finds them.

use std::collections::HashMap;

use async_graphql::parser::types::TypeKind;
use serde_json::json;

use crate::common::{TestApp, named_type, schema_types};

/// Written into every place a member's address can be; no other text holds it.
const EMAIL: &str = "pii.marker@example.org";
const PAYOUT: &str = "pii.payout@example.org";

struct Field {
    name: String,
    type_name: String,
    /// Takes `first` (a connection or list page): asked for 2.
    pages: bool,
}

/// Object and interface types of the schema with their fields that need no
/// argument, and which object types implement each interface.
struct Schema {
    fields: HashMap<String, Vec<Field>>,
    implementations: HashMap<String, Vec<String>>,
}

impl Schema {
    fn read() -> Self {
        let mut schema = Schema {
            fields: HashMap::new(),
            implementations: HashMap::new(),
        };
        for definition in schema_types() {
            let type_name = definition.name.node.to_string();
            let (fields, interfaces) = match definition.kind {
                TypeKind::Object(object) => (object.fields, object.implements),
                TypeKind::Interface(interface) => (interface.fields, interface.implements),
                _ => continue,
            };
            for interface in interfaces {
                schema
                    .implementations
                    .entry(interface.node.to_string())
                    .or_default()
                    .push(type_name.clone());
            }
            let usable = fields
                .into_iter()
                .filter(|field| {
                    field
                        .node
                        .arguments
                        .iter()
                        .all(|a| a.node.ty.node.nullable || a.node.default_value.is_some())
                })
                .map(|field| Field {
                    name: field.node.name.node.to_string(),
                    type_name: named_type(&field.node.ty.node).to_string(),
                    pages: field.node.arguments.iter().any(|a| a.node.name.node == "first"),
                })
                .collect();
            schema.fields.insert(type_name, usable);
        }
        schema
    }

    /// Every field of `type_name` down to `depth` object levels, interfaces
    /// through fragments on each of their types.
    fn selection(&self, type_name: &str, depth: usize) -> String {
        if let Some(types) = self.implementations.get(type_name) {
            return types
                .iter()
                .map(|t| format!("... on {t} {{ {} }}", self.selection(t, depth)))
                .collect::<Vec<_>>()
                .join(" ");
        }
        let Some(fields) = self.fields.get(type_name) else {
            return String::new();
        };
        let mut parts = vec!["__typename".to_string()];
        for field in fields {
            let is_composite = self.fields.contains_key(&field.type_name);
            let arguments = if field.pages { "(first: 2)" } else { "" };
            if !is_composite {
                parts.push(field.name.clone());
            } else if depth > 0 {
                let inner = self.selection(&field.type_name, depth - 1);
                if !inner.is_empty() {
                    parts.push(format!("{}{arguments} {{ {inner} }}", field.name));
                }
            }
        }
        parts.join(" ")
    }
}

/// Every answer to walking the schema from each root field and from `node` on
/// each of `ids`, as `key` sees it.
async fn walk(app: &TestApp, schema: &Schema, key: &str, ids: &[String]) -> Vec<String> {
    let mut answers = Vec::new();
    let mut documents: Vec<String> = schema.fields["Query"]
        .iter()
        .filter(|field| schema.fields.contains_key(&field.type_name))
        .map(|field| {
            let arguments = if field.pages { "(first: 2)" } else { "" };
            format!(
                "{{ {}{arguments} {{ {} }} }}",
                field.name,
                schema.selection(&field.type_name, 3)
            )
        })
        .collect();
    // One document per type a node can be: together they would pass the selection limit.
    for id in ids {
        for node_type in &schema.implementations["Node"] {
            documents.push(format!(
                "{{ node(id: \"{id}\") {{ ... on {node_type} {{ {} }} }} }}",
                schema.selection(node_type, 3)
            ));
        }
    }
    for document in documents {
        let (_, body) = app.graphql(Some(key), &document, json!({})).await;
        let refused = body["errors"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["extensions"]["code"] == "BAD_USER_INPUT" || e["extensions"]["code"] == "INTERNAL");
        assert!(refused.is_none(), "the walk itself must run: {document}\n{body}");
        answers.push(body.to_string());
    }
    answers
}

fn mentions_an_address(text: &str) -> bool {
    text.contains("pii.marker") || text.contains("pii.payout")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_field_shows_an_analyst_a_members_address() {
    let app = TestApp::new().await;
    let shop = crate::tracking::shop(&app).await;
    let admin = &shop.brand.admin;
    let created = app
        .ok(
            admin,
            "mutation($i: CreateMemberInput!) { createMember(input: $i) { member { id } } }",
            json!({ "i": { "name": "Pia", "email": EMAIL, "payoutEmail": PAYOUT } }),
        )
        .await;
    let member_id = created["createMember"]["member"]["id"].as_str().unwrap().to_string();
    let added = app
        .ok(
            admin,
            "mutation($i: AddMembersInput!) { addMembers(input: $i) { memberships { id } } }",
            json!({ "i": { "offerId": shop.link_offer, "memberIds": [member_id] } }),
        )
        .await;
    let membership_id = added["addMembers"]["memberships"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let emailed = app
        .ok(
            admin,
            "mutation($i: EmailMembersInput!) { emailMembers(input: $i) { emails { id } } }",
            json!({ "i": { "membershipIds": [membership_id], "template": { "subject": "Hi", "body": "Your link: {{link}}" } } }),
        )
        .await;
    let email_id = emailed["emailMembers"]["emails"][0]["id"].as_str().unwrap().to_string();
    app.ok(
        admin,
        "mutation($i: UpdateMemberInput!) { updateMember(input: $i) { member { id } } }",
        json!({ "i": { "id": member_id, "email": "pii.marker+new@example.org", "payoutEmail": PAYOUT } }),
    )
    .await;
    // An SMTP server's refusal names the address.
    {
        let mut conn = app.db.connect().await;
        let email_number: i64 = email_id.trim_start_matches("email_").parse().unwrap();
        diesel_async::RunQueryDsl::execute(
            diesel::sql_query(format!(
                "INSERT INTO email_attempts (brand_id, outbox_id, attempted_at, succeeded, error) \
                 VALUES ({}, {email_number}, now(), false, '550 5.1.1 <{EMAIL}>: Recipient address rejected')",
                shop.brand.id.0
            )),
            &mut conn,
        )
        .await
        .unwrap();
    }

    let schema = Schema::read();
    let ids = [
        member_id.clone(),
        membership_id.clone(),
        email_id,
        shop.link_offer.clone(),
    ];
    let as_admin = walk(&app, &schema, admin, &ids).await;
    assert!(
        as_admin.iter().any(|a| a.contains(EMAIL)) && as_admin.iter().any(|a| a.contains(PAYOUT)),
        "the walk reaches the addresses for an admin"
    );
    for answer in walk(&app, &schema, &shop.brand.analyst, &ids).await {
        assert!(!mentions_an_address(&answer), "an analyst saw an address: {answer}");
    }

    // Search finds a member by address for admins only.
    let search = "query($s: String) { members(search: $s) { totalCount } }";
    for (key, found) in [(admin, 1), (&shop.brand.analyst, 0)] {
        let data = app.ok(key, search, json!({ "s": "pii.marker" })).await;
        assert_eq!(data["members"]["totalCount"], found);
    }
    let by_name = app.ok(&shop.brand.analyst, search, json!({ "s": "Pia" })).await;
    assert_eq!(by_name["members"]["totalCount"], 1);

    // Exports an analyst can download hold no address either.
    for uri in [
        "/export/offers.csv".to_string(),
        format!("/export/offers/{}/memberships.csv", shop.link_offer),
    ] {
        let (status, _, body) = app.get_as(&shop.brand.analyst, &uri).await;
        assert_eq!(status.as_u16(), 200, "{uri}");
        assert!(!mentions_an_address(&body), "{uri}: {body}");
    }
}

/// The walk reaches into every kind of node, the address fields included.
#[test]
fn the_walk_selects_nested_fields_and_fragments() {
    let selection = Schema::read().selection("Node", 1);
    assert!(selection.contains("... on Member {"), "{selection}");
    assert!(
        selection.contains("... on Email {") && selection.contains(" to "),
        "{selection}"
    );
}
