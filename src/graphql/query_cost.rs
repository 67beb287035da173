//! What a GraphQL document may cost, measured before anything runs.
//!
//! One pass over the parsed document counts its selections after fragment
//! expansion, its aliases and root fields, its depth and its cost. Each fragment
//! is measured once and reused (memoized), so a chain of fragments that each
//! spread the next twice costs what it would expand to, in time proportional to
//! the document's text. The same cost model measures the response afterwards
//! (`actual_cost`), with the lists as long as they really were.
//!
//! Costs, in the spirit of Shopify's and GitHub's: a scalar costs 0, an object 1,
//! a list `n` times its element (`first` for a connection's `edges` and `nodes`,
//! the number of buckets for `kpiSeries`, 10 for other lists), a root mutation
//! field 10, a `kpis` with a date range 1 plus a month of rollups read per 31 days
//! (once per field in the document: the figures of a page load in one batch),
//! and `__schema` / `__type` 10.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;

use async_graphql::parser::types::{
    BaseType, DocumentOperations, ExecutableDocument, Field, OperationDefinition, OperationType, Selection,
    SelectionSet, TypeKind, TypeSystemDefinition,
};
use async_graphql::{Name, Value, Variables};
use chrono::{NaiveDate, Utc};
use serde::Serialize;

use crate::domain::date_range::{ALL_TIME_START, MAX_CUSTOM_DAYS};

/// Page size of a connection when `first` is not given, and the largest allowed.
const DEFAULT_PAGE: u64 = 20;
const MAX_PAGE: u64 = 100;
/// What a plain list (not a connection) is assumed to hold before it is read.
const LIST_ESTIMATE: u64 = 10;
const MUTATION_COST: u64 = 10;
const INTROSPECTION_COST: u64 = 10;
/// Introspection list fields that multiply each other when nested (graphql-js's
/// `MaxIntrospectionDepthRule` counts the same four).
const INTROSPECTION_LISTS: [&str; 4] = ["fields", "interfaces", "possibleTypes", "inputFields"];

/// The limits a document must stay within.
#[derive(Clone, Copy, Debug)]
pub struct QueryLimits {
    /// Bytes of query text.
    pub max_query_bytes: usize,
    /// Fields after fragment expansion, introspection included.
    pub max_selections: u64,
    /// Aliased fields after fragment expansion.
    pub max_aliases: u64,
    /// Fields of the operation's root selection set after fragment expansion.
    pub max_root_fields: u64,
    /// Nesting of fields, not counting introspection.
    pub max_depth: u64,
    /// Nesting of introspection's list fields (`fields`, `interfaces`, …).
    pub max_introspection_lists: u64,
    /// The largest cost one document may request.
    pub max_cost: u64,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits {
            max_query_bytes: 32 * 1024,
            max_selections: 2_000,
            max_aliases: 150,
            max_root_fields: 150,
            max_depth: 12,
            max_introspection_lists: 2,
            max_cost: 10_000,
        }
    }
}

/// Why a document was refused; each says which limit and by how much.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TooCostly {
    #[error("the query is {0} bytes; the limit is {1}")]
    TooLarge(usize, usize),
    #[error("the query selects {0} fields once its fragments are expanded; the limit is {1}")]
    TooManySelections(u64, u64),
    #[error("the query has {0} aliased fields; the limit is {1}")]
    TooManyAliases(u64, u64),
    #[error("the query asks for {0} root fields; the limit is {1}")]
    TooManyRootFields(u64, u64),
    #[error("the query is nested {0} fields deep; the limit is {1}")]
    TooDeep(u64, u64),
    #[error("introspection nests {0} list fields (fields, interfaces, possibleTypes, inputFields); the limit is {1}")]
    IntrospectionTooDeep(u64, u64),
    #[error("the query costs {0} points; the limit is {1} (see extensions.cost)")]
    TooCostly(u64, u64),
    #[error("fragment {0} spreads itself")]
    FragmentCycle(String),
}

/// Builds the refusal for a figure over its limit.
type Refusal = fn(u64, u64) -> TooCostly;

/// What a document measured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Measure {
    pub selections: u64,
    pub aliases: u64,
    pub root_fields: u64,
    pub depth: u64,
    pub introspection_lists: u64,
    pub cost: u64,
}

/// A return type as the cost model sees it.
#[derive(Clone, Debug)]
struct FieldType {
    /// The named type inside any list and non-null wrappers.
    name: String,
    is_list: bool,
    has_date_range: bool,
}

