//! The hosted APIs, one module each. Each is an adapter between the library's request and reply
//! (chat-completions shaped: [`CompletionRequest`], [`ChatCompletion`], [`CompletionDelta`]) and
//! one wire format (`crate::wire::*`); the modes, the re-ask turn and the stream parser stay
//! where they are and know nothing of the API underneath.

pub(crate) mod anthropic;
pub(crate) mod chat;
pub(crate) mod gemini;
pub(crate) mod responses;

use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;

use bytes::Bytes;

use serde_json::Value;

use crate::error::{Error, ProviderError, ProviderErrorKind};
use crate::modes::Mode;
use crate::wire::{CompletionRequest, Message, RawJson, Role};

/// The wire format a hosted provider speaks.
///
/// ```
/// use instructor::Api;
/// assert_eq!("anthropic".parse::<Api>().unwrap(), Api::Anthropic);
/// assert_eq!(Api::Responses.to_string(), "openai-responses");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Api {
    /// OpenAI's chat completions (`POST {base}/chat/completions`), and every compatible server.
    #[default]
    ChatCompletions,
    /// OpenAI's Responses API (`POST {base}/responses`).
    Responses,
    /// Anthropic's Messages API (`POST {base}/v1/messages`).
    Anthropic,
    /// Google's Gemini API (`POST {base}/v1beta/models/{model}:generateContent`).
    Gemini,
}

impl Api {
    /// The name on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Api::ChatCompletions => "openai",
            Api::Responses => "openai-responses",
            Api::Anthropic => "anthropic",
            Api::Gemini => "gemini",
        }
    }

    /// The modes this API can carry, with the reason for each one it cannot.
    pub fn check_mode(self, mode: Mode) -> Result<(), String> {
        let why = match (self, mode) {
            (Api::Anthropic, Mode::JsonSchema) => {
                "Anthropic has no JSON mode that takes a schema; use `structured-outputs` (constrained to the \
                 schema) or `json` (the schema in the prompt)"
            }
            (Api::Gemini, Mode::ToolsStrict) => {
                "Gemini has no strict function schemas; use `tools`, or `structured-outputs` for a reply \
                 constrained to the schema"
            }
            _ => return Ok(()),
        };
        Err(format!("mode `{mode}` is not available on the {} API: {why}", self.as_str()))
    }
}

impl fmt::Display for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Api {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "openai" | "chat" | "chat-completions" => Ok(Api::ChatCompletions),
            "openai-responses" | "responses" => Ok(Api::Responses),
            "anthropic" | "claude" => Ok(Api::Anthropic),
            "gemini" | "google" => Ok(Api::Gemini),
            _ => Err(format!("unknown API `{s}` (known: openai, openai-responses, anthropic, gemini)")),
        }
    }
}

/// The repetition penalties a request may carry in its extra fields (see
/// [`ChatRequest::frequency_penalty`](crate::ChatRequest::frequency_penalty)).
pub(crate) const PENALTIES: [&str; 3] = ["frequency_penalty", "presence_penalty", "repeat_penalty"];

pub(crate) fn unsupported_mode(api: Api, mode: Mode) -> Result<(), Error> {
    api.check_mode(mode).map_err(Error::Request)
}

/// Translations of a request fragment a mode renders once per schema (tools, tool choice,
/// response format) into one API's shape, so that each is translated once, not per call.
///
/// The translation is kept with the fragment itself, in the slot this cache names: reading it
/// back is a load and a borrow. A lock or a shared map here was written by every call, and at
/// 64 concurrent calls on two threads those writes cost more than the translation saved.
pub(crate) struct FragmentCache<T> {
    slot: usize,
    translated: PhantomData<fn() -> T>,
}

/// The fragment slots, numbered in one place so that no two translations share one.
pub(crate) mod slot {
    pub(crate) const RESPONSES_TOOLS: usize = 0;
    pub(crate) const RESPONSES_CHOICE: usize = 1;
    pub(crate) const RESPONSES_FORMAT: usize = 2;
    pub(crate) const ANTHROPIC_TOOLS: usize = 3;
    pub(crate) const ANTHROPIC_CHOICE: usize = 4;
    pub(crate) const ANTHROPIC_FORMAT: usize = 5;
    pub(crate) const GEMINI_TOOLS: usize = 6;
    pub(crate) const GEMINI_SUBSET_TOOLS: usize = 7;
    pub(crate) const GEMINI_CHOICE: usize = 8;
    pub(crate) const GEMINI_FORMAT: usize = 9;
    pub(crate) const GEMINI_SUBSET_FORMAT: usize = 10;
    /// For the cache's own tests.
    pub(crate) const TEST: usize = 15;

