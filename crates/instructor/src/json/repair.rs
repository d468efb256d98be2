//! What was fixed in a reply, and the schema-aligned part of fixing it: coercions that only the
//! schema makes unambiguous.

use std::fmt;

use serde_json::{Map, Value};

/// A kind of fix made to a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RepairKind {
    /// Prose or other text around the JSON document was skipped.
    TextAroundJson,
    /// A `//`, `/* */` or `#` comment was skipped.
    Comment,
    /// A `,` before a closing bracket was dropped.
    TrailingComma,
    /// A `,` between two members or elements was missing.
    MissingComma,
    /// A string was single-quoted.
    SingleQuotes,
    /// An object key was not quoted.
    UnquotedKey,
    /// Python's `True`, `False` or `None`.
    PythonLiteral,
    /// A raw newline, tab or other control character inside a string.
    ControlCharInString,
    /// An unknown or malformed escape was kept as its character (or U+FFFD).
    InvalidEscape,
    /// The document ended early: unfinished strings and numbers were dropped, containers closed.
    Truncated,
    /// A string holding a number where the schema wants a number (`"20"` → `20`).
    NumberFromString,
    /// An integral float where the schema wants an integer (`20.0` → `20`).
    IntegerFromFloat,
    /// A number or boolean where the schema wants a string (`20` → `"20"`).
    StringFromScalar,
    /// `"true"`/`"false"` where the schema wants a boolean.
    BoolFromString,
    /// An enum value in the wrong letter case.
    EnumCase,
}

impl RepairKind {
    /// A short description.
    pub fn describe(self) -> &'static str {
        match self {
            RepairKind::TextAroundJson => "skipped text around the JSON",
            RepairKind::Comment => "skipped a comment",
            RepairKind::TrailingComma => "dropped a trailing comma",
            RepairKind::MissingComma => "inserted a missing comma",
            RepairKind::SingleQuotes => "read a single-quoted string",
            RepairKind::UnquotedKey => "read an unquoted key",
            RepairKind::PythonLiteral => "read a Python literal (True/False/None)",
            RepairKind::ControlCharInString => "kept a raw control character in a string",
            RepairKind::InvalidEscape => "kept an invalid escape",
            RepairKind::Truncated => "closed a truncated document",
            RepairKind::NumberFromString => "turned a string into a number",
            RepairKind::IntegerFromFloat => "turned an integral float into an integer",
            RepairKind::StringFromScalar => "turned a number or boolean into a string",
            RepairKind::BoolFromString => "turned a string into a boolean",
            RepairKind::EnumCase => "fixed the letter case of an enum value",
        }
    }
}

/// One kind of fix, where it was first made, and how many times.
///
/// ```
/// let parsed = instructor::json::parse_lenient("{'a': 1, 'b': 2}").unwrap();
/// assert_eq!(parsed.repairs[0].to_string(), "read a single-quoted string (2 times, first at byte 1)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repair {
    /// What was fixed.
    pub kind: RepairKind,
    /// Where it was first fixed: `byte N` in the reply, or the JSON path for schema coercions.
    pub at: String,
    /// How many times.
    pub count: usize,
}

impl fmt::Display for Repair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.describe())?;
        match self.count {
            1 => write!(f, " (at {})", self.at),
            n => write!(f, " ({n} times, first at {})", self.at),
        }
    }
}

/// Repairs grouped by kind, in the order first seen; bounded however often a fix repeats.
#[derive(Debug, Default, Clone)]
pub(crate) struct Repairs(Vec<Repair>);

impl Repairs {
    pub(crate) fn add(&mut self, kind: RepairKind, offset: usize) {
        self.add_at(kind, || format!("byte {offset}"));
    }

    fn add_at(&mut self, kind: RepairKind, at: impl FnOnce() -> String) {
        match self.0.iter_mut().find(|r| r.kind == kind) {
            Some(r) => r.count += 1,
            None => self.0.push(Repair { kind, at: at(), count: 1 }),
        }
    }

    pub(crate) fn to_vec(&self) -> Vec<Repair> {
        self.0.clone()
    }
}