/// Field types of the schema's object and interface types, read from its SDL.
#[derive(Debug, Default)]
pub struct CostModel {
    fields: HashMap<(String, String), FieldType>,
    composite: HashSet<String>,
}

impl CostModel {
    pub fn from_sdl(sdl: &str) -> Self {
        let mut model = CostModel::default();
        let Ok(document) = async_graphql::parser::parse_schema(sdl) else {
            return model;
        };
        for definition in document.definitions {
            let TypeSystemDefinition::Type(definition) = definition else {
                continue;
            };
            let type_name = definition.node.name.node.to_string();
            let fields = match definition.node.kind {
                TypeKind::Object(object) => object.fields,
                TypeKind::Interface(interface) => interface.fields,
                TypeKind::Union(_) => Vec::new(),
                _ => continue,
            };
            model.composite.insert(type_name.clone());
            for field in fields {
                let field = field.node;
                let mut ty = &field.ty.node;
                let mut is_list = false;
                while let BaseType::List(inner) = &ty.base {
                    is_list = true;
                    ty = inner;
                }
                let BaseType::Named(name) = &ty.base else { continue };
                let has_date_range = field.arguments.iter().any(|a| a.node.name.node == "dateRange");
                model.fields.insert(
                    (type_name.clone(), field.name.node.to_string()),
                    FieldType {
                        name: name.to_string(),
                        is_list,
                        has_date_range,
                    },
                );
            }
        }
        model
    }

    fn field(&self, parent: &str, name: &str) -> Option<&FieldType> {
        self.fields.get(&(parent.to_string(), name.to_string()))
    }

    fn is_composite(&self, type_name: &str) -> bool {
        self.composite.contains(type_name)
    }
}

fn is_connection(type_name: &str) -> bool {
    type_name.ends_with("Connection")
}

fn is_introspection(type_name: &str) -> bool {
    type_name.starts_with("__")
}

/// Picks the operation a request runs, as execution will.
pub fn operation<'a>(document: &'a ExecutableDocument, name: Option<&str>) -> Option<&'a OperationDefinition> {
    match (&document.operations, name) {
        (DocumentOperations::Single(op), _) => Some(&op.node),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| &op.node),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next().map(|op| &op.node),
        _ => None,
    }
}

/// The schema type an operation's root selection set is on.
fn root_type(operation: &OperationDefinition) -> &'static str {
    match operation.ty {
        OperationType::Query => "Query",
        OperationType::Mutation => "Mutation",
        OperationType::Subscription => "Subscription",
    }
}

/// What an object field costs before its children: a root mutation field 10, any other 1.
fn object_cost(parent: &str, root: &str) -> u64 {
    if parent == root && root == "Mutation" {
        MUTATION_COST
    } else {
        1
    }
}

/// Argument values with variables filled in (defaults where not given).
struct Arguments<'a> {
    variables: &'a Variables,
    defaults: HashMap<&'a str, async_graphql::Value>,
}

impl<'a> Arguments<'a> {
    fn new(operation: &'a OperationDefinition, variables: &'a Variables) -> Self {
        let defaults = operation
            .variable_definitions
            .iter()
            .filter_map(|v| {
                let default = v.node.default_value.as_ref()?;
                Some((v.node.name.node.as_str(), default.node.clone()))
            })
            .collect();
        Arguments { variables, defaults }
    }

    fn get(&self, field: &Field, name: &str) -> Option<Value> {
        let (_, value) = field.arguments.iter().find(|(n, _)| n.node == name)?;
        let value = value
            .node
            .clone()
            .into_const_with(|variable| {
                Ok::<_, Infallible>(
                    self.variables
                        .get(&variable)
                        .or_else(|| self.defaults.get(variable.as_str()))
                        .cloned()
                        .unwrap_or(Value::Null),
                )
            })
            .unwrap_or(Value::Null);
        (value != Value::Null).then_some(value)
    }

    fn page_size(&self, field: &Field) -> u64 {
        match self.get(field, "first") {
            Some(Value::Number(n)) => n.as_u64().unwrap_or(0).min(MAX_PAGE),
            _ => DEFAULT_PAGE,
        }
    }

