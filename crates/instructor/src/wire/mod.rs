//! Wire formats. This module is the chat-completions format, which is also the library's own
//! request and reply: every provider receives a [`CompletionRequest`] and returns a
//! [`ChatCompletion`]. The native APIs' formats live in [`anthropic`], [`gemini`] and
//! [`responses`], one module each; their providers translate to and from them.
//!
//! Requests are written exactly as OpenAI documents them. Responses are read tolerantly:
//! compatible servers add fields, omit others, send `content` as an array of parts, send tool
//! arguments as an object instead of a string, or invent finish reasons. None of that may break
//! parsing, so every field has a default and unknown fields are ignored.

use std::any::Any;
use std::fmt;
use std::ops::{Add, AddAssign};
use std::sync::{Arc, OnceLock};

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::media::{Content, Media, MediaKind};

pub mod anthropic;
pub(crate) mod cow;
pub mod gemini;
pub mod responses;

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions for the model.
    System,
    /// The user's turn.
    User,
    /// The model's turn.
    Assistant,
    /// The result of a tool call, answering the assistant's `tool_calls`.
    Tool,
}

/// One chat message, as sent to the model.
///
/// A user message may carry [`Media`] (images, PDFs, audio) beside its text; in the
/// chat-completions format its content is then a list of parts, the media first and the text
/// last (the order Anthropic and Google recommend, used for every provider).
///
/// ```
/// use instructor::Message;
/// let m = Message::user("Extract the following entities: \"Jason is 20\"");
/// assert_eq!(m.content.as_deref(), Some("Extract the following entities: \"Jason is 20\""));
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Message {
    /// Who wrote it.
    pub role: Role,
    /// Its text. Absent on an assistant turn that only calls tools.
    #[serde(default, deserialize_with = "content_text")]
    pub content: Option<String>,
    /// Images, PDFs and audio (user messages).
    #[serde(skip)]
    pub media: Vec<Media>,
    /// The tools an assistant turn called.
    #[serde(default)]
    pub tool_calls: Vec<ToolCall>,
    /// On a `tool` message: the id of the call it answers.
    #[serde(default)]
    pub tool_call_id: Option<String>,
    /// An optional author name.
    #[serde(default)]
    pub name: Option<String>,
    /// On a `tool` message: the call failed and `content` says why. Chat completions have no
    /// such flag (the text says it); Anthropic's `tool_result` carries it as `is_error`.
    #[serde(skip)]
    pub is_error: bool,
}

impl Serialize for Message {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("role", &self.role)?;
        if self.media.is_empty() {
            map.serialize_entry("content", &self.content)?;
        } else {
            map.serialize_entry("content", &ChatParts(self))?;
        }
        if !self.tool_calls.is_empty() {
            map.serialize_entry("tool_calls", &self.tool_calls)?;
        }
        if let Some(id) = &self.tool_call_id {
            map.serialize_entry("tool_call_id", id)?;
        }
        if let Some(name) = &self.name {
            map.serialize_entry("name", name)?;
        }
        map.end()
    }
}

/// A message's media and text as chat-completions content parts: `image_url` (a URL or a
/// `data:` URL, with `detail`), `file` (`file_data`, a PDF as a `data:` URL, with its name),
/// `input_audio` (base64 and format), then `text`. URLs of PDFs and audio, which the API does
/// not fetch, are inlined by the provider before it sends the request.
struct ChatParts<'a>(&'a Message);

impl Serialize for ChatParts<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error as _, SerializeSeq};
        let message = self.0;
        let mut seq = serializer.serialize_seq(None)?;
        for media in &message.media {
            let url = media.url().or(media.data_url()).unwrap_or_default();
            match media.kind() {
                MediaKind::Image => {
                    seq.serialize_element(&ImagePart { url, detail: media.image_detail() })?;
                }
                MediaKind::Pdf => {
                    let data = media.data_url().ok_or_else(|| S::Error::custom("a PDF URL must be fetched first"))?;
                    seq.serialize_element(&FilePart { filename: media.file_name(), file_data: data })?;
                }
                MediaKind::Audio => {
                    let data = media.base64().ok_or_else(|| S::Error::custom("an audio URL must be fetched first"))?;
                    seq.serialize_element(&AudioPart { data: data.as_str(), format: media.audio_format() })?;
                }
            }
        }
        if let Some(text) = message.content.as_deref().filter(|t| !t.is_empty()) {
            seq.serialize_element(&TextPart { text })?;
        }
        seq.end()
    }
}

#[derive(Serialize)]
#[serde(tag = "type", rename = "text")]
struct TextPart<'a> {
    text: &'a str,
}