    /// Every slot is below `wire::TRANSLATIONS` and no two are the same: checked when compiling.
    const _: () = {
        let all = [
            RESPONSES_TOOLS,
            RESPONSES_CHOICE,
            RESPONSES_FORMAT,
            ANTHROPIC_TOOLS,
            ANTHROPIC_CHOICE,
            ANTHROPIC_FORMAT,
            GEMINI_TOOLS,
            GEMINI_SUBSET_TOOLS,
            GEMINI_CHOICE,
            GEMINI_FORMAT,
            GEMINI_SUBSET_FORMAT,
            TEST,
        ];
        let mut i = 0;
        while i < all.len() {
            assert!(all[i] < crate::wire::TRANSLATIONS);
            let mut j = i + 1;
            while j < all.len() {
                assert!(all[i] != all[j]);
                j += 1;
            }
            i += 1;
        }
    };
}

impl<T: Send + Sync + 'static> FragmentCache<T> {
    /// The cache of translations kept in `slot` (one of [`slot`]'s).
    pub(crate) const fn new(slot: usize) -> Self {
        FragmentCache { slot, translated: PhantomData }
    }

    /// The translation of `fragment`, computed by `translate` the first time.
    pub(crate) fn get<'f>(
        &self,
        fragment: &'f RawJson,
        translate: impl FnOnce(&Value) -> Result<T, String>,
    ) -> Result<&'f T, ProviderError> {
        let cell = fragment.translation(self.slot);
        if cell.get().is_none() {
            let translated = translate(&fragment.to_value()).map_err(|e| {
                ProviderError::new(ProviderErrorKind::Decode, format!("cannot translate the request: {e}"))
            })?;
            // Two threads may translate at once; both results are the same.
            let _ = cell.set(Box::new(translated));
        }
        Ok(cell.get().and_then(|t| t.downcast_ref::<T>()).expect("each slot holds one type"))
    }
}

/// Renders a translated fragment as JSON text once, for [`Outgoing`]; `None` for an empty list,
/// which the wire types leave out rather than send as `[]`.
pub(crate) fn rendered<T: serde::Serialize>(translated: T) -> Result<Option<RawJson>, String> {
    let raw = RawJson::new(&translated).map_err(|e| e.to_string())?;
    Ok((raw.get() != "[]").then_some(raw))
}

/// The most members an [`Outgoing`] body takes (tools and tool choice).
const MEMBERS: usize = 2;

/// A request body on its way out, with the members a mode renders once per schema (tools, tool
/// choice) kept as JSON text beside it: the body leaves them out and [`Outgoing::encode`] adds
/// them to its JSON, so a call neither copies nor re-encodes them.
pub(crate) struct Outgoing<'r, B> {
    pub(crate) body: B,
    members: [Option<(&'static str, &'r RawJson)>; MEMBERS],
}

impl<'r, B: serde::Serialize> Outgoing<'r, B> {
    pub(crate) fn new(body: B) -> Self {
        Outgoing { body, members: [None, None] }
    }

    /// Adds `"name": raw` to the body (`name` is a plain key the body leaves out).
    pub(crate) fn member(&mut self, name: &'static str, raw: Option<&'r RawJson>) {
        let Some(raw) = raw else { return };
        let slot = self.members.iter_mut().find(|m| m.is_none());
        debug_assert!(slot.is_some(), "room for {} members; `{name}` is one more", MEMBERS);
        if let Some(slot) = slot {
            *slot = Some((name, raw));
        }
    }

    /// The added member `name`, read back as `T` (for a caller that needs the whole typed body).
    pub(crate) fn take_member<T: serde::de::DeserializeOwned>(
        &mut self,
        name: &str,
    ) -> Result<Option<T>, ProviderError> {
        let Some(slot) = self.members.iter_mut().find(|m| m.as_ref().is_some_and(|(n, _)| *n == name)) else {
            return Ok(None);
        };
        let (_, raw) = slot.take().unwrap_or_else(|| unreachable!("found above"));
        serde_json::from_str(raw.get()).map(Some).map_err(|e| {
            ProviderError::new(ProviderErrorKind::Decode, format!("cannot translate the request's `{name}`: {e}"))
        })
    }

