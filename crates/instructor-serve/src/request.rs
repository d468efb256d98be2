//! Chat-completions requests: read tolerantly (unknown fields are ignored), checked strictly
//! (a wrong type or value is a 400 naming the field), and turned into the engine's request.

use std::fmt;

use instructor::{CompletionRequest, Message, RawJson, ToolCall};
use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde_json::{Value, json};

use crate::error::ApiError;

/// The most stop sequences a request may give (OpenAI's limit).
const MAX_STOPS: usize = 4;

/// A request, checked and ready for the engine.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    /// The model the client named.
    pub model: String,
    /// What the engine gets.
    pub request: CompletionRequest,
    /// Stream the answer as server-sent events.
    pub stream: bool,
    /// With `stream`: a last chunk with the usage.
    pub include_usage: bool,
    /// Text at which the reply is cut.
    pub stops: Vec<String>,
    /// The reply is tool calls (so no text is streamed first).
    pub tool_reply: bool,
    /// `parallel_tool_calls: false`: keep only the first call.
    pub single_call: bool,
    /// The field holding the schema the grammar comes from, for errors.
    pub schema_param: &'static str,
    /// The schema the reply must satisfy (the response format's, or the one forced tool's
    /// parameters), for checking it where the grammar cannot enforce all of it.
    pub schema: Option<Value>,
    /// `max_tokens` was lowered to the room left in the context (Anthropic's models accept an
    /// allowance past the window and stop at it).
    pub window_capped: bool,
}