    /// Days a `dateRange` argument covers (the default is six months).
    fn range_days(&self, field: &Field) -> u64 {
        let today = Utc::now().date_naive();
        let Some(Value::Object(range)) = self.get(field, "dateRange") else {
            return 184;
        };
        let date = |key: &str| match range.get(key) {
            Some(Value::String(text)) => NaiveDate::parse_from_str(text, "%Y-%m-%d").ok(),
            _ => None,
        };
        if let (Some(start), Some(end)) = (date("start"), date("end")) {
            let days = (end - start).num_days().clamp(0, MAX_CUSTOM_DAYS) as u64;
            return days + 1;
        }
        match range.get("preset") {
            Some(Value::Enum(preset)) => preset_days(preset.as_str(), today),
            Some(Value::String(preset)) => preset_days(preset, today),
            _ => 184,
        }
    }

    /// How many ids a list field looked up by `ids` (e.g. `nodes`) was given: it
    /// returns one element for each.
    fn ids_given(&self, field: &Field) -> Option<u64> {
        match self.get(field, "ids") {
            Some(Value::List(ids)) => Some(ids.len() as u64),
            _ => None,
        }
    }

    /// Points a series returns: one per bucket of the range.
    fn buckets(&self, field: &Field) -> u64 {
        let width = match self.get(field, "interval") {
            Some(Value::Enum(interval)) if interval == "WEEK" => 7,
            Some(Value::Enum(interval)) if interval == "MONTH" => 30,
            Some(Value::String(interval)) if interval == "WEEK" => 7,
            Some(Value::String(interval)) if interval == "MONTH" => 30,
            _ => 1,
        };
        self.range_days(field).div_ceil(width) + 1
    }
}

fn preset_days(preset: &str, today: NaiveDate) -> u64 {
    match preset {
        "LAST_7_DAYS" => 7,
        "LAST_30_DAYS" | "MONTH_TO_DATE" => 31,
        "LAST_3_MONTHS" | "QUARTER_TO_DATE" => 92,
        "LAST_12_MONTHS" | "YEAR_TO_DATE" => 366,
        "ALL_TIME" => (today - ALL_TIME_START).num_days().max(1) as u64,
        _ => 184,
    }
}

/// The cost of reading a range's KPIs: a month of rollups per 31 days.
fn range_cost(days: u64) -> u64 {
    1 + days.div_ceil(31)
}

/// A selection set's figures; `once` is cost paid once per field in the
/// document however many list elements it sits in (batched KPI reads).
#[derive(Clone, Copy, Debug, Default)]
struct Tally {
    selections: u64,
    aliases: u64,
    /// Fields at this level once fragments are expanded.
    width: u64,
    depth: u64,
    introspection_lists: u64,
    cost: u64,
    /// Cost per element of a connection's `edges` / `nodes`, multiplied by `first`
    /// at the connection field (kept apart so fragments stay reusable).
    paged: u64,
    once: u64,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.selections = self.selections.saturating_add(other.selections);
        self.aliases = self.aliases.saturating_add(other.aliases);
        self.width = self.width.saturating_add(other.width);
        self.depth = self.depth.max(other.depth);
        self.introspection_lists = self.introspection_lists.max(other.introspection_lists);
        self.cost = self.cost.saturating_add(other.cost);
        self.paged = self.paged.saturating_add(other.paged);
        self.once = self.once.saturating_add(other.once);
    }
}

/// Measures what the document's chosen operation would do, refusing it when it
/// is over a limit. Runs in time linear in the document, whatever it expands to.
pub fn measure(
    model: &CostModel,
    limits: &QueryLimits,
    document: &ExecutableDocument,
    operation_name: Option<&str>,
    variables: &Variables,
) -> Result<Measure, (TooCostly, Option<Measure>)> {
    let Some(operation) = operation(document, operation_name) else {
        // Execution reports the missing operation.
        return Ok(Measure::default());
    };
    let root = root_type(operation);
    let mut walker = Walker {
        model,
        document,
        arguments: Arguments::new(operation, variables),
        memo: HashMap::new(),
        visiting: HashSet::new(),
        root,
    };
    let tally = walker
        .selection_set(&operation.selection_set.node, root)
        .map_err(|e| (e, None))?;
    let measure = Measure {
        selections: tally.selections,
        aliases: tally.aliases,
        root_fields: tally.width,
        depth: tally.depth,
        introspection_lists: tally.introspection_lists,
        cost: tally.cost.saturating_add(tally.once),
    };
    let checks: [(u64, u64, Refusal); 6] = [
        (measure.selections, limits.max_selections, TooCostly::TooManySelections),
        (measure.aliases, limits.max_aliases, TooCostly::TooManyAliases),
        (
            measure.root_fields,
            limits.max_root_fields,
            TooCostly::TooManyRootFields,
        ),
        (measure.depth, limits.max_depth, TooCostly::TooDeep),
        (
            measure.introspection_lists,
            limits.max_introspection_lists,
            TooCostly::IntrospectionTooDeep,
        ),
        (measure.cost, limits.max_cost, TooCostly::TooCostly),
    ];
    if let Some((value, limit, reason)) = checks.into_iter().find(|(value, limit, _)| value > limit) {
        return Err((reason(value, limit), Some(measure)));
    }
    Ok(measure)
}

