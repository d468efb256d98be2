//! What the model is asked to produce: a JSON Schema, derived once per Rust type (or given at
//! run time), and the per-mode request fragments rendered from it once and then shared.

use std::any::TypeId;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock, RwLock};

use schemars::JsonSchema;
use serde_json::{Map, Value, json};

use crate::error::Error;
use crate::modes::{Mode, Shape};

/// The field a non-object target (a `String`, a `bool`, a `Vec<T>`) is wrapped in, because tool
/// parameters and most structured-output dialects must be objects.
pub(crate) const WRAPPER_FIELD: &str = "value";

/// A response schema: the JSON Schema the reply must satisfy, plus everything derived from it.
///
/// For a Rust type it is derived once by [`ResponseSchema::of`] and cached for the life of the
/// process. For a schema known only at run time (a `--schema FILE`), build one with
/// `ResponseSchema::from_json` (feature `dynamic`) and reuse it.
///
/// ```
/// use instructor::ResponseSchema;
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// struct UserDetails { name: String, age: u32 }
///
/// let schema = ResponseSchema::of::<UserDetails>();
/// assert_eq!(schema.name(), "UserDetails");
/// assert!(std::sync::Arc::ptr_eq(&schema, &ResponseSchema::of::<UserDetails>()));
/// ```
pub struct ResponseSchema {
    name: String,
    description: String,
    /// The object schema sent to the model (wrapped when the target is not an object).
    schema: Value,
    wrapped: bool,
    /// Set when the target is an array: the tools `ParallelTools` offers, one per item type.
    parallel: Option<ParallelTools>,
    shapes: [OnceLock<Result<Shape, String>>; Mode::COUNT],
    #[cfg(feature = "dynamic")]
    validator: Option<jsonschema::Validator>,
}

/// The tools for an array target: one per item type.
#[derive(Debug, Clone)]
pub(crate) struct ParallelTools {
    pub tools: Vec<ToolSpec>,
    /// The items are an externally tagged enum: a call to tool `N` with arguments `A` is the item `{"N": A}`.
    pub tagged: bool,
}

/// One function tool.
#[derive(Debug, Clone)]
pub(crate) struct ToolSpec {
    pub name: String,
    pub description: String,
    pub parameters: Value,
}

impl fmt::Debug for ResponseSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseSchema")
            .field("name", &self.name)
            .field("wrapped", &self.wrapped)
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

type Cache = RwLock<HashMap<TypeId, Arc<ResponseSchema>>>;

