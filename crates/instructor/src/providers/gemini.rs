//! Google's Gemini API, natively: the library's request becomes a `generateContent` body
//! (system instruction apart, `model` turns, function calls and `functionResponse` parts, JSON
//! replies through `responseMimeType` and `responseJsonSchema`), and replies and stream chunks
//! become the library's completion and deltas.

use std::borrow::Cow;
use std::fmt;
use std::sync::OnceLock;

use reqwest::StatusCode;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use super::{
    Api, ChatTool, FragmentCache, Outgoing, ResponseFormat, ToolChoice, arguments_object, called_function,
    chat_response_format, chat_tool_choice, chat_tools, rendered, slot, system_text, text_of, unsupported_mode,
};
use crate::error::{Error, ProviderError, ProviderErrorKind};
use crate::http::{ErrorBody, HttpTransport, read_body, snippet};
use crate::media::{self, Media, MediaPolicy};
use crate::modes::Mode;
use crate::provider::{BoxFuture, Provider};
use crate::stream::{CompletionDelta, DeltaStream, EventDecoder, Step, ToolCallDelta, sse_stream, undecodable};
use crate::wire::gemini::{
    self as wire, Blob, Content, ContentReply, FileData, FunctionCall, FunctionCallingConfig, FunctionDeclaration,
    FunctionResponse, GenerateContentRequest, GenerationConfig, Part, PartReply, Tool, ToolConfig,
};
use crate::wire::{
    AssistantMessage, ChatCompletion, Choice, CompletionRequest, FinishReason, Message, RawJson, Role, ToolCall, Usage,
};

/// This API's translations of the fragments a mode renders, kept with each (see [`FragmentCache`]).
const TOOLS: FragmentCache<Option<RawJson>> = FragmentCache::new(slot::GEMINI_TOOLS);
const SUBSET_TOOLS: FragmentCache<Option<RawJson>> = FragmentCache::new(slot::GEMINI_SUBSET_TOOLS);
const CHOICES: FragmentCache<Option<RawJson>> = FragmentCache::new(slot::GEMINI_CHOICE);
const FORMATS: FragmentCache<GenerationConfig> = FragmentCache::new(slot::GEMINI_FORMAT);
const SUBSET_FORMATS: FragmentCache<GenerationConfig> = FragmentCache::new(slot::GEMINI_SUBSET_FORMAT);

/// Google's Gemini API (`{base}/v1beta/models/{model}:generateContent`), with the key in
/// `x-goog-api-key`. Built by [`ClientBuilder`](crate::ClientBuilder) with
/// [`Preset::Gemini`](crate::Preset::Gemini) or [`Api::Gemini`].
///
/// Schemas go as full JSON Schema (`responseJsonSchema`, `parametersJsonSchema`); for the
/// Gemini 1.x and 2.0 models, which take only the OpenAPI subset (`responseSchema`,
/// `parameters`), they are rewritten into it (`$ref`s inlined, `null` alternatives as `nullable`).
pub struct Gemini {
    transport: HttpTransport,
    media: MediaPolicy,
    /// Parsed URLs by model and method, read without a lock: most programs use a model or two.
    /// A program that uses more has the others parsed per call.
    endpoints: [OnceLock<(String, &'static str, reqwest::Url)>; ENDPOINTS],
}

/// How many (model, method) URLs a provider keeps parsed.
const ENDPOINTS: usize = 8;

impl fmt::Debug for Gemini {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gemini").field("base", &self.transport.base()).finish_non_exhaustive()
    }
}

/// Ids this library gives calls that came without one; they are not sent back, since Gemini
/// matches answers to id-less calls by name and order.
const MADE_UP_ID: &str = "gemini_call_";

/// Models that take schemas only in the OpenAPI subset.
fn needs_openapi_subset(model: &str) -> bool {
    let model = model.strip_prefix("models/").unwrap_or(model);
    model.starts_with("gemini-1.") || model.starts_with("gemini-2.0") || model.starts_with("gemini-pro")
}

impl Gemini {
    pub(crate) fn new(transport: HttpTransport, media: MediaPolicy) -> Self {
        Gemini { transport, media, endpoints: Default::default() }
    }