struct ImagePart<'a> {
    url: &'a str,
    detail: Option<&'a str>,
}

impl Serialize for ImagePart<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Inner<'a> {
            url: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            detail: Option<&'a str>,
        }
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("type", "image_url")?;
        map.serialize_entry("image_url", &Inner { url: self.url, detail: self.detail })?;
        map.end()
    }
}

struct FilePart<'a> {
    filename: &'a str,
    file_data: &'a str,
}

impl Serialize for FilePart<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("type", "file")?;
        map.serialize_entry("file", &FileInner { filename: self.filename, file_data: self.file_data })?;
        map.end()
    }
}

#[derive(Serialize)]
struct FileInner<'a> {
    filename: &'a str,
    file_data: &'a str,
}

struct AudioPart<'a> {
    data: &'a str,
    format: &'a str,
}

impl Serialize for AudioPart<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Inner<'a> {
            data: &'a str,
            format: &'a str,
        }
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("type", "input_audio")?;
        map.serialize_entry("input_audio", &Inner { data: self.data, format: self.format })?;
        map.end()
    }
}

impl Message {
    fn text(role: Role, content: impl Into<String>) -> Self {
        Message {
            role,
            content: Some(content.into()),
            media: Vec::new(),
            tool_calls: Vec::new(),
            tool_call_id: None,
            name: None,
            is_error: false,
        }
    }

    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self::text(Role::System, content)
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self::text(Role::User, content)
    }

    /// A user message of text and media (see [`parts!`](crate::parts)).
    ///
    /// ```
    /// let png = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    /// let image = instructor::Image::from_bytes(png).unwrap();
    /// let m = instructor::Message::user_parts(instructor::parts!["What is in it?", image]);
    /// assert_eq!((m.content.as_deref(), m.media.len()), (Some("What is in it?"), 1));
    /// ```
    pub fn user_parts(content: impl Into<Content>) -> Self {
        let (text, media) = content.into().split();
        Message { content: text, media, ..Self::text(Role::User, "") }
    }

    /// An assistant message with text.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::text(Role::Assistant, content)
    }

    /// A tool message answering the call `tool_call_id`.
    pub fn tool(tool_call_id: impl Into<String>, content: impl Into<String>) -> Self {
        Message { tool_call_id: Some(tool_call_id.into()), ..Self::text(Role::Tool, content) }
    }

    /// A tool message saying that the call `tool_call_id` failed, and why.
    pub fn tool_error(tool_call_id: impl Into<String>, content: impl Into<String>) -> Self {
        Message { is_error: true, ..Self::tool(tool_call_id, content) }
    }
}

/// A function call made by the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The id a `tool` message must quote when answering. Some servers omit it.
    #[serde(default)]
    pub id: String,
    /// Always `"function"` today.
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    /// The function and its arguments.
    pub function: FunctionCall,
    /// An opaque token the provider attached to the call (Gemini's `thoughtSignature`), sent back
    /// with it when the turn is replayed in a re-ask.
    #[serde(skip)]
    pub signature: Option<String>,
}

impl ToolCall {
    /// A call to `name` with `arguments` (JSON text).
    pub fn function(id: impl Into<String>, name: impl Into<String>, arguments: impl Into<String>) -> ToolCall {
        ToolCall {
            id: id.into(),
            kind: function_type(),
            function: FunctionCall { name: name.into(), arguments: arguments.into() },
            signature: None,
        }
    }
}

fn function_type() -> String {
    "function".to_owned()
}

/// The function a [`ToolCall`] names, and its JSON arguments as text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    /// The function's name.
    #[serde(default)]
    pub name: String,
    /// The arguments, a JSON document as text (servers that send an object are accepted too).
    #[serde(default, deserialize_with = "arguments_text")]
    pub arguments: String,
}

/// A JSON fragment serialised once and shared by every request that carries it
/// (a tool list, a `response_format`): a schema is rendered once per type, never per call.
#[derive(Clone)]
pub struct RawJson(Arc<Fragment>);

/// The shared part of a [`RawJson`]: its text, and what providers made of it.
struct Fragment {
    raw: Box<RawValue>,
    /// Translations of the fragment into other APIs' shapes, made once on first use (see
    /// `providers::FragmentCache`). Kept with the fragment so that reading one is a plain load:
    /// a lock or a shared map would be written by every call on every thread.
    translations: OnceLock<Box<[OnceLock<Translation>; TRANSLATIONS]>>,
}

/// One translation of a fragment; its type is known to the provider that made it.
pub(crate) type Translation = Box<dyn Any + Send + Sync>;

