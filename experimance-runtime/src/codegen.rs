//! One contract for both languages: a JSON Schema document of an installation's message types,
//! and a Python module of pydantic models generated from it, so the Python side validates
//! exactly what Rust sends.
//!
//! [`Contract`] collects the schemas: from Rust types (`Contract::with::<T>()`, with the
//! `schemars` feature) or from service descriptions; [`python`] turns a schema document into
//! pydantic models. The `experimance codegen` command does the same from files.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{json, Map, Value};

use crate::description::ServiceDescription;

/// The JSON Schemas of an installation's message types, by wire type.
///
/// ```
/// use experimance_runtime::codegen::{python, Contract};
/// use serde_json::json;
///
/// let contract = Contract::new().with_schema(
///     "ImageReady",
///     json!({"type": "object", "properties": {"uri": {"type": "string"}}, "required": ["uri"]}),
/// );
/// let module = python(&contract.json_schema()).unwrap();
/// assert!(module.contains("class ImageReady(BaseModel):"));
/// assert!(module.contains(r#"type: Literal["ImageReady"] = "ImageReady""#));
/// assert!(module.contains("uri: str"));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Contract {
    /// Each message's schema (with `"type"` as its first, constant property), by wire type.
    messages: BTreeMap<String, Value>,
    /// The definitions the schemas refer to (`#/$defs/...`).
    defs: BTreeMap<String, Value>,
}

impl Contract {
    /// An empty contract.
    pub fn new() -> Self {
        Contract::default()
    }

    /// Adds the message type `T` (a `#[message]` struct that derives `schemars::JsonSchema`).
    #[cfg(feature = "schemars")]
    pub fn with<T: crate::WireType + schemars::JsonSchema>(self) -> Self {
        let schema = serde_json::to_value(schemars::schema_for!(T)).unwrap_or(Value::Null);
        self.with_schema(T::TYPE, schema)
    }

    /// Adds the message whose `"type"` is `wire_type`, described by `schema` (a JSON Schema
    /// of an object, as schemars writes it: its `$defs` are taken into the contract's).
    pub fn with_schema(mut self, wire_type: &str, mut schema: Value) -> Self {
        if let Some(Value::Object(defs)) = schema.as_object_mut().and_then(|s| s.remove("$defs")) {
            self.defs.extend(defs);
        }
        if let Some(object) = schema.as_object_mut() {
            object.remove("$schema");
            object.insert("title".to_owned(), json!(wire_type));
            with_type_property(object, wire_type);
        }
        self.messages.insert(wire_type.to_owned(), schema);
        self
    }

    /// The message types of `descriptions` whose handlers carry a schema and a single wire
    /// type (services built with the `schemars` feature).
    pub fn from_descriptions(descriptions: &[ServiceDescription]) -> Self {
        let mut contract = Contract::new();
        for handler in descriptions.iter().flat_map(|d| &d.handlers) {
            if let (Some(schema), Some([wire_type])) =
                (&handler.schema, handler.wire_types.as_deref())
            {
                contract = contract.with_schema(wire_type, schema.clone());
            }
        }
        contract
    }

    /// The wire types, sorted.
    pub fn wire_types(&self) -> Vec<&str> {
        self.messages.keys().map(String::as_str).collect()
    }

    /// One JSON Schema document: every message and definition under `$defs`, and the root
    /// accepting any one of the messages.
    pub fn json_schema(&self) -> Value {
        let mut defs: Map<String, Value> = self.defs.clone().into_iter().collect();
        for (name, schema) in &self.messages {
            defs.insert(name.clone(), schema.clone());
        }
        let any: Vec<Value> = self
            .messages
            .keys()
            .map(|name| json!({ "$ref": format!("#/$defs/{name}") }))
            .collect();
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "Messages",
            "anyOf": any,
            "$defs": defs,
        })
    }
}

/// `schema` of a message whose `"type"` is `wire_type`, with that property (see below).
pub(crate) fn with_wire_type(mut schema: Value, wire_type: &str) -> Value {
    if let Some(object) = schema.as_object_mut() {
        with_type_property(object, wire_type);
    }
    schema
}