    /// The URL of `method` (`generateContent`, `streamGenerateContent?alt=sse`) for `model`.
    pub fn url(&self, model: &str, method: &str) -> Result<String, ProviderError> {
        let model = model.strip_prefix("models/").unwrap_or(model);
        if model.is_empty() || model.contains(['/', '?', '#', '%', ' ']) || model.contains("..") {
            return Err(ProviderError::new(ProviderErrorKind::Decode, format!("`{model}` is not a Gemini model name")));
        }
        Ok(self.transport.url(&format!("/v1beta/models/{model}:{method}")))
    }

    /// [`url`](Self::url), parsed once per model and method.
    fn endpoint(&self, model: &str, method: &'static str) -> Result<Cow<'_, reqwest::Url>, ProviderError> {
        let parse = || {
            let text = self.url(model, method)?;
            reqwest::Url::parse(&text)
                .map_err(|e| ProviderError::new(ProviderErrorKind::Decode, format!("bad URL `{text}`: {e}")))
        };
        for slot in &self.endpoints {
            if slot.get().is_none() {
                // Two calls may fill a slot at once: the loser looks on.
                let _ = slot.set((model.to_owned(), method, parse()?));
            }
            match slot.get() {
                Some((m, k, url)) if m == model && *k == method => return Ok(Cow::Borrowed(url)),
                _ => continue,
            }
        }
        parse().map(Cow::Owned)
    }

    /// The `generateContent` body for `request`, its tools and tool config kept apart as JSON
    /// text (see [`Outgoing`]).
    pub(crate) fn translate<'r>(
        &self,
        request: &'r CompletionRequest,
    ) -> Result<Outgoing<'r, GenerateContentRequest>, ProviderError> {
        let subset = needs_openapi_subset(&request.model);
        let mut extra = request.extra.clone();
        let mut config = match &request.response_format {
            Some(format) if subset => SUBSET_FORMATS.get(format, |f| translate_format(f, true))?.clone(),
            Some(format) => FORMATS.get(format, |f| translate_format(f, false))?.clone(),
            None => GenerationConfig::default(),
        };
        config.temperature = request.temperature;
        config.top_p = request.top_p;
        config.max_output_tokens = request.max_tokens;
        config.seed = request.seed;
        if let Some(stop) = extra.remove("stop") {
            config.stop_sequences = match stop {
                Value::String(s) => vec![s],
                Value::Array(items) => items.into_iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
                _ => Vec::new(),
            };
        }
        if let Some(top_k) = extra.remove("top_k").and_then(|v| v.as_u64()) {
            config.top_k = u32::try_from(top_k).ok();
        }
        config.frequency_penalty = extra.remove("frequency_penalty").and_then(|v| v.as_f64()).map(|v| v as f32);
        config.presence_penalty = extra.remove("presence_penalty").and_then(|v| v.as_f64()).map(|v| v as f32);
        let empty = config == GenerationConfig::default();
        let mut out = Outgoing::new(GenerateContentRequest {
            contents: contents(&request.messages),
            system_instruction: system_text(&request.messages)
                .map(|text| Content { role: None, parts: vec![Part::text(text)] }),
            generation_config: (!empty).then_some(config),
            extra,
            ..GenerateContentRequest::default()
        });
        // Members the body might also carry through `extra` are left to it.
        let tools = match &request.tools {
            _ if out.body.extra.contains_key("tools") => None,
            Some(tools) if subset => SUBSET_TOOLS.get(tools, |t| rendered(translate_tools(t, true)?))?.as_ref(),
            Some(tools) => TOOLS.get(tools, |t| rendered(translate_tools(t, false)?))?.as_ref(),
            None => None,
        };
        let tool_config = match &request.tool_choice {
            _ if out.body.extra.contains_key("toolConfig") => None,
            Some(choice) if tools.is_some() => CHOICES.get(choice, |c| rendered(translate_tool_choice(c)?))?.as_ref(),
            _ => None,
        };
        out.member("tools", tools);
        out.member("toolConfig", tool_config);
        Ok(out)
    }