    /// The body as JSON with the members added; `like` is the library's request it was made from,
    /// whose size it roughly has (so the buffer is allocated once, not grown by doubling).
    pub(crate) fn encode(&self, like: &CompletionRequest) -> Result<Bytes, ProviderError> {
        let mut out = Vec::with_capacity(like.encoded_size_hint());
        serde_json::to_writer(&mut out, &self.body)
            .map_err(|e| ProviderError::new(ProviderErrorKind::Decode, format!("cannot encode the request: {e}")))?;
        if out.last() != Some(&b'}') {
            return Err(ProviderError::new(ProviderErrorKind::Decode, "cannot encode the request: not an object"));
        }
        out.pop();
        for (name, raw) in self.members.iter().flatten() {
            if out.len() > 1 {
                out.push(b',');
            }
            out.push(b'"');
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"\":");
            out.extend_from_slice(raw.get().as_bytes());
        }
        out.push(b'}');
        Ok(Bytes::from(out))
    }
}

/// The text of a message's content, or "" (tool-only turns).
pub(crate) fn text_of(message: &Message) -> &str {
    message.content.as_deref().unwrap_or_default()
}

/// System messages, joined: the APIs that take instructions apart from the conversation.
pub(crate) fn system_text(messages: &[Message]) -> Option<String> {
    let mut parts = messages.iter().filter(|m| m.role == Role::System).map(text_of);
    let mut text = parts.next()?.to_owned();
    for part in parts {
        text.push_str("\n\n");
        text.push_str(part);
    }
    Some(text)
}

/// The function a tool message answers, found by its call id among the assistant turns before it
/// (Gemini names the function in its answer; chat completions only quote the id).
pub(crate) fn called_function<'a>(messages: &'a [Message], upto: usize, call_id: &str) -> Option<&'a str> {
    messages[..upto]
        .iter()
        .rev()
        .flat_map(|m| m.tool_calls.iter())
        .find(|c| c.id == call_id)
        .map(|c| c.function.name.as_str())
}

/// Tool arguments as a JSON object, for the APIs that carry them as objects (Anthropic's `input`,
/// Gemini's `args`). Arguments that are not an object (a rejected reply being echoed in a re-ask)
/// are kept as text under `_raw`, so the model still sees what it wrote.
pub(crate) fn arguments_object(arguments: &str) -> Value {
    if arguments.trim().is_empty() {
        return Value::Object(Default::default());
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(value @ Value::Object(_)) => value,
        _ => serde_json::json!({ "_raw": arguments }),
    }
}

/// One tool of the `tools` fragment in the chat-completions shape.
pub(crate) struct ChatTool<'a> {
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub parameters: &'a Value,
    pub strict: bool,
}

/// The `tools` fragment in the chat-completions shape.
pub(crate) fn chat_tools(tools: &Value) -> Result<Vec<ChatTool<'_>>, String> {
    let list = tools.as_array().ok_or("`tools` is not a list")?;
    list.iter()
        .map(|tool| {
            let f = tool.get("function").ok_or("a tool has no `function`")?;
            let name = f.get("name").and_then(Value::as_str).ok_or("a tool has no name")?;
            let description = f.get("description").and_then(Value::as_str).filter(|d| !d.is_empty());
            static EMPTY_OBJECT: std::sync::LazyLock<Value> =
                std::sync::LazyLock::new(|| serde_json::json!({"type": "object", "properties": {}}));
            let parameters = f.get("parameters").unwrap_or(&EMPTY_OBJECT);
            let strict = f.get("strict").and_then(Value::as_bool).unwrap_or(false);
            Ok(ChatTool { name, description, parameters, strict })
        })
        .collect()
}

/// The `tool_choice` fragment in the chat-completions shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ToolChoice {
    Auto,
    Required,
    None,
    Function(String),
}

pub(crate) fn chat_tool_choice(choice: &Value) -> Result<ToolChoice, String> {
    match choice {
        Value::String(s) if s == "auto" => Ok(ToolChoice::Auto),
        Value::String(s) if s == "required" => Ok(ToolChoice::Required),
        Value::String(s) if s == "none" => Ok(ToolChoice::None),
        other => other
            .pointer("/function/name")
            .and_then(Value::as_str)
            .map(|n| ToolChoice::Function(n.to_owned()))
            .ok_or_else(|| format!("unknown tool_choice {other}")),
    }
}