struct Walker<'a> {
    model: &'a CostModel,
    document: &'a ExecutableDocument,
    arguments: Arguments<'a>,
    memo: HashMap<&'a str, Tally>,
    visiting: HashSet<&'a str>,
    root: &'static str,
}

impl<'a> Walker<'a> {
    fn selection_set(&mut self, set: &'a SelectionSet, parent: &str) -> Result<Tally, TooCostly> {
        let mut tally = Tally::default();
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => tally.add(self.field(&field.node, parent)?),
                Selection::InlineFragment(inline) => {
                    let on = inline.node.type_condition.as_ref().map(|c| c.node.on.node.as_str());
                    tally.add(self.selection_set(&inline.node.selection_set.node, on.unwrap_or(parent))?);
                }
                Selection::FragmentSpread(spread) => tally.add(self.fragment(&spread.node.fragment_name.node)?),
            }
        }
        Ok(tally)
    }

    fn fragment(&mut self, name: &'a Name) -> Result<Tally, TooCostly> {
        if let Some(tally) = self.memo.get(name.as_str()) {
            return Ok(*tally);
        }
        // An unknown fragment is the validator's to report.
        let Some(definition) = self.document.fragments.get(name) else {
            return Ok(Tally::default());
        };
        if !self.visiting.insert(name.as_str()) {
            return Err(TooCostly::FragmentCycle(name.to_string()));
        }
        let on = definition.node.type_condition.node.on.node.as_str();
        let tally = self.selection_set(&definition.node.selection_set.node, on)?;
        self.visiting.remove(name.as_str());
        self.memo.insert(name.as_str(), tally);
        Ok(tally)
    }

    fn field(&mut self, field: &'a Field, parent: &str) -> Result<Tally, TooCostly> {
        let name = field.name.node.as_str();
        let mut tally = Tally {
            selections: 1,
            aliases: u64::from(field.alias.is_some()),
            width: 1,
            ..Tally::default()
        };
        if name == "__typename" {
            return Ok(tally);
        }
        if is_introspection(parent) || name == "__schema" || name == "__type" {
            let children = self.selection_set(&field.selection_set.node, "__Introspection")?;
            tally.selections = tally.selections.saturating_add(children.selections);
            tally.aliases = tally.aliases.saturating_add(children.aliases);
            tally.introspection_lists = children.introspection_lists + u64::from(INTROSPECTION_LISTS.contains(&name));
            tally.cost = if is_introspection(parent) {
                0
            } else {
                INTROSPECTION_COST
            };
            return Ok(tally);
        }
        let field_type = self.model.field(parent, name).cloned();
        let Some(field_type) = field_type.filter(|t| self.model.is_composite(&t.name)) else {
            // A scalar or enum (or a field the validator will refuse).
            tally.depth = 1;
            return Ok(tally);
        };
        let children = self.selection_set(&field.selection_set.node, &field_type.name)?;
        tally.selections = tally.selections.saturating_add(children.selections);
        tally.aliases = tally.aliases.saturating_add(children.aliases);
        tally.depth = children.depth + 1;
        tally.introspection_lists = children.introspection_lists;
        let mut each = children.cost;
        if is_connection(&field_type.name) {
            each = each.saturating_add(self.arguments.page_size(field).saturating_mul(children.paged));
        }
        let own = object_cost(parent, self.root);
        if field_type.is_list && is_connection(parent) {
            tally.cost = own;
            tally.paged = each;
        } else {
            let elements = match (field_type.is_list, name) {
                (false, _) => 1,
                (true, "kpiSeries") => self.arguments.buckets(field),
                (true, _) => self.arguments.ids_given(field).unwrap_or(LIST_ESTIMATE),
            };
            tally.cost = own.saturating_add(elements.saturating_mul(each));
        }
        tally.once = children.once;
        // `kpisChanged` reads what `kpis` reads, at each push.
        if field_type.has_date_range && (name == "kpis" || name == "kpisChanged") {
            tally.once = tally.once.saturating_add(range_cost(self.arguments.range_days(field)));
        }
        Ok(tally)
    }
}