/// Puts `"type": {"const": wire_type}` first among the properties, and makes it required: what
/// `#[message]` writes, which schemars does not see.
fn with_type_property(object: &mut Map<String, Value>, wire_type: &str) {
    let properties = object
        .entry("properties")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .map(std::mem::take)
        .unwrap_or_default();
    let mut ordered = Map::new();
    ordered.insert(
        "type".to_owned(),
        json!({ "type": "string", "const": wire_type, "default": wire_type }),
    );
    ordered.extend(properties.into_iter().filter(|(k, _)| k != "type"));
    object.insert("properties".to_owned(), Value::Object(ordered));
    let required = object.entry("required").or_insert_with(|| json!([]));
    if let Some(list) = required.as_array_mut() {
        if !list.iter().any(|r| r == "type") {
            list.insert(0, json!("type"));
        }
    }
    object.insert("type".to_owned(), json!("object"));
}

/// Why a schema could not be turned into code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot generate code for `{at}`: {message}")]
pub struct CodegenError {
    /// Where in the schema (a definition's name and property).
    pub at: String,
    /// What is not supported.
    pub message: String,
}

/// A Python module of pydantic (v2) models for a JSON Schema document: one class per object
/// definition (a message's `"type"` constant becomes `type: Literal["..."] = "..."`), one
/// `str` enum per string enumeration, and `Messages`, the union of the root's `anyOf`.
pub fn python(schema: &Value) -> Result<String, CodegenError> {
    let mut defs = schema
        .get("$defs")
        .or_else(|| schema.get("definitions"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    // A schema of one model (pydantic's `model_json_schema()`): the root is that model.
    let mut root_model = None;
    if schema.get("properties").is_some() {
        let title = schema
            .get("title")
            .and_then(Value::as_str)
            .unwrap_or("Message")
            .to_owned();
        let mut root = schema.clone();
        if let Some(object) = root.as_object_mut() {
            object.remove("$defs");
            object.remove("definitions");
            object.remove("$schema");
        }
        defs.insert(title.clone(), root);
        root_model = Some(title);
    }
    if defs.is_empty() {
        return Err(CodegenError {
            at: "the schema".to_owned(),
            message: "it defines no type: expected `$defs` (or `definitions`), or the properties of one model".to_owned(),
        });
    }
    let mut out = String::from(
        "\"\"\"Message models generated by `experimance codegen python` from the installation's\n\
         JSON Schema. Do not edit: generate again when the Rust types change.\"\"\"\n\n\
         from __future__ import annotations\n\n\
         from enum import Enum\n\
         from typing import Annotated, Any, Literal, Optional, Union\n\n\
         from pydantic import BaseModel, ConfigDict, Field\n",
    );
    let mut classes = Vec::new();
    let mut aliases = Vec::new();
    for (name, def) in &defs {
        let class = class_name(name);
        if let Some(values) = def.get("enum").and_then(Value::as_array) {
            if values.iter().all(Value::is_string) {
                writeln!(out, "\n\nclass {class}(str, Enum):").ok();
                let mut members: Vec<String> = Vec::new();
                for value in values {
                    let value = value.as_str().unwrap_or_default();
                    let mut member = enum_member(value);
                    // `low-res` and `low_res` would both be LOW_RES.
                    while members.contains(&member) {
                        member.push('_');
                    }
                    writeln!(out, "    {member} = {}", py_str(value)).ok();
                    members.push(member);
                }
                continue;
            }
        }
        if def.get("properties").is_some() || def.get("type") == Some(&json!("object")) {
            classes.push(class.clone());
            writeln!(out, "\n\nclass {class}(BaseModel):").ok();
            writeln!(
                out,
                "    model_config = ConfigDict(populate_by_name=True)\n"
            )
            .ok();
            let required: Vec<&str> = def
                .get("required")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let properties = def
                .get("properties")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            if properties.is_empty() {
                writeln!(out, "    pass").ok();
            }
            // JSON objects here keep no order: `type` first, then the required fields in the
            // order `required` lists them (schemars lists them as declared), then the rest.
            let mut order: Vec<&String> = properties.keys().filter(|k| *k == "type").collect();
            order.extend(
                required
                    .iter()
                    .filter_map(|r| properties.keys().find(|k| k.as_str() == *r && *k != "type")),
            );
            order.extend(
                properties
                    .keys()
                    .filter(|k| *k != "type" && !required.contains(&k.as_str())),
            );
            for field in order {
                let property = &properties[field];
                let at = || format!("{name}.{field}");
                let mut annotation = py_type(property, &at)?;
                let default = match (property.get("const"), property.get("default")) {
                    (Some(c), _) => Some(py_value(c)),
                    (None, Some(d)) => Some(py_value(d)),
                    (None, None) if !required.contains(&field.as_str()) => {
                        if !annotation.starts_with("Optional[") && annotation != "Any" {
                            annotation = format!("Optional[{annotation}]");
                        }
                        Some("None".to_owned())
                    }
                    (None, None) => None,
                };
                let attribute = field_name(field);
                let alias = (attribute != *field).then(|| format!("alias={}", py_str(field)));
                let line = match (default, alias) {
                    (Some(d), None) => format!("{attribute}: {annotation} = {d}"),
                    (None, None) => format!("{attribute}: {annotation}"),
                    (Some(d), Some(a)) => format!("{attribute}: {annotation} = Field({d}, {a})"),
                    (None, Some(a)) => format!("{attribute}: {annotation} = Field(..., {a})"),
                };
                writeln!(out, "    {line}").ok();
            }
            continue;
        }
        aliases.push((class, name, def));
    }
    // Aliases run at import: after every class they may name; names of other aliases are
    // quoted (forward references, resolved when the models are rebuilt).
    let alias_names: Vec<String> = aliases.iter().map(|(class, _, _)| class.clone()).collect();
    for (class, name, def) in &aliases {
        let at = || (*name).clone();
        let mut annotation = py_type(def, &at)?;
        for other in &alias_names {
            annotation = quote_name(&annotation, other);
        }
        writeln!(out, "\n\n{class} = {annotation}").ok();
    }
    let messages: Vec<String> = schema
        .get("anyOf")
        .and_then(Value::as_array)
        .map(|refs| {
            refs.iter()
                .filter_map(|r| r.get("$ref").and_then(Value::as_str))
                .filter_map(|r| r.strip_prefix("#/$defs/"))
                .map(class_name)
                .collect()
        })
        .unwrap_or_default();
    let messages = match root_model {
        Some(model) if messages.is_empty() => vec![class_name(&model)],
        _ => messages,
    };
    match messages.as_slice() {
        [] => {}
        [one] => {
            writeln!(out, "\n\nMessages = {one}").ok();
        }
        many => {
            writeln!(
                out,
                "\n\nMessages = Annotated[Union[{}], Field(discriminator=\"type\")]",
                many.join(", ")
            )
            .ok();
        }
    }
    if !messages.is_empty() {
        writeln!(
            out,
            "\"\"\"Any one message of the installation, told apart by its `type`.\"\"\""
        )
        .ok();
    }
    if !classes.is_empty() {
        writeln!(out).ok();
        for class in &classes {
            writeln!(out, "{class}.model_rebuild()").ok();
        }
    }
    Ok(out)
}

/// The Python annotation of a JSON Schema.
fn py_type(schema: &Value, at: &dyn Fn() -> String) -> Result<String, CodegenError> {
    let unsupported = |what: &str| CodegenError {
        at: at(),
        message: what.to_owned(),
    };
    let Some(object) = schema.as_object() else {
        return match schema {
            Value::Bool(true) => Ok("Any".to_owned()),
            _ => Err(unsupported("a schema that is not an object")),
        };
    };
    if let Some(reference) = object.get("$ref").and_then(Value::as_str) {
        let name = reference
            .strip_prefix("#/$defs/")
            .or_else(|| reference.strip_prefix("#/definitions/"))
            .ok_or_else(|| unsupported("a `$ref` outside `$defs`"))?;
        return Ok(class_name(name));
    }
    if let Some(value) = object.get("const") {
        return Ok(format!("Literal[{}]", py_value(value)));
    }
    if let Some(values) = object.get("enum").and_then(Value::as_array) {
        let values: Vec<String> = values.iter().map(py_value).collect();
        return Ok(format!("Literal[{}]", values.join(", ")));
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(options) = object.get(key).and_then(Value::as_array) {
            let mut types = Vec::new();
            let mut nullable = false;
            for option in options {
                if option.get("type") == Some(&json!("null")) {
                    nullable = true;
                } else {
                    types.push(py_type(option, at)?);
                }
            }
            return Ok(union(&types, nullable));
        }
    }
    if let Some(all) = object.get("allOf").and_then(Value::as_array) {
        if let [one] = all.as_slice() {
            return py_type(one, at);
        }
    }
    let types: Vec<&str> = match object.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        None => return Ok("Any".to_owned()),
        Some(_) => return Err(unsupported("a `type` that is neither a string nor a list")),
    };
    let nullable = types.contains(&"null");
    let mut names = Vec::new();
    for t in types.iter().filter(|t| **t != "null") {
        names.push(match *t {
            "string" => "str".to_owned(),
            "integer" => "int".to_owned(),
            "number" => "float".to_owned(),
            "boolean" => "bool".to_owned(),
            "array" => {
                if let Some(items) = object.get("prefixItems").and_then(Value::as_array) {
                    let items: Result<Vec<String>, _> =
                        items.iter().map(|i| py_type(i, at)).collect();
                    format!("tuple[{}]", items?.join(", "))
                } else {
                    match object.get("items") {
                        Some(items) => format!("list[{}]", py_type(items, at)?),
                        None => "list[Any]".to_owned(),
                    }
                }
            }
            "object" => match object.get("additionalProperties") {
                Some(Value::Object(_)) => format!(
                    "dict[str, {}]",
                    py_type(&object["additionalProperties"], at)?
                ),
                _ => "dict[str, Any]".to_owned(),
            },
            other => return Err(unsupported(&format!("the type `{other}`"))),
        });
    }
    Ok(union(&names, nullable))
}

/// The annotation of a value of one of `types`, or of none (`null`) when `nullable`.
fn union(types: &[String], nullable: bool) -> String {
    let inner = match types {
        [] => return "None".to_owned(),
        [one] => one.clone(),
        many => format!("Union[{}]", many.join(", ")),
    };
    if nullable {
        format!("Optional[{inner}]")
    } else {
        inner
    }
}

/// A JSON value as a Python literal.
fn py_value(value: &Value) -> String {
    match value {
        Value::Null => "None".to_owned(),
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => py_str(s),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(py_value).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(map) => {
            let items: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", py_str(k), py_value(v)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
    }
}

/// A Python string literal (JSON's escapes are Python's too).
fn py_str(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}

/// A Python identifier for `name`: non-identifier characters become `_`, and a keyword or a
/// leading digit gets a trailing or leading `_` (the field keeps its name as an alias).
fn python_name(name: &str) -> String {
    const KEYWORDS: [&str; 35] = [
        "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class",
        "continue", "def", "del", "elif", "else", "except", "finally", "for", "from", "global",
        "if", "import", "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return",
        "try", "while", "with", "yield",
    ];
    let mut ident: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if ident.is_empty() || ident.starts_with(|c: char| c.is_ascii_digit()) {
        ident.insert(0, '_');
    }
    if KEYWORDS.contains(&ident.as_str()) || ident.starts_with("model_") {
        ident.push('_');
    }
    ident
}

/// `annotation` with the whole word `name` quoted (`Union[Media, int]` → `Union["Media", int]`).
fn quote_name(annotation: &str, name: &str) -> String {
    let mut out = String::with_capacity(annotation.len());
    let mut rest = annotation;
    while let Some(at) = rest.find(name) {
        let before = rest[..at].chars().next_back();
        let after = rest[at + name.len()..].chars().next();
        let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '"');
        out.push_str(&rest[..at]);
        if word(before) || word(after) {
            out.push_str(name);
        } else {
            out.push('"');
            out.push_str(name);
            out.push('"');
        }
        rest = &rest[at + name.len()..];
    }
    out.push_str(rest);
    out
}

/// A class (or alias) name for the definition `name`: a Python identifier that shadows
/// none of the names the module imports or defines.
fn class_name(name: &str) -> String {
    const TAKEN: [&str; 11] = [
        "Annotated",
        "Any",
        "Literal",
        "Optional",
        "Union",
        "Enum",
        "BaseModel",
        "ConfigDict",
        "Field",
        "Messages",
        "annotations",
    ];
    let mut ident = python_name(name);
    if TAKEN.contains(&ident.as_str()) {
        ident.push('_');
    }
    ident
}

/// A field's attribute name: a Python identifier pydantic keeps as a field (not one with a
/// leading underscore, which would be private); the JSON name stays as an alias.
fn field_name(name: &str) -> String {
    let ident = python_name(name);
    if ident.starts_with('_') {
        format!("field{ident}")
    } else {
        ident
    }
}

/// An enum member's name: the value upper-cased, as a Python identifier.
fn enum_member(value: &str) -> String {
    let name = python_name(&value.to_uppercase());
    if name.chars().all(|c| c == '_') {
        format!("V{name}")
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_python_identifiers() {
        assert_eq!(python_name("loop"), "loop");
        assert_eq!(python_name("from"), "from_");
        assert_eq!(python_name("x-y"), "x_y");
        assert_eq!(python_name("3d"), "_3d");
        assert_eq!(python_name("model_id"), "model_id_");
        assert_eq!(enum_member("pre_industrial"), "PRE_INDUSTRIAL");
        assert_eq!(field_name("_id"), "field_id");
        assert_eq!(field_name("3d"), "field_3d");
        assert_eq!(class_name("Field"), "Field_");
        assert_eq!(
            quote_name("Union[Media, list[Media2]]", "Media"),
            r#"Union["Media", list[Media2]]"#
        );
    }

    #[test]
    fn types_and_defaults_follow_the_schema() {
        let schema = Contract::new()
            .with_schema(
                "DisplayMedia",
                json!({
                    "type": "object",
                    "properties": {
                        "size": {"anyOf": [
                            {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "integer"}]},
                            {"type": "string"}
                        ]},
                        "width": {"type": ["integer", "null"], "default": 1024},
                        "from": {"type": "string"},
                        "era": {"$ref": "#/$defs/Era"},
                        "tags": {"type": "array", "items": {"type": "string"}},
                        "fade": {"type": "number"}
                    },
                    "required": ["size", "from", "era", "tags"],
                    "$defs": {"Era": {"type": "string", "enum": ["wilderness", "pre_industrial"]}}
                }),
            )
            .json_schema();
        let module = python(&schema).unwrap();
        for line in [
            "class Era(str, Enum):",
            r#"    PRE_INDUSTRIAL = "pre_industrial""#,
            "class DisplayMedia(BaseModel):",
            r#"    type: Literal["DisplayMedia"] = "DisplayMedia""#,
            "    size: Union[tuple[int, int], str]",
            "    width: Optional[int] = 1024",
            r#"    from_: str = Field(..., alias="from")"#,
            "    era: Era",
            "    tags: list[str]",
            "    fade: Optional[float] = None",
            "Messages = DisplayMedia",
            "DisplayMedia.model_rebuild()",
        ] {
            assert!(
                module.lines().any(|l| l == line),
                "{line:?} missing from:\n{module}"
            );
        }
        // `type` comes first.
        let class = &module[module.find("class DisplayMedia").unwrap()..];
        let first_field = class.lines().nth(3).unwrap();
        assert!(first_field.starts_with("    type:"), "{class}");
    }
}