/// How many translations a fragment can hold (providers number theirs below this).
pub(crate) const TRANSLATIONS: usize = 16;

impl PartialEq for RawJson {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

impl RawJson {
    /// Serialises `value` once.
    pub fn new<T: Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        Ok(RawJson::from_raw(serde_json::value::to_raw_value(value)?))
    }

    /// The JSON text.
    pub fn get(&self) -> &str {
        self.0.raw.get()
    }

    /// Parses the fragment into a [`Value`] (for providers that inspect it, such as an embedded engine).
    pub fn to_value(&self) -> Value {
        serde_json::from_str(self.get()).unwrap_or(Value::Null)
    }

    /// Wraps JSON text that is known to be valid (a fragment read from a reply).
    pub fn from_raw(raw: Box<RawValue>) -> Self {
        RawJson(Arc::new(Fragment { raw, translations: OnceLock::new() }))
    }

    /// The place for translation number `slot` (below [`TRANSLATIONS`]) of this fragment.
    pub(crate) fn translation(&self, slot: usize) -> &OnceLock<Translation> {
        &self.0.translations.get_or_init(|| Box::new(std::array::from_fn(|_| OnceLock::new())))[slot]
    }
}

impl fmt::Debug for RawJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.get())
    }
}

impl Serialize for RawJson {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.raw.serialize(serializer)
    }
}

/// Read through a [`Value`], so it works inside any container (flattened or tagged ones too);
/// the client never reads fragments back on a hot path.
impl<'de> Deserialize<'de> for RawJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        RawJson::new(&value).map_err(de::Error::custom)
    }
}

/// A request to a chat-completions endpoint, after the mode has shaped it.
///
/// Providers receive this; users build a [`ChatRequest`](crate::ChatRequest) instead.
#[derive(Debug, Clone, Serialize)]
pub struct CompletionRequest {
    /// The model name.
    pub model: String,
    /// The conversation.
    pub messages: Vec<Message>,
    /// Tool definitions (`[{"type":"function","function":{...}}]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tools: Option<RawJson>,
    /// `"auto"` or `{"type":"function","function":{"name":...}}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<RawJson>,
    /// `{"type":"json_object"}`, `{"type":"json_object","schema":...}` or `{"type":"json_schema",...}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_format: Option<RawJson>,
    /// Sampling temperature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Nucleus sampling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    /// The most tokens the reply may have.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// A seed for reproducible sampling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// Streamed replies (the streaming API sets this).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stream: bool,
    /// Provider-specific fields, sent as they are.
    #[serde(flatten, skip_serializing_if = "Map::is_empty")]
    pub extra: Map<String, Value>,
}

impl CompletionRequest {
    /// About how many bytes this request takes as JSON: its fragments and texts, plus room for
    /// the keys around them.
    pub(crate) fn encoded_size_hint(&self) -> usize {
        let fragments = [&self.tools, &self.tool_choice, &self.response_format];
        let fragments: usize = fragments.into_iter().flatten().map(|f| f.get().len()).sum();
        let texts: usize = self
            .messages
            .iter()
            .map(|m| {
                48 + m.content.as_deref().map_or(0, str::len)
                    + m.tool_calls.iter().map(|c| 96 + c.function.arguments.len()).sum::<usize>()
            })
            .sum();
        256 + self.model.len() + fragments + texts
    }

    /// A plain request: `model`, `messages`, nothing else set.
    ///
    /// ```
    /// let request = instructor::CompletionRequest::new("m", vec![instructor::Message::user("hi")]);
    /// assert!(request.tools.is_none() && !request.stream);
    /// ```
    pub fn new(model: impl Into<String>, messages: Vec<Message>) -> Self {
        CompletionRequest {
            model: model.into(),
            messages,
            tools: None,
            tool_choice: None,
            response_format: None,
            temperature: None,
            top_p: None,
            max_tokens: None,
            seed: None,
            stream: false,
            extra: Map::new(),
        }
    }
}