impl ResponseSchema {
    /// The schema of `T`, derived on first use and cached: later calls cost one map look-up.
    pub fn of<T: JsonSchema + 'static>() -> Arc<ResponseSchema> {
        static CACHE: OnceLock<Cache> = OnceLock::new();
        let cache = CACHE.get_or_init(Default::default);
        let id = TypeId::of::<T>();
        if let Some(found) = cache.read().unwrap_or_else(|e| e.into_inner()).get(&id) {
            return Arc::clone(found);
        }
        let schema = Arc::new(Self::build(schemars::schema_for!(T).to_value()));
        let mut map = cache.write().unwrap_or_else(|e| e.into_inner());
        Arc::clone(map.entry(id).or_insert(schema))
    }

    /// A schema known only at run time. It must be a valid JSON Schema; it is compiled once and
    /// every reply is validated against it.
    ///
    /// ```
    /// # #[cfg(feature = "dynamic")] {
    /// let schema = instructor::ResponseSchema::from_json(serde_json::json!({
    ///     "title": "UserDetails", "type": "object",
    ///     "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    ///     "required": ["name", "age"]
    /// })).unwrap();
    /// assert_eq!(schema.name(), "UserDetails");
    /// assert!(instructor::ResponseSchema::from_json(serde_json::json!({"type": 12})).is_err());
    /// # }
    /// ```
    #[cfg(feature = "dynamic")]
    pub fn from_json(schema: Value) -> Result<ResponseSchema, Error> {
        if !schema.is_object() && !schema.is_boolean() {
            return Err(Error::schema("a JSON Schema must be an object"));
        }
        if let Err(e) = jsonschema::meta::validate(&schema) {
            return Err(Error::schema(format!("not a valid JSON Schema: {e}")));
        }
        let validator =
            jsonschema::validator_for(&schema).map_err(|e| Error::schema(format!("not a valid JSON Schema: {e}")))?;
        let mut built = Self::build(schema);
        built.validator = Some(validator);
        Ok(built)
    }

    /// A schema for a list of `self`'s values (for streaming them one by one): `self`'s schema
    /// as the items of an array, its `$defs` moved to the root so that references still resolve.
    ///
    /// ```
    /// let item = instructor::ResponseSchema::from_json(serde_json::json!({"type": "integer"})).unwrap();
    /// let list = item.list_of().unwrap();
    /// assert!(list.is_wrapped());
    /// ```
    #[cfg(feature = "dynamic")]
    pub fn list_of(&self) -> Result<ResponseSchema, Error> {
        let mut item = self.original_item();
        let mut root = serde_json::Map::new();
        root.insert("type".into(), json!("array"));
        if let Some(obj) = item.as_object_mut() {
            for defs in ["$defs", "definitions"] {
                if let Some(d) = obj.remove(defs) {
                    root.insert(defs.into(), d);
                }
            }
        }
        root.insert("items".into(), item);
        ResponseSchema::from_json(Value::Object(root))
    }

    /// The caller's schema, without the `{"value": ...}` wrapper.
    #[cfg(feature = "dynamic")]
    fn original_item(&self) -> Value {
        if !self.wrapped {
            return self.schema.clone();
        }
        let mut inner = self.schema.pointer(&format!("/properties/{WRAPPER_FIELD}")).cloned().unwrap_or(json!({}));
        if let (Some(obj), Some(root)) = (inner.as_object_mut(), self.schema.as_object()) {
            for defs in ["$defs", "definitions"] {
                if let Some(d) = root.get(defs) {
                    obj.insert(defs.into(), d.clone());
                }
            }
        }
        inner
    }

    fn build(mut schema: Value) -> ResponseSchema {
        if let Some(obj) = schema.as_object_mut() {
            obj.remove("$schema");
        }
        let title = schema.get("title").and_then(Value::as_str).unwrap_or("Response");
        let name = function_name(title);
        let description = schema.get("description").and_then(Value::as_str).map(str::to_owned).unwrap_or_else(|| {
            format!("Correctly extracted `{name}` with all the required parameters with correct types")
        });
        let parallel = parallel_tools(&schema);
        let wrapped = !is_object_schema(&schema);
        let schema = if wrapped { wrap(schema, &name) } else { schema };
        ResponseSchema {
            name,
            description,
            schema,
            wrapped,
            parallel,
            shapes: Default::default(),
            #[cfg(feature = "dynamic")]
            validator: None,
        }
    }

    /// The name used for the tool and the `json_schema` entry: the schema's title, cleaned to
    /// OpenAI's `^[a-zA-Z0-9_-]{1,64}$`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The description sent with the tool.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The object schema sent to the model. Non-object targets are wrapped as `{"value": ...}`.
    pub fn json(&self) -> &Value {
        &self.schema
    }

    /// Whether the target sits under a `"value"` field in the model's reply.
    pub fn is_wrapped(&self) -> bool {
        self.wrapped
    }

    pub(crate) fn parallel(&self) -> Option<&ParallelTools> {
        self.parallel.as_ref()
    }

    /// The request fragments for `mode`, rendered on first use.
    pub(crate) fn shape(&self, mode: Mode) -> Result<&Shape, Error> {
        self.shapes[mode.index()].get_or_init(|| mode.render(self)).as_ref().map_err(|e| Error::request(e.clone()))
    }

    /// Checks a reply against a run-time schema (no-op for schemas derived from a Rust type,
    /// where deserialisation is the check).
    #[cfg(feature = "dynamic")]
    pub(crate) fn check(&self, value: &Value) -> Result<(), crate::ReplyError> {
        let Some(validator) = &self.validator else { return Ok(()) };
        let mut errors = validator.iter_errors(value);
        match errors.next() {
            None => Ok(()),
            Some(first) => {
                let path = first.instance_path().to_string();
                let path = path.trim_start_matches('/').replace('/', ".");
                let more = errors.count();
                let mut message = first.to_string();
                if more > 0 {
                    message.push_str(&format!(" (and {more} more error{})", if more == 1 { "" } else { "s" }));
                }
                Err(crate::ReplyError::validation(if path.is_empty() { None } else { Some(path) }, message))
            }
        }
    }
}

/// Cleans a title into a function name: `Array_of_UserDetails`, `Option_String`, ...
fn function_name(title: &str) -> String {
    let mut name: String = title
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' })
        .take(64)
        .collect();
    if name.is_empty() {
        name.push_str("Response");
    }
    name
}