/// The cost of what a response really holds: the same model with every list as
/// long as it came back, so a short page costs less than it requested.
pub fn actual_cost(
    model: &CostModel,
    document: &ExecutableDocument,
    operation_name: Option<&str>,
    variables: &Variables,
    data: &Value,
) -> u64 {
    let Some(operation) = operation(document, operation_name) else {
        return 0;
    };
    let root = root_type(operation);
    let mut reader = ResponseReader {
        model,
        document,
        arguments: Arguments::new(operation, variables),
        ranges_read: HashSet::new(),
        root,
    };
    reader.selection_sets(&[&operation.selection_set.node], root, data)
}

struct ResponseReader<'a> {
    model: &'a CostModel,
    document: &'a ExecutableDocument,
    arguments: Arguments<'a>,
    /// `kpis` fields whose range cost is already counted (once per field, as requested).
    ranges_read: HashSet<*const Field>,
    root: &'static str,
}

impl<'a> ResponseReader<'a> {
    /// Fields by response key, merged across the sets and their fragments, as execution
    /// merges them, each with the type it was selected on (a fragment's type condition,
    /// e.g. `... on Offer` under `nodes`, or else the parent's).
    fn collect(
        &self,
        sets: &[&'a SelectionSet],
        on: &str,
        into: &mut Vec<(&'a str, Vec<(&'a Field, String)>)>,
        seen: &mut HashSet<&'a str>,
    ) {
        for set in sets {
            for selection in &set.items {
                match &selection.node {
                    Selection::Field(field) => {
                        let field = &field.node;
                        let key = field.alias.as_ref().unwrap_or(&field.name).node.as_str();
                        let selected = (field, on.to_string());
                        match into.iter_mut().find(|(k, _)| *k == key) {
                            Some((_, fields)) => fields.push(selected),
                            None => into.push((key, vec![selected])),
                        }
                    }
                    Selection::InlineFragment(inline) => {
                        let condition = inline.node.type_condition.as_ref().map(|c| c.node.on.node.as_str());
                        self.collect(&[&inline.node.selection_set.node], condition.unwrap_or(on), into, seen);
                    }
                    Selection::FragmentSpread(spread) => {
                        let name = spread.node.fragment_name.node.as_str();
                        if let Some(fragment) = self.document.fragments.get(name)
                            && seen.insert(name)
                        {
                            let condition = fragment.node.type_condition.node.on.node.as_str();
                            self.collect(&[&fragment.node.selection_set.node], condition, into, seen);
                        }
                    }
                }
            }
        }
    }

    fn selection_sets(&mut self, sets: &[&'a SelectionSet], parent: &str, data: &Value) -> u64 {
        let Value::Object(object) = data else { return 0 };
        let mut fields = Vec::new();
        self.collect(sets, parent, &mut fields, &mut HashSet::new());
        let mut cost = 0u64;
        for (key, group) in fields {
            let Some(value) = object.get(key).filter(|v| **v != Value::Null) else {
                continue;
            };
            let (field, _) = group[0];
            let name = field.name.node.as_str();
            if name == "__schema" || name == "__type" {
                cost = cost.saturating_add(INTROSPECTION_COST);
                continue;
            }
            // The key came back, so a type it was selected on is the object's: the
            // first whose field is an object type prices it.
            let Some(field_type) = group.iter().find_map(|(field, on)| {
                self.model
                    .field(on, field.name.node.as_str())
                    .filter(|t| self.model.is_composite(&t.name))
                    .cloned()
            }) else {
                continue;
            };
            let children: Vec<&SelectionSet> = group.iter().map(|(f, _)| &f.selection_set.node).collect();
            let own = object_cost(parent, self.root);
            let inner = match value {
                Value::List(items) => items.iter().fold(0u64, |sum, item| {
                    sum.saturating_add(self.selection_sets(&children, &field_type.name, item))
                }),
                _ => self.selection_sets(&children, &field_type.name, value),
            };
            cost = cost.saturating_add(own).saturating_add(inner);
            if field_type.has_date_range && name == "kpis" && self.ranges_read.insert(field as *const Field) {
                cost = cost.saturating_add(range_cost(self.arguments.range_days(field)));
            }
        }
        cost
    }
}