/// Tokens spent, as reported by the server. Adds up across re-asks.
///
/// `prompt_tokens` counts every prompt token, read from a cache or not (as OpenAI counts them);
/// `cache_read_tokens` and `cache_write_tokens` say how many of them a prompt cache served or
/// stored (OpenAI's `cached_tokens`, Anthropic's `cache_read_input_tokens` and
/// `cache_creation_input_tokens`, Gemini's `cachedContentTokenCount`).
///
/// ```
/// use instructor::Usage;
/// let total = Usage::new(10, 5) + Usage::new(12, 6);
/// assert_eq!((total.prompt_tokens, total.completion_tokens, total.total_tokens), (22, 11, 33));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "UsageWire")]
pub struct Usage {
    /// Tokens in the prompt.
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Tokens generated.
    #[serde(default)]
    pub completion_tokens: u64,
    /// Their sum.
    #[serde(default)]
    pub total_tokens: u64,
    /// Prompt tokens read from the provider's prompt cache.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cache_read_tokens: u64,
    /// Prompt tokens written to the provider's prompt cache.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cache_write_tokens: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Usage as chat-completions servers send it: cached tokens inside `prompt_tokens_details`.
#[derive(Deserialize)]
struct UsageWire {
    #[serde(default, deserialize_with = "null_as_default")]
    prompt_tokens: u64,
    #[serde(default, deserialize_with = "null_as_default")]
    completion_tokens: u64,
    #[serde(default, deserialize_with = "null_as_default")]
    total_tokens: u64,
    #[serde(default)]
    prompt_tokens_details: Option<PromptDetails>,
    #[serde(default)]
    cache_read_tokens: u64,
    #[serde(default)]
    cache_write_tokens: u64,
}

#[derive(Deserialize)]
struct PromptDetails {
    #[serde(default, deserialize_with = "null_as_default")]
    cached_tokens: u64,
}

impl From<UsageWire> for Usage {
    fn from(w: UsageWire) -> Usage {
        let cached = w.prompt_tokens_details.map_or(0, |d| d.cached_tokens);
        Usage {
            prompt_tokens: w.prompt_tokens,
            completion_tokens: w.completion_tokens,
            total_tokens: w.total_tokens,
            cache_read_tokens: w.cache_read_tokens.max(cached),
            cache_write_tokens: w.cache_write_tokens,
        }
    }
}

impl Usage {
    /// A usage record; `total_tokens` is the sum.
    pub fn new(prompt_tokens: u64, completion_tokens: u64) -> Self {
        Usage {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
            cache_read_tokens: 0,
            cache_write_tokens: 0,
        }
    }
}

impl AddAssign for Usage {
    fn add_assign(&mut self, rhs: Usage) {
        self.prompt_tokens += rhs.prompt_tokens;
        self.completion_tokens += rhs.completion_tokens;
        self.total_tokens += rhs.total_tokens;
        self.cache_read_tokens += rhs.cache_read_tokens;
        self.cache_write_tokens += rhs.cache_write_tokens;
    }
}

impl Add for Usage {
    type Output = Usage;
    fn add(mut self, rhs: Usage) -> Usage {
        self += rhs;
        self
    }
}

/// Why the model stopped. Unknown reasons from compatible servers are kept as [`FinishReason::Other`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FinishReason {
    /// A natural end or a stop sequence.
    Stop,
    /// `max_tokens` was reached: the reply is cut short.
    Length,
    /// The model called tools.
    ToolCalls,
    /// A content filter stopped it.
    ContentFilter,
    /// The deprecated single-function form.
    FunctionCall,
    /// Anything else a server says (`eos`, `end_turn`, ...).
    Other(String),
}

impl FinishReason {
    /// The reason as the server spelled it.
    pub fn as_str(&self) -> &str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::ToolCalls => "tool_calls",
            FinishReason::ContentFilter => "content_filter",
            FinishReason::FunctionCall => "function_call",
            FinishReason::Other(s) => s,
        }
    }
}

impl From<&str> for FinishReason {
    fn from(s: &str) -> Self {
        match s {
            "stop" => FinishReason::Stop,
            "length" => FinishReason::Length,
            "tool_calls" => FinishReason::ToolCalls,
            "content_filter" => FinishReason::ContentFilter,
            "function_call" => FinishReason::FunctionCall,
            other => FinishReason::Other(other.to_owned()),
        }
    }
}

impl Serialize for FinishReason {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for FinishReason {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Ok(FinishReason::from(s.as_ref()))
    }
}

/// The model's reply message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AssistantMessage {
    /// Its text, if any (array-of-parts content is joined).
    #[serde(default, deserialize_with = "content_text")]
    pub content: Option<String>,
    /// Tool calls, if any.
    #[serde(default, deserialize_with = "null_as_default")]
    pub tool_calls: Vec<ToolCall>,
    /// A refusal (OpenAI structured outputs), if the model declined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
}

impl AssistantMessage {
    /// The same turn as a request message, for re-asking.
    pub fn to_message(&self) -> Message {
        Message {
            role: Role::Assistant,
            content: self.content.clone(),
            tool_calls: self.tool_calls.clone(),
            tool_call_id: None,
            name: None,
            media: Vec::new(),
            is_error: false,
        }
    }
}