fn is_object_schema(schema: &Value) -> bool {
    match schema.get("type") {
        Some(Value::String(t)) => t == "object",
        Some(_) => false,
        // An untyped schema with properties is an object in practice.
        None => schema.get("properties").is_some(),
    }
}

/// `{"type":"object","properties":{"value": S},"required":["value"]}`, with `S`'s `$defs` hoisted
/// to the root so that its `#/$defs/...` references still resolve.
fn wrap(mut inner: Value, name: &str) -> Value {
    let defs = inner.as_object_mut().and_then(|o| o.remove("$defs"));
    if let Some(o) = inner.as_object_mut() {
        o.remove("title");
    }
    let mut wrapper = json!({
        "title": name,
        "type": "object",
        "properties": { WRAPPER_FIELD: inner },
        "required": [WRAPPER_FIELD],
    });
    if let (Some(defs), Some(o)) = (defs, wrapper.as_object_mut()) {
        o.insert("$defs".to_owned(), defs);
    }
    wrapper
}

/// Resolves a local `#/$defs/Name` reference against the root schema.
fn resolve<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => r
            .strip_prefix("#/$defs/")
            .or_else(|| r.strip_prefix("#/definitions/"))
            .and_then(|name| root.get("$defs").or_else(|| root.get("definitions")).and_then(|d| d.get(name)))
            .unwrap_or(schema),
        None => schema,
    }
}

/// For an array target: a tool per item type. An externally tagged enum (`oneOf` of
/// single-property objects) gives one tool per variant; anything else gives one tool.
fn parallel_tools(root: &Value) -> Option<ParallelTools> {
    if root.get("type").and_then(Value::as_str) != Some("array") {
        return None;
    }
    let item_ref = root.get("items")?;
    let items = resolve(root, item_ref);
    let with_defs = |mut params: Value| {
        if let (Some(defs), Some(o)) = (root.get("$defs"), params.as_object_mut()) {
            o.entry("$defs").or_insert_with(|| defs.clone());
        }
        params
    };
    let variants = items.get("oneOf").or_else(|| items.get("anyOf")).and_then(Value::as_array);
    if let Some(variants) = variants {
        let tagged: Option<Vec<ToolSpec>> = variants
            .iter()
            .map(|v| {
                let v = resolve(root, v);
                let props = v.get("properties")?.as_object()?;
                if props.len() != 1 {
                    return None;
                }
                let (tag, params) = props.iter().next()?;
                let params = resolve(root, params).clone();
                is_object_schema(&params).then(|| ToolSpec {
                    name: function_name(tag),
                    description: params
                        .get("description")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                        .unwrap_or_else(|| format!("Call `{tag}` with correctly extracted arguments")),
                    parameters: with_defs(params),
                })
            })
            .collect();
        if let Some(tools) = tagged {
            return Some(ParallelTools { tools, tagged: true });
        }
    }
    let title = items
        .get("title")
        .and_then(Value::as_str)
        .or_else(|| item_ref.get("$ref").and_then(Value::as_str).and_then(|r| r.rsplit('/').next()))
        .unwrap_or("Item");
    let name = function_name(title);
    let parameters = if is_object_schema(items) { items.clone() } else { wrap(items.clone(), &name) };
    Some(ParallelTools {
        tools: vec![ToolSpec {
            description: format!("Correctly extracted `{name}` with all the required parameters with correct types"),
            name,
            parameters: with_defs(parameters),
        }],
        tagged: false,
    })
}

/// Rewrites a schema into OpenAI's strict subset: every object closed
/// (`additionalProperties: false`) with every property required, formerly optional properties
/// made nullable, and keywords strict mode rejects (`default`) removed.
///
/// ```
/// let strict = instructor::strict_schema(&serde_json::json!({
///     "type": "object",
///     "properties": {"name": {"type": "string"}, "nick": {"type": "string"}},
///     "required": ["name"]
/// }));
/// assert_eq!(strict["additionalProperties"], false);
/// assert_eq!(strict["required"], serde_json::json!(["name", "nick"]));
/// assert_eq!(strict["properties"]["nick"]["type"], serde_json::json!(["string", "null"]));
/// ```
pub fn strict_schema(schema: &Value) -> Value {
    let mut out = schema.clone();
    make_strict(&mut out);
    out
}