    pub(crate) fn read_reply(body: &[u8]) -> Result<ChatCompletion, ProviderError> {
        let reply: ContentReply<'_> = read_body(body, "the reply is not a Gemini response")?;
        Ok(completion(reply))
    }
}

fn translate_tools(tools: &Value, subset: bool) -> Result<Vec<Tool>, String> {
    let declarations = chat_tools(tools)?
        .into_iter()
        .map(|ChatTool { name, description, parameters, .. }| {
            let (json_schema, openapi) =
                if subset { (None, Some(raw(&openapi_schema(parameters)?)?)) } else { (Some(raw(parameters)?), None) };
            Ok(FunctionDeclaration {
                name: name.to_owned(),
                description: description.map(str::to_owned),
                parameters_json_schema: json_schema,
                parameters: openapi,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(vec![Tool { function_declarations: declarations }])
}

fn raw(value: &Value) -> Result<RawJson, String> {
    RawJson::new(value).map_err(|e| e.to_string())
}

fn translate_tool_choice(choice: &Value) -> Result<ToolConfig, String> {
    let (mode, allowed) = match chat_tool_choice(choice)? {
        ToolChoice::Auto => ("AUTO", Vec::new()),
        ToolChoice::Required => ("ANY", Vec::new()),
        ToolChoice::None => ("NONE", Vec::new()),
        ToolChoice::Function(name) => ("ANY", vec![name]),
    };
    Ok(ToolConfig {
        function_calling_config: FunctionCallingConfig { mode: mode.to_owned(), allowed_function_names: allowed },
    })
}

/// JSON replies: `responseMimeType`, and the schema when the mode attaches one.
fn translate_format(format: &Value, subset: bool) -> Result<GenerationConfig, String> {
    let schema = match chat_response_format(format)? {
        ResponseFormat::AnyObject => None,
        ResponseFormat::ObjectWithSchema(schema) | ResponseFormat::Schema { schema, .. } => Some(schema),
    };
    let mut config = GenerationConfig { response_mime_type: Some("application/json".to_owned()), ..Default::default() };
    match schema {
        Some(schema) if subset => config.response_schema = Some(raw(&openapi_schema(schema)?)?),
        Some(schema) => config.response_json_schema = Some(raw(schema)?),
        None => {}
    }
    Ok(config)
}

/// A JSON Schema rewritten into the OpenAPI 3.0 subset Gemini's `responseSchema` takes: local
/// `$ref`s inlined, types in capitals, `null` alternatives turned into `nullable`, `const` into
/// a one-value `enum`, and keywords and formats the subset lacks dropped. Recursive schemas
/// cannot be inlined and are refused.
///
/// ```
/// let schema = serde_json::json!({"type": "object", "properties": {"age": {"type": ["integer", "null"]}}});
/// let subset = instructor::openapi_schema(&schema).unwrap();
/// assert_eq!(subset["properties"]["age"], serde_json::json!({"type": "INTEGER", "nullable": true}));
/// ```
pub fn openapi_schema(schema: &Value) -> Result<Value, String> {
    fn walk(node: &Value, root: &Value, depth: usize) -> Result<Value, String> {
        if depth > 32 {
            return Err(
                "the schema is recursive (or nested deeper than 32 levels); the OpenAPI subset cannot express it"
                    .into(),
            );
        }
        let Some(object) = node.as_object() else { return Ok(json!({})) };
        if let Some(target) = object.get("$ref").and_then(Value::as_str) {
            let pointer =
                target.strip_prefix('#').ok_or_else(|| format!("only local $refs can be inlined: {target}"))?;
            let resolved = root.pointer(pointer).ok_or_else(|| format!("$ref {target} points nowhere"))?;
            return walk(resolved, root, depth + 1);
        }
        let mut out = Map::new();
        let mut nullable = false;
        for (key, value) in object {
            match key.as_str() {
                "type" => match value {
                    Value::Array(types) => {
                        let named: Vec<&Value> = types.iter().filter(|t| t.as_str() != Some("null")).collect();
                        nullable |= named.len() < types.len();
                        match named.as_slice() {
                            [Value::String(one)] => {
                                out.insert("type".into(), Value::String(one.to_ascii_uppercase()));
                            }
                            _ => return Err(format!("a value of several types {value} has no OpenAPI-subset form")),
                        }
                    }
                    Value::String(t) if t == "null" => nullable = true,
                    Value::String(t) => {
                        out.insert("type".into(), Value::String(t.to_ascii_uppercase()));
                    }
                    other => return Err(format!("`type` must be a string, got {other}")),
                },
                "anyOf" | "oneOf" => {
                    let branches = value.as_array().ok_or("anyOf is not a list")?;
                    let mut kept = Vec::new();
                    for branch in branches {
                        if branch.get("type").and_then(Value::as_str) == Some("null") {
                            nullable = true;
                        } else {
                            kept.push(walk(branch, root, depth + 1)?);
                        }
                    }
                    match kept.len() {
                        0 => {}
                        1 => {
                            if let Some(Value::Object(inner)) = kept.pop() {
                                out.extend(inner);
                            }
                        }
                        _ => {
                            out.insert("anyOf".into(), Value::Array(kept));
                        }
                    }
                }
                "allOf" => {
                    for branch in value.as_array().ok_or("allOf is not a list")? {
                        if let Value::Object(inner) = walk(branch, root, depth + 1)? {
                            out.extend(inner);
                        }
                    }
                }
                "const" => {
                    out.insert("enum".into(), json!([value]));
                }
                "properties" => {
                    let mut props = Map::new();
                    for (name, schema) in value.as_object().ok_or("properties is not an object")? {
                        props.insert(name.clone(), walk(schema, root, depth + 1)?);
                    }
                    out.insert("properties".into(), Value::Object(props));
                }
                "items" => {
                    out.insert("items".into(), walk(value, root, depth + 1)?);
                }
                // The subset knows a few formats; others (`uint32`, `email`, ...) are only hints.
                "format"
                    if matches!(
                        value.as_str(),
                        Some("int32" | "int64" | "float" | "double" | "enum" | "date-time")
                    ) =>
                {
                    out.insert(key.clone(), value.clone());
                }
                "enum" | "required" | "description" | "nullable" | "minItems" | "maxItems" | "minimum" | "maximum"
                | "minLength" | "maxLength" | "pattern" | "title" | "minProperties" | "maxProperties"
                | "propertyOrdering" | "default" | "example" => {
                    out.insert(key.clone(), value.clone());
                }
                // `$schema`, `$defs`, `additionalProperties`, `exclusiveMinimum`, ...: not in the subset.
                _ => {}
            }
        }
        if let Some(Value::Array(values)) = out.get("enum") {
            if values.iter().any(|v| !v.is_string()) {
                return Err(format!(
                    "enum values must be strings in the OpenAPI subset: {}",
                    Value::Array(values.clone())
                ));
            }
        }
        if nullable {
            out.insert("nullable".into(), Value::Bool(true));
        }
        Ok(Value::Object(out))
    }
    walk(schema, schema, 0)
}

/// The conversation as Gemini turns: system messages leave it (`systemInstruction`), the
/// assistant is `model`, tool calls are `functionCall` parts and their answers
/// `functionResponse` parts of a user turn; consecutive turns of one role merge.
fn contents(messages: &[Message]) -> Vec<Content> {
    let mut out: Vec<Content> = Vec::with_capacity(messages.len());
    for (i, message) in messages.iter().enumerate() {
        let (role, parts) = match message.role {
            Role::System => continue,
            Role::User => {
                // Sized up front: a part is large, and a list grown by pushing holds four.
                let mut parts = Vec::with_capacity(message.media.len() + 1);
                parts.extend(message.media.iter().map(media_part));
                if !text_of(message).is_empty() || parts.is_empty() {
                    parts.push(Part::text(text_of(message)));
                }
                ("user", parts)
            }
            Role::Tool => {
                let id = message.tool_call_id.as_deref().unwrap_or_default();
                let name = called_function(messages, i, id).unwrap_or_default().to_owned();
                let key = if message.is_error { "error" } else { "output" };
                let response = FunctionResponse { id: sent_id(id), name, response: json!({ key: text_of(message) }) };
                ("user", vec![Part { function_response: Some(Box::new(response)), ..Part::default() }])
            }
            Role::Assistant => {
                let mut parts = Vec::with_capacity(1 + message.tool_calls.len());
                let text = text_of(message);
                if !text.is_empty() {
                    parts.push(Part::text(text));
                }
                for call in &message.tool_calls {
                    let args = RawValue::from_string(arguments_object(&call.function.arguments).to_string()).ok();
                    parts.push(Part {
                        function_call: Some(Box::new(FunctionCall {
                            id: sent_id(&call.id),
                            name: call.function.name.clone(),
                            args,
                        })),
                        thought_signature: call.signature.clone(),
                        ..Part::default()
                    });
                }
                ("model", parts)
            }
        };
        match out.last_mut() {
            Some(last) if last.role.as_deref() == Some(role) => last.parts.extend(parts),
            _ => out.push(Content { role: Some(role.to_owned()), parts }),
        }
    }
    out
}

/// Inline bytes, or a file Gemini fetches by URI.
fn media_part(media: &Media) -> Part {
    match (media.base64(), media.url()) {
        (Some(data), _) => Part {
            inline_data: Some(Box::new(Blob { mime_type: media.media_type().to_owned(), data })),
            ..Part::default()
        },
        (None, url) => Part {
            file_data: Some(Box::new(FileData {
                mime_type: Some(media.media_type().to_owned()),
                file_uri: url.unwrap_or_default().to_owned(),
            })),
            ..Part::default()
        },
    }
}

fn sent_id(id: &str) -> Option<String> {
    (!id.is_empty() && !id.starts_with(MADE_UP_ID)).then(|| id.to_owned())
}

fn finish_reason(reason: &str, called: bool) -> FinishReason {
    match reason {
        "STOP" if called => FinishReason::ToolCalls,
        "STOP" => FinishReason::Stop,
        "MAX_TOKENS" => FinishReason::Length,
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY" | "LANGUAGE" => {
            FinishReason::ContentFilter
        }
        other => FinishReason::Other(other.to_owned()),
    }
}

/// The parts of a reply as message text and tool calls (thought summaries are not the answer),
/// and the calls also as `deltas` when streaming. `calls` counts calls seen so far in a stream,
/// for their positions and made-up ids.
fn read_parts(
    parts: Vec<PartReply<'_>>,
    calls: &mut u32,
    message: &mut AssistantMessage,
    mut deltas: Option<&mut Vec<ToolCallDelta>>,
) {
    // Sized exactly: a list grown by pushing holds four calls.
    message.tool_calls.reserve_exact(parts.iter().filter(|p| p.function_call.is_some()).count());
    for part in parts {
        if part.thought == Some(true) {
            continue;
        }
        if let Some(text) = part.text {
            message.content.get_or_insert_with(String::new).push_str(&text);
        }
        if let Some(call) = part.function_call {
            let id = match call.id.filter(|id| !id.is_empty()) {
                Some(id) => id.into_owned(),
                None => made_up_id(*calls),
            };
            let arguments = call.args.map_or_else(|| "{}".to_owned(), |a| a.get().to_owned());
            let name = call.name.into_owned();
            if let Some(deltas) = deltas.as_deref_mut() {
                deltas.push(ToolCallDelta {
                    index: *calls,
                    id: Some(id.clone()),
                    name: Some(name.clone()),
                    arguments: Some(arguments.clone()),
                });
            }
            message.tool_calls.push(ToolCall {
                signature: part.thought_signature.map(Cow::into_owned),
                ..ToolCall::function(id, name, arguments)
            });
            *calls += 1;
        }
    }
}

/// The id of the `n`th call of a reply whose calls carry none (Gemini before 3), which
/// [`sent_id`] knows not to send back.
fn made_up_id(n: u32) -> String {
    use std::fmt::Write as _;
    let mut id = String::with_capacity(MADE_UP_ID.len() + 10);
    id.push_str(MADE_UP_ID);
    let _ = write!(id, "{n}");
    id
}

fn completion(reply: ContentReply<'_>) -> ChatCompletion {
    let mut message = AssistantMessage::default();
    let mut finish = None;
    let mut calls = 0;
    if let Some(candidate) = reply.candidate {
        let parts = candidate.content.map(|c| c.parts).unwrap_or_default();
        read_parts(parts, &mut calls, &mut message, None);
        finish = candidate.finish_reason.as_deref().map(|r| finish_reason(r, calls > 0));
    } else if let Some(reason) = reply.prompt_feedback.and_then(|f| f.block_reason) {
        message.refusal = Some(format!("the prompt was blocked ({reason})"));
        finish = Some(FinishReason::ContentFilter);
    }
    if finish == Some(FinishReason::ContentFilter) && message.refusal.is_none() {
        message.refusal = Some("the reply was blocked by the provider's safety filters".to_owned());
    }
    ChatCompletion {
        id: reply.response_id.map(Cow::into_owned).unwrap_or_default(),
        model: reply.model_version.map(Cow::into_owned).unwrap_or_default(),
        created: 0,
        choices: vec![Choice { index: 0, message, finish_reason: finish }],
        usage: reply.usage_metadata.map(Usage::from),
    }
}

/// Gemini's error body: a `google.rpc.Status`, whose `RetryInfo` says how long to wait.
pub(crate) fn error_body(_: StatusCode, body: &[u8]) -> ErrorBody {
    match serde_json::from_slice::<wire::ErrorResponse>(body) {
        Ok(e) => ErrorBody {
            retry_after: e.error.retry_delay(),
            error_type: (!e.error.status.is_empty()).then(|| e.error.status.clone()),
            message: e.error.message,
        },
        Err(_) => ErrorBody { message: snippet(body), ..ErrorBody::default() },
    }
}

impl Provider for Gemini {
    fn complete<'a>(&'a self, request: &'a CompletionRequest) -> BoxFuture<'a, Result<ChatCompletion, ProviderError>> {
        Box::pin(async move {
            let url = self.endpoint(&request.model, "generateContent")?;
            let body = self.translate(request)?.encode(request)?;
            let reply = self.transport.post(&url, body).await?;
            Gemini::read_reply(&reply)
        })
    }

    fn check_request(&self, mode: Mode, request: &CompletionRequest) -> Result<(), Error> {
        unsupported_mode(Api::Gemini, mode)?;
        if request.extra.contains_key("repeat_penalty") {
            return Err(Error::request(
                "`repeat_penalty` is not accepted by the Gemini API; use frequency_penalty or presence_penalty",
            ));
        }
        media::GEMINI.check(&request.messages, self.media.cap)
    }

    fn stream<'a>(&'a self, request: &'a CompletionRequest) -> BoxFuture<'a, Result<DeltaStream<'a>, ProviderError>> {
        Box::pin(async move {
            let url = self.endpoint(&request.model, "streamGenerateContent?alt=sse")?;
            let body = self.translate(request)?.encode(request)?;
            let response = self.transport.open_stream(&url, body).await?;
            let stream: DeltaStream<'a> = Box::pin(sse_stream(response, self.transport.max_body(), Chunks::default()));
            Ok(stream)
        })
    }
}

/// Reads Gemini's stream: each event is a whole response holding the new parts; there is no end
/// marker, so the chunk with a finish reason makes the reply whole.
#[derive(Debug, Default)]
pub(crate) struct Chunks {
    calls: u32,
    finished: bool,
    named: bool,
}

impl EventDecoder for Chunks {
    fn decode(&mut self, _event: Option<&str>, data: &str) -> Result<Step, ProviderError> {
        let chunk: ContentReply<'_> = serde_json::from_str(data).map_err(|e| undecodable(data, e))?;
        if let Some(error) = chunk.error {
            let reported = ProviderError::new(
                ProviderErrorKind::Stream,
                format!("the server reported an error ({}): {}", error.status, error.message),
            );
            return Err(if error.status.is_empty() { reported } else { reported.with_error_type(error.status) });
        }
        let mut delta = CompletionDelta { usage: chunk.usage_metadata.map(Usage::from), ..CompletionDelta::default() };
        if !self.named {
            delta.id = chunk.response_id.map(Cow::into_owned);
            delta.model = chunk.model_version.map(Cow::into_owned);
            self.named = true;
        }
        if let Some(candidate) = chunk.candidate {
            let mut message = AssistantMessage::default();
            let before = self.calls;
            read_parts(
                candidate.content.map(|c| c.parts).unwrap_or_default(),
                &mut self.calls,
                &mut message,
                Some(&mut delta.tool_calls),
            );
            delta.content = message.content;
            if let Some(reason) = candidate.finish_reason {
                let reason = finish_reason(&reason, self.calls > 0 || self.calls > before);
                if reason == FinishReason::ContentFilter {
                    delta.refusal = Some("the reply was blocked by the provider's safety filters".to_owned());
                }
                delta.finish_reason = Some(reason);
                self.finished = true;
            }
        } else if let Some(reason) = chunk.prompt_feedback.and_then(|f| f.block_reason) {
            delta.refusal = Some(format!("the prompt was blocked ({reason})"));
            delta.finish_reason = Some(FinishReason::ContentFilter);
            self.finished = true;
        }
        Ok(Step::Delta(delta))
    }

    fn complete(&self) -> bool {
        self.finished
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openapi_subset_inlines_refs_and_nullables() {
        let schema = json!({
            "$defs": {"Address": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                                  "additionalProperties": false}},
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "age": {"type": ["integer", "null"]},
                "home": {"anyOf": [{"$ref": "#/$defs/Address"}, {"type": "null"}]},
                "kind": {"const": "person"}
            },
            "required": ["name"]
        });
        assert_eq!(
            openapi_schema(&schema).expect("subset"),
            json!({
                "type": "OBJECT",
                "properties": {
                    "name": {"type": "STRING"},
                    "age": {"type": "INTEGER", "nullable": true},
                    "home": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}, "required": ["city"], "nullable": true},
                    "kind": {"enum": ["person"]}
                },
                "required": ["name"]
            })
        );
        let recursive = json!({"$defs": {"N": {"type": "object", "properties": {"next": {"$ref": "#/$defs/N"}}}}, "$ref": "#/$defs/N"});
        assert!(openapi_schema(&recursive).expect_err("recursive").contains("recursive"));
    }

    #[test]
    fn tool_answers_name_their_function() {
        let assistant = Message {
            tool_calls: vec![ToolCall::function("gemini_call_0", "UserDetails", r#"{"name":"Jason"}"#)],
            ..Message::assistant("")
        };
        let turns = contents(&[
            Message::user("Jason is 20"),
            assistant,
            Message::tool_error("gemini_call_0", "age: missing"),
            Message::user("Call again."),
        ]);
        assert_eq!(
            serde_json::to_value(&turns).expect("json"),
            json!([
                {"role": "user", "parts": [{"text": "Jason is 20"}]},
                {"role": "model", "parts": [{"functionCall": {"name": "UserDetails", "args": {"name": "Jason"}}}]},
                {"role": "user", "parts": [
                    {"functionResponse": {"name": "UserDetails", "response": {"error": "age: missing"}}},
                    {"text": "Call again."}
                ]}
            ])
        );
    }

    #[test]
    fn old_models_take_the_subset() {
        assert!(needs_openapi_subset("gemini-1.5-flash"));
        assert!(needs_openapi_subset("models/gemini-2.0-flash"));
        assert!(!needs_openapi_subset("gemini-2.5-flash"));
    }

    #[test]
    fn endpoints_are_parsed_once_for_the_first_models_and_per_call_after() {
        let transport = HttpTransport::new(
            "https://example.test",
            reqwest::header::HeaderMap::new(),
            crate::RetryPolicy::default(),
            1 << 20,
            error_body,
        )
        .expect("transport");
        let gemini = Gemini::new(transport, MediaPolicy::default());
        for round in 0..2 {
            for n in 0..ENDPOINTS + 2 {
                let model = format!("gemini-test-{n}");
                let url = gemini.endpoint(&model, "generateContent").expect("url");
                assert_eq!(url.as_str(), format!("https://example.test/v1beta/models/{model}:generateContent"));
                assert_eq!(matches!(url, Cow::Borrowed(_)), n < ENDPOINTS, "round {round}, model {n}");
            }
        }
        assert!(gemini.endpoint("bad/model", "generateContent").is_err());
    }
}
