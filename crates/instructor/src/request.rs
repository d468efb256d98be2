//! The caller's request, built step by step.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::modes::Mode;
use crate::wire::Message;

/// A chat request for a typed value: model, messages, and how hard to try.
///
/// ```
/// use instructor::{ChatRequest, Mode};
/// let request = ChatRequest::new("mistralai/Mixtral-8x7B-Instruct-v0.1")
///     .system("You are a world class extractor")
///     .user(r#"Extract the following entities: "Jason is 20""#)
///     .mode(Mode::JsonSchema)
///     .max_retries(2);
/// assert_eq!(request.messages().len(), 2);
/// ```
#[derive(Debug, Clone)]
pub struct ChatRequest {
    pub(crate) model: String,
    pub(crate) messages: Vec<Message>,
    pub(crate) mode: Option<Mode>,
    pub(crate) max_retries: u32,
    pub(crate) temperature: Option<f32>,
    pub(crate) top_p: Option<f32>,
    pub(crate) max_tokens: Option<u32>,
    pub(crate) seed: Option<i64>,
    pub(crate) context: Option<Value>,
    pub(crate) strict: bool,
    pub(crate) extra: Map<String, Value>,
}

impl ChatRequest {
    /// A request to `model`, with no messages yet and one re-ask allowed.
    pub fn new(model: impl Into<String>) -> Self {
        ChatRequest {
            model: model.into(),
            messages: Vec::new(),
            mode: None,
            max_retries: 1,
            temperature: None,
            top_p: None,
            max_tokens: None,
            seed: None,
            context: None,
            strict: false,
            extra: Map::new(),
        }
    }

    /// Appends a system message.
    pub fn system(self, text: impl Into<String>) -> Self {
        self.message(Message::system(text))
    }

    /// Appends a user message: text, or text and media mixed with [`parts!`](crate::parts).
    ///
    /// ```
    /// # fn run(receipt: instructor::Image) {
    /// use instructor::{ChatRequest, parts};
    /// let request = ChatRequest::new("gpt-4o-mini").user(parts!["Extract the receipt's total", receipt]);
    /// # let _ = request; }
    /// ```
    pub fn user(self, content: impl Into<crate::Content>) -> Self {
        self.message(Message::user_parts(content))
    }

    /// Appends an assistant message (for few-shot examples).
    pub fn assistant(self, text: impl Into<String>) -> Self {
        self.message(Message::assistant(text))
    }

    /// Appends any message.
    pub fn message(mut self, message: Message) -> Self {
        self.messages.push(message);
        self
    }

    /// Appends several messages.
    pub fn messages_from(mut self, messages: impl IntoIterator<Item = Message>) -> Self {
        self.messages.extend(messages);
        self
    }

    /// Overrides the client's mode for this request.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = Some(mode);
        self
    }

    /// Refuses to repair almost-JSON (single quotes, trailing commas, `"20"` for an integer, ...):
    /// such a reply is re-asked instead. Off by default; what was repaired is listed in
    /// [`Extraction::repairs`](crate::Extraction::repairs).
    ///
    /// ```
    /// let request = instructor::ChatRequest::new("gpt-4o-mini").user("Jason is 20").strict(true);
    /// # let _ = request;
    /// ```
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// How many times to re-ask after a reply fails to parse or validate (default 1): at most
    /// `n + 1` requests. HTTP retries are separate (see [`RetryPolicy`](crate::RetryPolicy)).
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }

    /// Sampling temperature.
    pub fn temperature(mut self, t: f32) -> Self {
        self.temperature = Some(t);
        self
    }

    /// Nucleus sampling.
    pub fn top_p(mut self, p: f32) -> Self {
        self.top_p = Some(p);
        self
    }

    /// The most tokens a reply may have.
    pub fn max_tokens(mut self, n: u32) -> Self {
        self.max_tokens = Some(n);
        self
    }

    /// OpenAI's frequency penalty (-2 to 2): tokens are lowered by how often they were used.
    /// Chat completions, Gemini and the embedded engine take it; Anthropic's and the Responses
    /// API refuse it (an error before sending).
    ///
    /// ```
    /// let request = instructor::ChatRequest::new("gpt-4o-mini").frequency_penalty(0.5).presence_penalty(0.2);
    /// # let _ = request;
    /// ```
    pub fn frequency_penalty(self, penalty: f32) -> Self {
        self.extra("frequency_penalty", penalty)
    }

    /// OpenAI's presence penalty (-2 to 2): tokens used at all are lowered once.
    pub fn presence_penalty(self, penalty: f32) -> Self {
        self.extra("presence_penalty", penalty)
    }

    /// llama.cpp's repetition penalty (1 = none, 1.1 is typical), for llama.cpp-based servers
    /// and the embedded engine.
    pub fn repeat_penalty(self, penalty: f32) -> Self {
        self.extra("repeat_penalty", penalty)
    }

    /// A seed, for servers that sample reproducibly.
    pub fn seed(mut self, seed: i64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Data for `{{ placeholders }}` in the messages (minijinja syntax), also handed to
    /// [`Validate::validate`](crate::Validate::validate).
    ///
    /// ```
    /// let request = instructor::ChatRequest::new("gpt-4o-mini")
    ///     .user("Extract the user from: {{ text }}")
    ///     .context(serde_json::json!({"text": "Jason is 20"}));
    /// # let _ = request;
    /// ```
    pub fn context(mut self, context: impl Serialize) -> Self {
        self.context = Some(serde_json::to_value(context).unwrap_or(Value::Null));
        self
    }

    /// A provider-specific field, sent as it is (`"top_k"`, `"repetition_penalty"`, ...).
    pub fn extra(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.extra.insert(key.into(), value.into());
        self
    }

    /// The model.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The reply's token allowance, or `default` when none was set.
    pub(crate) fn max_tokens_or(&self, default: u32) -> u32 {
        self.max_tokens.unwrap_or(default)
    }

    /// The messages so far.
    pub fn messages(&self) -> &[Message] {
        &self.messages
    }
}