/// Coerces scalars in `value` to the types `schema` asks for, where that is unambiguous:
/// `"20"` → `20` for an integer or number, `20` or `true` → `"20"`/`"true"` for a string,
/// `"true"` → `true` for a boolean, and enum strings to the listed letter case. `$ref`s into
/// `$defs`/`definitions` are followed; `anyOf`/`oneOf` are left alone when the value already fits
/// one branch. Returns the coercions made.
///
/// ```
/// use serde_json::json;
/// let schema = json!({"type": "object", "properties": {"age": {"type": "integer"}, "zip": {"type": "string"}}});
/// let mut value = json!({"age": "20", "zip": 12345});
/// let repairs = instructor::json::align_to_schema(&mut value, &schema);
/// assert_eq!(value, json!({"age": 20, "zip": "12345"}));
/// assert_eq!(repairs.len(), 2);
/// ```
pub fn align_to_schema(value: &mut Value, schema: &Value) -> Vec<Repair> {
    let mut repairs = Repairs::default();
    let mut path = String::new();
    align(value, schema, schema, &mut path, &mut repairs, 0);
    repairs.0
}

/// As [`align_to_schema`] for a part of a document: `schema` is a subschema of `root`, against
/// which its `$ref`s resolve.
pub(crate) fn align_within(value: &mut Value, schema: &Value, root: &Value) -> Vec<Repair> {
    let mut repairs = Repairs::default();
    let mut path = String::new();
    align(value, schema, root, &mut path, &mut repairs, 0);
    repairs.0
}

/// `schema[key]`. A schema object has a handful of keywords, and the map hashes every key it
/// looks up (SipHash, for the insertion order `preserve_order` keeps): comparing a few keys is
/// cheaper. A large object (a long `properties`) is looked up through its index.
fn lookup<'s>(schema: &'s Value, key: &str) -> Option<&'s Value> {
    let object = schema.as_object()?;
    if object.len() > 8 {
        return object.get(key);
    }
    object.iter().find_map(|(k, v)| (k == key).then_some(v))
}

fn resolve<'s>(schema: &'s Value, root: &'s Value) -> &'s Value {
    let mut schema = schema;
    // A bounded walk: a `$ref` cycle cannot loop.
    for _ in 0..16 {
        let Some(reference) = lookup(schema, "$ref").and_then(Value::as_str) else { break };
        let Some(pointer) = reference.strip_prefix('#') else { break };
        match root.pointer(pointer) {
            Some(target) => schema = target,
            None => break,
        }
    }
    schema
}

/// The types a schema names (`"type": "x"` or `"type": [...]`), without allocating.
fn types(schema: &Value) -> impl Iterator<Item = &str> + Clone {
    let (one, many) = match lookup(schema, "type") {
        Some(Value::String(t)) => (Some(t.as_str()), &[][..]),
        Some(Value::Array(ts)) => (None, ts.as_slice()),
        _ => (None, &[][..]),
    };
    one.into_iter().chain(many.iter().filter_map(Value::as_str))
}

fn fits(value: &Value, ty: &str) -> bool {
    match (ty, value) {
        ("string", Value::String(_)) | ("boolean", Value::Bool(_)) | ("null", Value::Null) => true,
        ("object", Value::Object(_)) | ("array", Value::Array(_)) | ("number", Value::Number(_)) => true,
        ("integer", Value::Number(n)) => n.is_i64() || n.is_u64(),
        _ => false,
    }
}