/// One alternative reply.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    /// Its position.
    #[serde(default)]
    pub index: u32,
    /// The message.
    #[serde(default)]
    pub message: AssistantMessage,
    /// Why generation stopped.
    #[serde(default)]
    pub finish_reason: Option<FinishReason>,
}

/// A chat completion as the server returned it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletion {
    /// The server's id for it.
    #[serde(default)]
    pub id: String,
    /// The model that answered.
    #[serde(default)]
    pub model: String,
    /// Unix time of creation.
    #[serde(default)]
    pub created: u64,
    /// The replies; the first is used.
    #[serde(default, deserialize_with = "null_as_default")]
    pub choices: Vec<Choice>,
    /// Tokens spent, when reported.
    #[serde(default)]
    pub usage: Option<Usage>,
}

impl ChatCompletion {
    /// The first choice's message, if there is one.
    pub fn message(&self) -> Option<&AssistantMessage> {
        self.choices.first().map(|c| &c.message)
    }

    /// The first choice's finish reason.
    pub fn finish_reason(&self) -> Option<&FinishReason> {
        self.choices.first().and_then(|c| c.finish_reason.as_ref())
    }
}

fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// `content` may be a string, null, or an array of `{"type":"text","text":...}` parts.
/// A hand-written visitor: an untagged enum would buffer every reply before parsing it.
fn content_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    struct Part {
        #[serde(default)]
        text: Option<String>,
    }
    struct ContentVisitor;
    impl<'de> de::Visitor<'de> for ContentVisitor {
        type Value = Option<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string, null, or an array of text parts")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(v.to_owned()))
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut text = String::new();
            while let Some(part) = seq.next_element::<Part>()? {
                text.push_str(part.text.as_deref().unwrap_or_default());
            }
            Ok(Some(text))
        }
    }
    deserializer.deserialize_any(ContentVisitor)
}

/// Tool arguments are a JSON string per OpenAI; some servers (Ollama) send the object itself.
fn arguments_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    struct ArgumentsVisitor;
    impl<'de> de::Visitor<'de> for ArgumentsVisitor {
        type Value = String;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON string or object")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_owned())
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
            Ok(v)
        }
        fn visit_unit<E: de::Error>(self) -> Result<String, E> {
            Ok(String::new())
        }
        fn visit_none<E: de::Error>(self) -> Result<String, E> {
            Ok(String::new())
        }
        fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<String, A::Error> {
            let value = Map::deserialize(de::value::MapAccessDeserializer::new(map))?;
            Ok(Value::Object(value).to_string())
        }
    }
    deserializer.deserialize_any(ArgumentsVisitor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerant_completion_parsing() {
        let body = r#"{
            "id": "x", "object": "chat.completion", "weird": {"a": 1},
            "choices": [{"index": 0, "finish_reason": "eos", "logprobs": null,
                "message": {"role": "assistant", "content": [{"type": "text", "text": "hi"}, {"type":"text","text":"!"}],
                    "tool_calls": [{"function": {"name": "f", "arguments": {"a": 1}}}]}}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7, "prompt_tokens_details": {}}
        }"#;
        let c: ChatCompletion = serde_json::from_str(body).expect("parses");
        let m = c.message().expect("a message");
        assert_eq!(m.content.as_deref(), Some("hi!"));
        assert_eq!(m.tool_calls[0].function.arguments, r#"{"a":1}"#);
        assert_eq!(m.tool_calls[0].kind, "function");
        assert_eq!(c.finish_reason(), Some(&FinishReason::Other("eos".into())));
        assert_eq!(c.usage, Some(Usage::new(3, 4)));
        let cached: Usage = serde_json::from_str(
            r#"{"prompt_tokens":30,"completion_tokens":4,"total_tokens":34,"prompt_tokens_details":{"cached_tokens":20}}"#,
        )
        .expect("usage");
        assert_eq!(cached.cache_read_tokens, 20);
    }

    #[test]
    fn null_fields_are_defaults() {
        let c: ChatCompletion =
            serde_json::from_str(r#"{"choices":[{"message":{"content":null,"tool_calls":null}}],"usage":null}"#)
                .expect("parses");
        assert_eq!(c.message().expect("message").content, None);
        assert!(c.message().expect("message").tool_calls.is_empty());
    }

    #[test]
    fn request_serialises_raw_fragments_verbatim() {
        let req = CompletionRequest {
            response_format: Some(RawJson::new(&serde_json::json!({"type": "json_object"})).expect("raw")),
            ..CompletionRequest::new("m", vec![Message::user("hi")])
        };
        assert_eq!(
            serde_json::to_string(&req).expect("serialises"),
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_object"}}"#
        );
    }
}