fn make_strict(schema: &mut Value) {
    let Some(obj) = schema.as_object_mut() else { return };
    obj.remove("default");
    obj.remove("$schema");
    if obj.get("properties").is_some_and(Value::is_object) {
        let required: Vec<String> = obj
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default();
        let props = obj.get_mut("properties").and_then(Value::as_object_mut);
        let mut names = Vec::new();
        if let Some(props) = props {
            for (name, prop) in props.iter_mut() {
                make_strict(prop);
                if !required.iter().any(|r| r == name) {
                    make_nullable(prop);
                }
                names.push(Value::String(name.clone()));
            }
        }
        obj.insert("required".to_owned(), Value::Array(names));
        obj.insert("additionalProperties".to_owned(), Value::Bool(false));
    } else if obj.get("type").and_then(Value::as_str) == Some("object") {
        obj.insert("additionalProperties".to_owned(), Value::Bool(false));
        obj.entry("properties").or_insert_with(|| Value::Object(Map::new()));
        obj.entry("required").or_insert_with(|| Value::Array(Vec::new()));
    }
    for key in ["items", "not"] {
        if let Some(sub) = obj.get_mut(key) {
            make_strict(sub);
        }
    }
    for key in ["anyOf", "oneOf", "allOf", "prefixItems"] {
        if let Some(list) = obj.get_mut(key).and_then(Value::as_array_mut) {
            list.iter_mut().for_each(make_strict);
        }
    }
    for key in ["$defs", "definitions"] {
        if let Some(defs) = obj.get_mut(key).and_then(Value::as_object_mut) {
            defs.values_mut().for_each(make_strict);
        }
    }
}

fn make_nullable(schema: &mut Value) {
    if accepts_null(schema) {
        return;
    }
    let has_ref = schema.get("$ref").is_some();
    match schema.get_mut("type") {
        Some(Value::String(t)) if !has_ref => {
            let t = std::mem::take(t);
            schema["type"] = json!([t, "null"]);
        }
        Some(Value::Array(types)) => types.push(Value::String("null".into())),
        _ => {
            let inner = std::mem::take(schema);
            *schema = json!({ "anyOf": [inner, { "type": "null" }] });
        }
    }
}

fn accepts_null(schema: &Value) -> bool {
    match schema.get("type") {
        Some(Value::String(t)) if t == "null" => return true,
        Some(Value::Array(types)) if types.iter().any(|t| t == "null") => return true,
        _ => {}
    }
    ["anyOf", "oneOf"]
        .iter()
        .any(|k| schema.get(*k).and_then(Value::as_array).is_some_and(|alts| alts.iter().any(accepts_null)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, JsonSchema)]
    #[allow(dead_code)]
    struct Address {
        city: String,
    }

    #[derive(serde::Deserialize, JsonSchema)]
    #[allow(dead_code)]
    struct Person {
        name: String,
        nick: Option<String>,
        address: Option<Address>,
    }

    #[derive(serde::Deserialize, JsonSchema)]
    #[allow(dead_code)]
    enum Action {
        Search(Address),
        Lookup(Person),
    }

    #[test]
    fn primitives_are_wrapped_and_named() {
        let s = ResponseSchema::of::<String>();
        assert!(s.is_wrapped());
        assert_eq!(s.json()["properties"]["value"]["type"], "string");
        let v = ResponseSchema::of::<Vec<Person>>();
        assert_eq!(v.name(), "Array_of_Person");
        assert!(v.json()["$defs"]["Person"].is_object(), "defs hoisted: {}", v.json());
        assert!(v.json().get("$schema").is_none());
    }

    #[test]
    fn strict_rewrite_closes_every_object() {
        let s = strict_schema(ResponseSchema::of::<Person>().json());
        assert_eq!(s["required"], json!(["name", "nick", "address"]));
        assert_eq!(s["additionalProperties"], false);
        assert_eq!(s["$defs"]["Address"]["additionalProperties"], false);
        assert!(accepts_null(&s["properties"]["nick"]));
        assert!(accepts_null(&s["properties"]["address"]));
    }

    #[test]
    fn parallel_tools_per_enum_variant() {
        let s = ResponseSchema::of::<Vec<Action>>();
        let p = s.parallel().expect("array target");
        assert!(p.tagged);
        let names: Vec<_> = p.tools.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["Search", "Lookup"]);
        let single = ResponseSchema::of::<Vec<Person>>();
        let p = single.parallel().expect("array target");
        assert!(!p.tagged);
        assert_eq!(p.tools[0].name, "Person");
        assert!(p.tools[0].parameters["$defs"]["Address"].is_object());
    }
}