/// The `response_format` fragment in the chat-completions shape.
#[derive(Debug, Clone)]
pub(crate) enum ResponseFormat<'a> {
    /// `{"type":"json_object"}`: JSON, schema (if any) in the prompt.
    AnyObject,
    /// `{"type":"json_object","schema":...}`.
    ObjectWithSchema(&'a Value),
    /// `{"type":"json_schema","json_schema":{name, description, schema, strict}}`.
    Schema { name: &'a str, description: Option<&'a str>, schema: &'a Value, strict: bool },
}

pub(crate) fn chat_response_format(format: &Value) -> Result<ResponseFormat<'_>, String> {
    match format.get("type").and_then(Value::as_str) {
        Some("json_object") => Ok(match format.get("schema") {
            Some(schema) => ResponseFormat::ObjectWithSchema(schema),
            None => ResponseFormat::AnyObject,
        }),
        Some("json_schema") => {
            let spec = format.get("json_schema").ok_or("json_schema without `json_schema`")?;
            Ok(ResponseFormat::Schema {
                name: spec.get("name").and_then(Value::as_str).unwrap_or("response"),
                description: spec.get("description").and_then(Value::as_str).filter(|d| !d.is_empty()),
                schema: spec.get("schema").ok_or("json_schema without a schema")?,
                strict: spec.get("strict").and_then(Value::as_bool).unwrap_or(false),
            })
        }
        other => Err(format!("unknown response_format type {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fragments_are_translated_once_per_allocation() {
        let cache = FragmentCache::<Value>::new(slot::TEST);
        let fragment = RawJson::new(&json!({"a": 1})).expect("raw");
        // A failed translation is not kept.
        assert!(cache.get(&fragment, |_| Err("not yet".to_owned())).is_err());
        let mut calls = 0;
        for shared in [fragment.clone(), fragment.clone(), fragment] {
            let out = cache
                .get(&shared, |v| {
                    calls += 1;
                    Ok(json!({"b": v["a"]}))
                })
                .expect("translated");
            assert_eq!(*out, json!({"b": 1}));
        }
        assert_eq!(calls, 1);
        // An equal fragment in another allocation is translated again (it may be another schema's).
        let other = RawJson::new(&json!({"a": 1})).expect("raw");
        assert_eq!(*cache.get(&other, |_| Ok(json!("again"))).expect("translated"), json!("again"));
    }

    #[test]
    fn members_rendered_once_are_added_to_the_body_as_json() {
        let like = CompletionRequest::new("m", Vec::new());
        let tools = rendered(json!([{"name": "UserDetails", "input_schema": {"type": "object"}}])).expect("render");
        let choice = rendered(json!({"type": "tool", "name": "UserDetails"})).expect("render");
        let mut out = Outgoing::new(json!({"model": "m", "messages": []}));
        out.member("tools", tools.as_ref());
        out.member("tool_choice", choice.as_ref());
        let sent: Value = serde_json::from_slice(&out.encode(&like).expect("encode")).expect("valid JSON");
        assert_eq!(
            sent,
            json!({"model": "m", "messages": [],
                "tools": [{"name": "UserDetails", "input_schema": {"type": "object"}}],
                "tool_choice": {"type": "tool", "name": "UserDetails"}})
        );
        // An empty body takes its first member without a comma; an empty list is no member.
        assert_eq!(rendered(Vec::<Value>::new()).expect("render"), None);
        let mut bare = Outgoing::new(json!({}));
        let one = rendered(json!([1])).expect("render");
        bare.member("tools", one.as_ref());
        assert_eq!(&bare.encode(&like).expect("encode")[..], br#"{"tools":[1]}"#);
        // Read back for a caller that needs the typed body; what is taken is no longer added.
        assert_eq!(out.take_member::<Vec<Value>>("tools").expect("typed").map(|t| t.len()), Some(1));
        assert_eq!(out.take_member::<Value>("tools").expect("typed"), None);
        let sent: Value = serde_json::from_slice(&out.encode(&like).expect("encode")).expect("valid JSON");
        assert!(sent.get("tools").is_none() && sent.get("tool_choice").is_some());
        // A body that is not an object is an error, not broken JSON.
        assert!(Outgoing::new(json!([1])).encode(&like).is_err());
    }

    #[test]
    fn system_messages_are_joined_by_blank_lines() {
        assert_eq!(system_text(&[Message::user("hi")]), None);
        assert_eq!(system_text(&[Message::system("a"), Message::user("hi")]).as_deref(), Some("a"));
        let two = [Message::system("a"), Message::user("hi"), Message::system("b")];
        assert_eq!(system_text(&two).as_deref(), Some("a\n\nb"));
    }

    #[test]
    fn arguments_become_objects() {
        assert_eq!(arguments_object(r#"{"a":1}"#), json!({"a": 1}));
        assert_eq!(arguments_object(""), json!({}));
        assert_eq!(arguments_object("[1]"), json!({"_raw": "[1]"}));
        assert_eq!(arguments_object("{'a': 1"), json!({"_raw": "{'a': 1"}));
    }
}