#[derive(Debug, Deserialize)]
struct WireRequest {
    model: Option<String>,
    messages: Option<Vec<WireMessage>>,
    response_format: Option<WireFormat>,
    tools: Option<Vec<WireTool>>,
    tool_choice: Option<Value>,
    parallel_tool_calls: Option<bool>,
    max_tokens: Option<u32>,
    max_completion_tokens: Option<u32>,
    temperature: Option<f32>,
    top_p: Option<f32>,
    seed: Option<i64>,
    stop: Option<Value>,
    n: Option<u32>,
    stream: Option<bool>,
    stream_options: Option<WireStreamOptions>,
    logprobs: Option<Value>,
    top_logprobs: Option<Value>,
    /// `top_k` and the repetition penalties, read by `sampling_extras`.
    #[serde(flatten)]
    extra: serde_json::Map<String, Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum WireRole {
    System,
    Developer,
    User,
    Assistant,
    Tool,
    Function,
}

#[derive(Debug, Deserialize)]
struct WireMessage {
    role: WireRole,
    content: Option<WireContent>,
    name: Option<String>,
    tool_calls: Option<Vec<WireToolCall>>,
    tool_call_id: Option<String>,
}

/// A string, or an array of content parts.
#[derive(Debug)]
enum WireContent {
    Text(String),
    Parts(Vec<WirePart>),
}

#[derive(Debug, Deserialize)]
struct WirePart {
    #[serde(rename = "type")]
    kind: String,
    text: Option<String>,
    refusal: Option<String>,
}

impl<'de> Deserialize<'de> for WireContent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ContentVisitor;
        impl<'de> Visitor<'de> for ContentVisitor {
            type Value = WireContent;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of content parts")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<WireContent, E> {
                Ok(WireContent::Text(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<WireContent, E> {
                Ok(WireContent::Text(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<WireContent, A::Error> {
                let mut parts = Vec::new();
                while let Some(part) = seq.next_element::<WirePart>()? {
                    parts.push(part);
                }
                Ok(WireContent::Parts(parts))
            }
        }
        deserializer.deserialize_any(ContentVisitor)
    }
}

#[derive(Debug, Deserialize)]
struct WireToolCall {
    id: Option<String>,
    function: WireFunctionCall,
}

#[derive(Debug, Deserialize)]
struct WireFunctionCall {
    name: String,
    /// A JSON document as text (an object is accepted too).
    arguments: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum FormatKind {
    Text,
    JsonObject,
    JsonSchema,
}

#[derive(Debug, Deserialize)]
struct WireFormat {
    #[serde(rename = "type")]
    kind: FormatKind,
    /// OpenAI's `json_schema` dialect.
    json_schema: Option<WireJsonSchema>,
    /// The `json_object` + `schema` dialect (Anyscale, Together, llama.cpp).
    schema: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct WireJsonSchema {
    name: Option<String>,
    description: Option<String>,
    schema: Option<Value>,
    strict: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ToolKind {
    Function,
}

#[derive(Debug, Deserialize)]
struct WireTool {
    #[serde(rename = "type")]
    #[allow(dead_code)]
    kind: ToolKind,
    function: WireFunction,
}

#[derive(Debug, Deserialize)]
struct WireFunction {
    name: String,
    description: Option<String>,
    parameters: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct WireStreamOptions {
    include_usage: Option<bool>,
}

/// What `tool_choice` asks for.
#[derive(Debug, PartialEq)]
pub(crate) enum Choice {
    None,
    Auto,
    Required,
    Named(String),
}

/// Reads and checks a request body.
pub(crate) fn parse(body: &[u8]) -> Result<Job, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(ApiError::malformed)?;
    if !value.is_object() {
        return Err(ApiError::invalid("", "the request body must be a JSON object"));
    }
    let wire: WireRequest = serde_path_to_error::deserialize(&value).map_err(|e| type_error(&e))?;
    check(wire)
}

/// A serde error as a 400 naming the field: `messages[1].role`.
pub(crate) fn type_error(e: &serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = e.path().to_string();
    let path = if path == "." { String::new() } else { path };
    let message = e.inner().to_string();
    if let Some(field) = message.strip_prefix("missing field `").and_then(|m| m.strip_suffix('`')) {
        let param = if path.is_empty() { field.to_owned() } else { format!("{path}.{field}") };
        return ApiError::invalid(&param, format!("missing required parameter '{param}'"));
    }
    let shown = if path.is_empty() { "the request".to_owned() } else { format!("'{path}'") };
    ApiError::invalid(&path, format!("invalid value for {shown}: {message}"))
}

fn check(wire: WireRequest) -> Result<Job, ApiError> {
    let model = match wire.model {
        Some(m) if !m.trim().is_empty() => m,
        Some(_) => return Err(ApiError::invalid("model", "'model' must not be empty")),
        None => return Err(ApiError::invalid("model", "missing required parameter 'model'")),
    };
    let Some(wire_messages) = wire.messages else {
        return Err(ApiError::invalid("messages", "missing required parameter 'messages'"));
    };
    if wire_messages.is_empty() {
        return Err(ApiError::invalid("messages", "'messages' must hold at least one message"));
    }
    let messages = wire_messages.into_iter().enumerate().map(|(i, m)| message(i, m)).collect::<Result<Vec<_>, _>>()?;

    match wire.n {
        None | Some(1) => {}
        Some(n) => return Err(ApiError::invalid("n", format!("only n=1 is supported, not {n}"))),
    }
    // Never accepted and then silently ignored.
    if wire.logprobs.as_ref().is_some_and(|v| v.as_bool() == Some(true)) {
        return Err(ApiError::invalid("logprobs", "log probabilities are not supported by this server"));
    }
    if wire.top_logprobs.as_ref().is_some_and(|v| !v.is_null()) {
        return Err(ApiError::invalid("top_logprobs", "log probabilities are not supported by this server"));
    }
    let max_tokens = match (wire.max_completion_tokens, wire.max_tokens) {
        (Some(0), _) => return Err(ApiError::invalid("max_completion_tokens", "must be at least 1")),
        (None, Some(0)) => return Err(ApiError::invalid("max_tokens", "must be at least 1")),
        (Some(n), _) | (None, Some(n)) => Some(n),
        (None, None) => None,
    };
    if let Some(t) = wire.temperature.filter(|t| !(0.0..=2.0).contains(t)) {
        return Err(ApiError::invalid("temperature", format!("must be between 0 and 2, not {t}")));
    }
    if let Some(p) = wire.top_p.filter(|p| !(0.0..=1.0).contains(p)) {
        return Err(ApiError::invalid("top_p", format!("must be between 0 and 1, not {p}")));
    }
    let stops = stops(wire.stop)?;

    let format = wire.response_format.map(response_format).transpose()?.flatten();
    let tools: Vec<ToolSpec> = wire
        .tools
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, t)| ToolSpec {
            name: t.function.name,
            description: t.function.description,
            parameters: t.function.parameters,
            at: format!("tools[{i}].function"),
            schema_field: "parameters",
        })
        .collect();
    let names = tool_names(&tools)?;
    let choice = tool_choice(wire.tool_choice, &names)?;
    let stream = wire.stream.unwrap_or(false);
    build(Draft {
        model,
        messages,
        format,
        tools,
        choice,
        single_call: wire.parallel_tool_calls == Some(false),
        max_tokens,
        temperature: wire.temperature,
        top_p: wire.top_p,
        seed: wire.seed,
        sampling: sampling_extras(&wire.extra)?,
        stops,
        stream,
        include_usage: stream && wire.stream_options.and_then(|o| o.include_usage).unwrap_or(false),
    })
}

/// A tool as any dialect gives it, with where it came from (for errors).
#[derive(Debug)]
pub(crate) struct ToolSpec {
    pub name: String,
    pub description: Option<String>,
    pub parameters: Option<Value>,
    /// The tool's path in the request: `tools[0].function`, `tools[0]`.
    pub at: String,
    /// What the dialect calls the parameters' schema: `parameters`, `input_schema`.
    pub schema_field: &'static str,
}

/// A request read from any dialect, before the rules every dialect shares are applied.
#[derive(Debug)]
pub(crate) struct Draft {
    pub model: String,
    pub messages: Vec<Message>,
    /// A chat-completions `response_format` (already checked), or `None` for free text.
    pub format: Option<Value>,
    pub tools: Vec<ToolSpec>,
    pub choice: Choice,
    pub single_call: bool,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub seed: Option<i64>,
    /// `top_k` and the repetition penalties, for the engine.
    pub sampling: serde_json::Map<String, Value>,
    pub stops: Vec<String>,
    pub stream: bool,
    pub include_usage: bool,
}

/// The one engine path: tools, tool choice and format become the engine's request the same way
/// whichever dialect the request came in.
pub(crate) fn build(draft: Draft) -> Result<Job, ApiError> {
    let Draft { model, messages, format, tools, choice, single_call, .. } = draft;
    let names: Vec<String> = tools.iter().map(|t| t.name.clone()).collect();
    let format_schema =
        format.as_ref().and_then(|f| f.pointer("/json_schema/schema").or_else(|| f.get("schema"))).cloned();
    // Under `auto` the engine calls until a function has answered, then may answer in words.
    let answered = instructor_engine::tool_has_answered(&messages);
    // One tool to be called: a call forced by name, streamed as it is generated.
    let forced = match &choice {
        Choice::Required => names.len() == 1,
        Choice::Auto => names.len() == 1 && !answered,
        Choice::None | Choice::Named(_) => false,
    };
    let (tools, choice) = match choice {
        _ if forced => (Some(tools), Some(json!({"type": "function", "function": {"name": names[0]}}))),
        Choice::None => (None, None),
        Choice::Named(name) => (Some(tools), Some(json!({"type": "function", "function": {"name": name}}))),
        Choice::Auto => (Some(tools), Some(json!("auto"))),
        Choice::Required => (Some(tools), Some(json!("required"))),
    };
    let tool_reply = tools.is_some();
    let forced_name =
        choice.as_ref().and_then(|c| c.pointer("/function/name")).and_then(Value::as_str).map(str::to_owned);
    let schema = match (&tools, forced_name) {
        (Some(tools), Some(name)) => tools
            .iter()
            .find(|t| t.name == name)
            .map(|t| t.parameters.clone().unwrap_or_else(|| json!({"type": "object"}))),
        (Some(_), None) => None,
        (None, _) => format_schema,
    };
    let tools = tools.map(|tools| {
        Value::Array(
            tools
                .into_iter()
                .map(|t| {
                    let mut function = json!({
                        "name": t.name,
                        "parameters": t.parameters.unwrap_or_else(|| json!({"type": "object"})),
                    });
                    if let Some(d) = t.description {
                        function["description"] = Value::String(d);
                    }
                    json!({"type": "function", "function": function})
                })
                .collect(),
        )
    });

    let raw = |v: Value| RawJson::new(&v).map_err(|e| ApiError::server(format!("cannot encode the request: {e}")));
    let mut request = CompletionRequest::new(model.clone(), messages);
    request.tools = tools.map(raw).transpose()?;
    request.tool_choice = choice.map(raw).transpose()?;
    request.response_format = format.map(raw).transpose()?;
    request.temperature = draft.temperature;
    request.top_p = draft.top_p;
    request.max_tokens = draft.max_tokens;
    request.seed = draft.seed;
    request.extra = draft.sampling;
    Ok(Job {
        model,
        request,
        stream: draft.stream,
        include_usage: draft.include_usage,
        stops: draft.stops,
        tool_reply,
        single_call,
        schema_param: if tool_reply { "tools" } else { "response_format" },
        schema,
        window_capped: false,
    })
}

/// `top_k`, `repeat_penalty`, `frequency_penalty`, `presence_penalty` from a request's other
/// fields, checked.
pub(crate) fn sampling_extras(
    fields: &serde_json::Map<String, Value>,
) -> Result<serde_json::Map<String, Value>, ApiError> {
    let mut out = serde_json::Map::new();
    if let Some(k) = fields.get("top_k").filter(|v| !v.is_null()) {
        match k.as_u64() {
            Some(k) => out.insert("top_k".into(), json!(k)),
            None => return Err(ApiError::invalid("top_k", "must be a non-negative integer")),
        };
    }
    for (name, range) in
        [("frequency_penalty", -2.0..=2.0), ("presence_penalty", -2.0..=2.0), ("repeat_penalty", 0.0..=10.0)]
    {
        if let Some(v) = fields.get(name).filter(|v| !v.is_null()) {
            match v.as_f64() {
                Some(x) if range.contains(&x) => out.insert(name.into(), json!(x)),
                _ => {
                    return Err(ApiError::invalid(
                        name,
                        format!("must be a number from {} to {}", range.start(), range.end()),
                    ));
                }
            };
        }
    }
    Ok(out)
}

fn message(i: usize, m: WireMessage) -> Result<Message, ApiError> {
    let at = |field: &str| format!("messages[{i}].{field}");
    let content = match m.content {
        None => None,
        Some(WireContent::Text(t)) => Some(t),
        Some(WireContent::Parts(parts)) => {
            let mut texts = Vec::with_capacity(parts.len());
            for (j, part) in parts.into_iter().enumerate() {
                match (part.kind.as_str(), part.text, part.refusal) {
                    ("text", Some(text), _) => texts.push(text),
                    ("text", None, _) => return Err(missing(&at(&format!("content[{j}].text")))),
                    ("refusal", _, Some(text)) => texts.push(text),
                    (kind @ ("image_url" | "input_image" | "image"), _, _) => {
                        return Err(ApiError::invalid(
                            at(&format!("content[{j}]")),
                            format!("the loaded model reads text only: it cannot read images (content part '{kind}')"),
                        ));
                    }
                    (kind @ ("input_audio" | "audio"), _, _) => {
                        return Err(ApiError::invalid(
                            at(&format!("content[{j}]")),
                            format!("the loaded model reads text only: it cannot read audio (content part '{kind}')"),
                        ));
                    }
                    (kind @ ("file" | "input_file" | "document"), _, _) => {
                        return Err(ApiError::invalid(
                            at(&format!("content[{j}]")),
                            format!("the loaded model reads text only: it cannot read files (content part '{kind}')"),
                        ));
                    }
                    (kind, _, _) => {
                        return Err(ApiError::invalid(
                            at(&format!("content[{j}].type")),
                            format!("content parts of type '{kind}' are not supported; only 'text' is"),
                        ));
                    }
                }
            }
            Some(texts.join("\n"))
        }
    };
    let require = |content: Option<String>| content.ok_or_else(|| missing(&at("content")));
    let message = match m.role {
        WireRole::System | WireRole::Developer => Message::system(require(content)?),
        WireRole::User => Message::user(require(content)?),
        WireRole::Tool => {
            let Some(id) = m.tool_call_id else { return Err(missing(&at("tool_call_id"))) };
            Message::tool(id, require(content)?)
        }
        WireRole::Assistant => {
            let calls: Vec<ToolCall> = m
                .tool_calls
                .unwrap_or_default()
                .into_iter()
                .map(|c| {
                    let arguments = match c.function.arguments {
                        Some(Value::String(s)) => s,
                        Some(Value::Null) | None => String::new(),
                        Some(other) => other.to_string(),
                    };
                    ToolCall::function(c.id.unwrap_or_default(), c.function.name, arguments)
                })
                .collect();
            if content.is_none() && calls.is_empty() {
                return Err(ApiError::invalid(at("content"), "an assistant message needs 'content' or 'tool_calls'"));
            }
            Message { content, tool_calls: calls, ..Message::assistant("") }
        }
        WireRole::Function => {
            return Err(ApiError::invalid(at("role"), "the deprecated 'function' role is not supported; use 'tool'"));
        }
    };
    Ok(Message { name: m.name, ..message })
}

pub(crate) fn missing(param: &str) -> ApiError {
    ApiError::invalid(param, format!("missing required parameter '{param}'"))
}

pub(crate) fn stops(stop: Option<Value>) -> Result<Vec<String>, ApiError> {
    let stops = match stop {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(s)) => vec![s],
        Some(Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s),
                _ => Err(ApiError::invalid(format!("stop[{i}]"), "a stop sequence must be a string")),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(ApiError::invalid("stop", "'stop' must be a string or an array of strings")),
    };
    if stops.len() > MAX_STOPS {
        return Err(ApiError::invalid("stop", format!("at most {MAX_STOPS} stop sequences, not {}", stops.len())));
    }
    if stops.iter().any(String::is_empty) {
        return Err(ApiError::invalid("stop", "a stop sequence must not be empty"));
    }
    Ok(stops)
}

/// The format for the engine, or `None` for free text.
fn response_format(format: WireFormat) -> Result<Option<Value>, ApiError> {
    match format.kind {
        FormatKind::Text => Ok(None),
        FormatKind::JsonObject => match format.schema {
            None | Some(Value::Null) => Ok(Some(any_object())),
            Some(schema) => {
                check_schema(&schema, "response_format.schema")?;
                Ok(Some(json!({"type": "json_object", "schema": schema})))
            }
        },
        FormatKind::JsonSchema => {
            let (spec, param) = match (format.json_schema, format.schema) {
                (Some(spec), _) => (spec, "response_format.json_schema.schema"),
                // Some clients put the schema beside `type`, as with `json_object`.
                (None, Some(schema)) => (
                    WireJsonSchema { name: None, description: None, schema: Some(schema), strict: None },
                    "response_format.schema",
                ),
                (None, None) => return Err(missing("response_format.json_schema")),
            };
            let mut out = json!({"name": spec.name.unwrap_or_else(|| "response".to_owned())});
            if let Some(d) = spec.description {
                out["description"] = Value::String(d);
            }
            if let Some(strict) = spec.strict {
                out["strict"] = Value::Bool(strict);
            }
            match spec.schema {
                // No schema: any JSON object.
                None | Some(Value::Null) => Ok(Some(any_object())),
                Some(schema) => {
                    check_schema(&schema, param)?;
                    out["schema"] = schema;
                    Ok(Some(json!({"type": "json_schema", "json_schema": out})))
                }
            }
        }
    }
}

/// Any JSON object: the engine's own bounded grammar for `json_object`.
pub(crate) fn any_object() -> Value {
    json!({"type": "json_object"})
}

/// A schema must be a JSON object that is a valid JSON Schema and compiles.
pub(crate) fn check_schema(schema: &Value, param: &str) -> Result<(), ApiError> {
    if !schema.is_object() {
        return Err(ApiError::invalid(param, "the schema must be a JSON object").code_schema());
    }
    if let Err(e) = jsonschema::meta::validate(schema) {
        let at = e.instance_path().to_string();
        let at = if at.is_empty() { String::new() } else { format!(" at {at}") };
        return Err(ApiError::invalid(param, format!("not a valid JSON Schema{at}: {e}")).code_schema());
    }
    if let Err(e) = jsonschema::validator_for(schema) {
        return Err(ApiError::invalid(param, format!("the JSON Schema cannot be compiled: {e}")).code_schema());
    }
    Ok(())
}

impl ApiError {
    fn code_schema(mut self) -> Self {
        self.code = Some("invalid_schema");
        self
    }
}

/// Checks the tools' names and parameters; returns the names.
pub(crate) fn tool_names(tools: &[ToolSpec]) -> Result<Vec<String>, ApiError> {
    let mut names: Vec<String> = Vec::with_capacity(tools.len());
    for tool in tools {
        let name = &tool.name;
        let valid = !name.is_empty()
            && name.len() <= 64
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid {
            return Err(ApiError::invalid(
                format!("{}.name", tool.at),
                "a function name must be 1 to 64 letters, digits, '_' or '-'",
            ));
        }
        if names.contains(name) {
            return Err(ApiError::invalid(format!("{}.name", tool.at), format!("two tools are named '{name}'")));
        }
        if let Some(parameters) = &tool.parameters {
            check_schema(parameters, &format!("{}.{}", tool.at, tool.schema_field))?;
        }
        names.push(name.clone());
    }
    Ok(names)
}

fn tool_choice(choice: Option<Value>, names: &[String]) -> Result<Choice, ApiError> {
    let choice = match choice {
        None | Some(Value::Null) => Choice::Auto,
        Some(Value::String(s)) => match s.as_str() {
            "none" => Choice::None,
            "auto" => Choice::Auto,
            "required" => Choice::Required,
            other => {
                return Err(ApiError::invalid(
                    "tool_choice",
                    format!("'{other}' is not one of 'none', 'auto', 'required' or a named function"),
                ));
            }
        },
        Some(Value::Object(o)) => {
            let name = match (o.get("type").and_then(Value::as_str), o.get("function")) {
                (Some("function"), Some(f)) => f.get("name").and_then(Value::as_str),
                _ => None,
            };
            let Some(name) = name else {
                return Err(ApiError::invalid(
                    "tool_choice",
                    "expected {\"type\": \"function\", \"function\": {\"name\": ...}}",
                ));
            };
            if !names.iter().any(|n| n == name) {
                return Err(ApiError::invalid(
                    "tool_choice.function.name",
                    format!("no tool named '{name}' in 'tools'"),
                ));
            }
            Choice::Named(name.to_owned())
        }
        Some(_) => return Err(ApiError::invalid("tool_choice", "'tool_choice' must be a string or an object")),
    };
    if names.is_empty() {
        return match choice {
            Choice::Required => Err(ApiError::invalid("tool_choice", "'required' needs 'tools'")),
            _ => Ok(Choice::None),
        };
    }
    Ok(choice)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_json(v: Value) -> Result<Job, ApiError> {
        parse(v.to_string().as_bytes())
    }

    fn base() -> Value {
        json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    }

    #[test]
    fn fields_are_named_in_errors() {
        let mut v = base();
        v["messages"][0]["role"] = json!("robot");
        assert_eq!(parse_json(v).expect_err("bad role").param.as_deref(), Some("messages[0].role"));
        let mut v = base();
        v["max_tokens"] = json!("ten");
        assert_eq!(parse_json(v).expect_err("bad type").param.as_deref(), Some("max_tokens"));
        let mut v = base();
        v["messages"] = json!([{"content": "hi"}]);
        let e = parse_json(v).expect_err("no role");
        assert_eq!(e.param.as_deref(), Some("messages[0].role"), "{e:?}");
        let e = parse_json(json!({"messages": [{"role": "user", "content": "hi"}]})).expect_err("no model");
        assert_eq!(e.param.as_deref(), Some("model"));
        let mut v = base();
        v["messages"][0]["content"] = json!([{"type": "text", "text": 5}]);
        assert_eq!(parse_json(v).expect_err("bad part").param.as_deref(), Some("messages[0].content[0].text"));
        assert_eq!(parse(b"{").expect_err("malformed").code, Some("invalid_json"));
    }

    #[test]
    fn both_structured_output_dialects() {
        let schema = json!({"type": "object", "properties": {"a": {"type": "integer"}}});
        let mut v = base();
        v["response_format"] = json!({"type": "json_object", "schema": schema});
        let job = parse_json(v).expect("json_object + schema");
        assert_eq!(job.request.response_format.expect("format").to_value()["schema"], schema);
        let mut v = base();
        v["response_format"] =
            json!({"type": "json_schema", "json_schema": {"name": "x", "schema": schema, "strict": true}});
        let job = parse_json(v).expect("json_schema");
        assert_eq!(job.request.response_format.expect("format").to_value()["json_schema"]["schema"], schema);
        let mut v = base();
        v["response_format"] = json!({"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": 5}}});
        let e = parse_json(v).expect_err("invalid schema");
        assert_eq!(e.param.as_deref(), Some("response_format.json_schema.schema"));
        assert_eq!(e.code, Some("invalid_schema"));
    }

    #[test]
    fn tool_choices() {
        let tools = json!([{"type": "function", "function": {"name": "A", "parameters": {"type": "object"}}}]);
        let mut v = base();
        v["tools"] = tools.clone();
        v["tool_choice"] = json!({"type": "function", "function": {"name": "A"}});
        let job = parse_json(v).expect("named");
        assert!(job.tool_reply);
        assert_eq!(job.request.tool_choice.expect("choice").to_value()["function"]["name"], "A");
        let mut v = base();
        v["tools"] = tools.clone();
        v["tool_choice"] = json!("none");
        let job = parse_json(v).expect("none");
        assert!(!job.tool_reply && job.request.tools.is_none());
        let mut v = base();
        v["tools"] = tools.clone();
        let job = parse_json(v).expect("one tool: forced");
        assert_eq!(job.request.tool_choice.expect("choice").to_value()["function"]["name"], "A");
        let mut v = base();
        v["tools"] =
            json!([{"type": "function", "function": {"name": "A"}}, {"type": "function", "function": {"name": "B"}}]);
        let job = parse_json(v).expect("auto by default");
        assert_eq!(job.request.tool_choice.expect("choice").to_value(), json!("auto"));
        let mut v = base();
        v["tools"] = tools;
        v["tool_choice"] = json!({"type": "function", "function": {"name": "B"}});
        assert_eq!(parse_json(v).expect_err("unknown").param.as_deref(), Some("tool_choice.function.name"));
    }

    #[test]
    fn stops_and_limits() {
        let mut v = base();
        v["stop"] = json!(["a", "b"]);
        v["max_completion_tokens"] = json!(7);
        v["max_tokens"] = json!(9);
        let job = parse_json(v).expect("ok");
        assert_eq!(job.stops, ["a", "b"]);
        assert_eq!(job.request.max_tokens, Some(7));
        let mut v = base();
        v["n"] = json!(2);
        assert_eq!(parse_json(v).expect_err("n").param.as_deref(), Some("n"));
    }
}