fn align(value: &mut Value, schema: &Value, root: &Value, path: &mut String, repairs: &mut Repairs, depth: usize) {
    if depth > 64 {
        return;
    }
    let schema = resolve(schema, root);
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(branches)) = lookup(schema, key) {
            let resolved: Vec<&Value> = branches.iter().map(|b| resolve(b, root)).collect();
            let fitting = resolved.iter().find(|b| types(b).any(|t| fits(value, t)));
            match fitting {
                Some(branch) => align(value, branch, root, path, repairs, depth + 1),
                None => {
                    // Nothing fits as is: the first branch a coercion makes fit.
                    for branch in resolved {
                        let mut candidate = value.clone();
                        let mut trial = Repairs::default();
                        align(&mut candidate, branch, root, path, &mut trial, depth + 1);
                        if types(branch).any(|t| fits(&candidate, t)) {
                            *value = candidate;
                            for r in trial.0 {
                                repairs.add_at(r.kind, || r.at.clone());
                            }
                            break;
                        }
                    }
                }
            }
            return;
        }
    }
    if let Some(Value::Array(all)) = lookup(schema, "allOf") {
        for branch in all {
            align(value, branch, root, path, repairs, depth + 1);
        }
    }
    let types = types(schema);
    if types.clone().next().is_some() && !types.clone().any(|t| fits(value, t)) {
        coerce_scalar(value, types, path, repairs);
    }
    if let (Some(Value::Array(options)), Value::String(s)) = (lookup(schema, "enum"), &*value) {
        let exact = options.iter().any(|o| o.as_str() == Some(s));
        let folded: Vec<&str> =
            options.iter().filter_map(Value::as_str).filter(|o| o.eq_ignore_ascii_case(s)).collect();
        if !exact && folded.len() == 1 {
            *value = Value::String(folded[0].to_owned());
            repairs.add_at(RepairKind::EnumCase, || display_path(path));
        }
    }
    match value {
        Value::Object(members) => align_members(members, schema, root, path, repairs, depth),
        Value::Array(items) => {
            let Some(item_schema) = lookup(schema, "items").filter(|s| s.is_object()) else { return };
            for (i, item) in items.iter_mut().enumerate() {
                let len = path.len();
                let _ = fmt::Write::write_fmt(path, format_args!("[{i}]"));
                align(item, item_schema, root, path, repairs, depth + 1);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

fn align_members(
    members: &mut Map<String, Value>,
    schema: &Value,
    root: &Value,
    path: &mut String,
    repairs: &mut Repairs,
    depth: usize,
) {
    let properties = lookup(schema, "properties");
    let additional = lookup(schema, "additionalProperties").filter(|s| s.is_object());
    for (key, member) in members.iter_mut() {
        let Some(member_schema) = properties.and_then(|p| lookup(p, key)).or(additional) else { continue };
        let len = path.len();
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
        align(member, member_schema, root, path, repairs, depth + 1);
        path.truncate(len);
    }
}

fn coerce_scalar<'s>(
    value: &mut Value,
    types: impl Iterator<Item = &'s str> + Clone,
    path: &str,
    repairs: &mut Repairs,
) {
    let wants = |wanted: &str| types.clone().any(|t| t == wanted);
    let replacement = match &*value {
        Value::String(s) if wants("integer") || wants("number") => {
            let s = s.trim();
            let integer = s.parse::<i64>().ok().map(Value::from).or_else(|| s.parse::<u64>().ok().map(Value::from));
            let number = || s.parse::<f64>().ok().filter(|f| f.is_finite()).and_then(serde_json::Number::from_f64);
            match integer {
                Some(n) => Some((n, RepairKind::NumberFromString)),
                // `"20.0"` for an integer is still 20; `"20.5"` is not an integer and stays a string.
                None => number()
                    .filter(|n| wants("number") || n.as_f64().is_some_and(|f| f.fract() == 0.0 && f.abs() < 9.0e15))
                    .map(|n| {
                        let v = if wants("number") {
                            Value::Number(n)
                        } else {
                            Value::from(n.as_f64().unwrap_or_default() as i64)
                        };
                        (v, RepairKind::NumberFromString)
                    }),
            }
        }
        Value::String(s) if wants("boolean") => match s.trim().to_ascii_lowercase().as_str() {
            "true" => Some((Value::Bool(true), RepairKind::BoolFromString)),
            "false" => Some((Value::Bool(false), RepairKind::BoolFromString)),
            _ => None,
        },
        Value::Number(n) if wants("string") => Some((Value::String(n.to_string()), RepairKind::StringFromScalar)),
        Value::Bool(b) if wants("string") => Some((Value::String(b.to_string()), RepairKind::StringFromScalar)),
        // An integral float for an integer field: `20.0` → `20`.
        Value::Number(n) if wants("integer") => n
            .as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
            .map(|f| (Value::from(f as i64), RepairKind::IntegerFromFloat)),
        _ => None,
    };
    if let Some((v, kind)) = replacement {
        *value = v;
        repairs.add_at(kind, || display_path(path));
    }
}

fn display_path(path: &str) -> String {
    if path.is_empty() { "the root".to_owned() } else { path.to_owned() }
}
