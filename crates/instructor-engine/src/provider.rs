//! The engine as an `instructor::Provider`: a chat-completions request in, a completion out,
//! with the request's `response_format` or forced tool turned into a grammar.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use instructor::{
    AssistantMessage, BoxFuture, ChatCompletion, Choice, CompletionDelta, CompletionRequest, DeltaStream, FinishReason,
    MediaKind, Message, Provider, ProviderError, ProviderErrorKind, Role, ToolCall, ToolCallDelta, Usage,
};
use serde_json::{Value, json};

use crate::EngineError;
use crate::engine::{Constraint, Engine, JsonCompactor, Sampling, Stop};

/// What the reply must be, read off the request.
#[derive(Debug, PartialEq)]
enum Plan {
    Text(Constraint),
    /// A forced call to one function: the output is its arguments.
    Tool {
        name: String,
        parameters: Value,
    },
    /// Calls to any of these functions, `[{"name", "arguments"}, ...]`; unless `required`, the
    /// model may answer in words instead (`tool_choice: "auto"`).
    Tools {
        tools: Vec<(String, Value)>,
        required: bool,
    },
    /// A constraint read off the prompt (a schema written in it), and what to use instead when
    /// that schema does not compile.
    Inferred(Constraint, Constraint),
}

/// Whether the conversation ends with a function's answer: only then may a reply under
/// `tool_choice: "auto"` be words rather than calls. (Given the choice from the start, the 135M
/// model answered in words to every one of the tool tests' questions; after a function has
/// answered, words are what ends an agent's loop.)
///
/// ```
/// use instructor::Message;
/// assert!(!instructor_engine::tool_has_answered(&[Message::user("Weather in Paris?")]));
/// assert!(instructor_engine::tool_has_answered(&[
///     Message::user("Weather in Paris?"),
///     Message::tool("call_0", "18 degrees and sunny"),
/// ]));
/// ```
pub fn tool_has_answered(messages: &[Message]) -> bool {
    messages.last().is_some_and(|m| m.role == Role::Tool)
}

fn plan(request: &CompletionRequest) -> Plan {
    let tools: Vec<(String, Value)> = request
        .tools
        .as_ref()
        .map(|t| t.to_value())
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|tool| {
            let f = tool.get("function")?;
            let name = f.get("name")?.as_str()?.to_owned();
            let parameters = f.get("parameters").cloned().unwrap_or_else(|| json!({"type": "object"}));
            Some((name, parameters))
        })
        .collect();
    let choice = request.tool_choice.as_ref().map(|c| c.to_value());
    let answered = tool_has_answered(&request.messages);
    if !tools.is_empty() {
        let forced = choice.as_ref().and_then(|c| c.pointer("/function/name")).and_then(Value::as_str);
        match (forced, choice.as_ref().and_then(Value::as_str)) {
            (Some(name), _) => {
                if let Some((name, parameters)) = tools.iter().find(|(n, _)| n == name).cloned() {
                    return Plan::Tool { name, parameters };
                }
            }
            (None, Some("none")) => {}
            (None, _) if tools.len() == 1 && choice.is_none() && !answered => {
                let (name, parameters) = tools[0].clone();
                return Plan::Tool { name, parameters };
            }
            (None, Some("required")) => return Plan::Tools { tools, required: true },
            (None, _) => return Plan::Tools { tools, required: !answered },
        }
    }
    let format = request.response_format.as_ref().map(|f| f.to_value()).unwrap_or(Value::Null);
    match format.get("type").and_then(Value::as_str) {
        Some("json_object") => match format.get("schema") {
            Some(schema) if schema.is_object() => Plan::Text(Constraint::JsonSchema(schema.clone())),
            // JSON mode with the schema in the prompt (instructor's `JSON` mode): hold the reply
            // to the schema the prompt asks for, which a small model would otherwise echo.
            _ => match schema_in_prompt(request) {
                Some(schema) => Plan::Inferred(Constraint::JsonSchema(schema), Constraint::JsonObject),
                None => Plan::Text(Constraint::JsonObject),
            },
        },
        Some("json_schema") => match format.pointer("/json_schema/schema") {
            Some(schema) => Plan::Text(Constraint::JsonSchema(schema.clone())),
            None => Plan::Text(Constraint::JsonObject),
        },
        // Plain text whose prompt gives a schema and asks for a ```json block (`MD_JSON`).
        _ => match schema_in_prompt(request).filter(|_| asks_for_fence(request)) {
            Some(schema) => Plan::Inferred(Constraint::FencedJson(schema), Constraint::None),
            None => Plan::Text(Constraint::None),
        },
    }
}

/// The first JSON Schema written out in a system or user message: a JSON object with
/// `properties`, `$defs` or `"type": "object"`.
fn schema_in_prompt(request: &CompletionRequest) -> Option<Value> {
    let texts = request
        .messages
        .iter()
        .filter(|m| matches!(m.role, Role::System | Role::User))
        .filter_map(|m| m.content.as_deref());
    for text in texts {
        // A bounded number of tries per message: each `{` may start the schema.
        for (start, _) in text.match_indices('{').take(32) {
            let mut values = serde_json::Deserializer::from_str(&text[start..]).into_iter::<Value>();
            if let Some(Ok(Value::Object(object))) = values.next() {
                let schema_like = object.get("properties").is_some_and(Value::is_object)
                    || object.contains_key("$defs")
                    || object.get("type").and_then(Value::as_str) == Some("object");
                if schema_like {
                    return Some(Value::Object(object));
                }
            }
        }
    }
    None
}

/// Where `schema` is written out in `text`, as JSON.
fn schema_span(text: &str, schema: &Value) -> Option<std::ops::Range<usize>> {
    for (start, _) in text.match_indices('{').take(32) {
        let mut values = serde_json::Deserializer::from_str(&text[start..]).into_iter::<Value>();
        if let Some(Ok(value)) = values.next() {
            if &value == schema {
                return Some(start..start + values.byte_offset());
            }
        }
    }
    None
}

fn asks_for_fence(request: &CompletionRequest) -> bool {
    request
        .messages
        .iter()
        .filter_map(|m| m.content.as_deref())
        .any(|t| t.contains("```json") || t.contains("codeblock") || t.contains("code block"))
}

/// The most tool calls one reply may hold.
const MAX_CALLS: usize = 16;

/// The schema of a list of calls to any of `tools`.
fn calls_schema(tools: &[(String, Value)]) -> Value {
    let variants: Vec<Value> = tools
        .iter()
        .map(|(name, parameters)| {
            json!({
                "type": "object",
                "properties": { "name": { "const": name }, "arguments": parameters },
                "required": ["name", "arguments"],
            })
        })
        .collect();
    // Greedy decoding on a small model can repeat calls for ever: a bound lets the array close.
    json!({ "type": "array", "minItems": 1, "maxItems": MAX_CALLS, "items": { "anyOf": variants } })
}

/// The functions a reply may call, for the model to choose among: small models trained on
/// function calling saw them as a JSON list, with the reply a list of `{"name", "arguments"}`.
fn tool_menu(request: &CompletionRequest, required: bool) -> Option<String> {
    let tools = request.tools.as_ref()?.to_value();
    let functions: Vec<&Value> = tools.as_array()?.iter().filter_map(|tool| tool.get("function")).collect();
    if functions.is_empty() {
        return None;
    }
    let list = serde_json::to_string(&functions).ok()?;
    let answer = r#"a list of calls: [{"name": "function name", "arguments": {"argument": "value"}}]"#;
    let how = if required {
        format!("Answer with {answer}")
    } else {
        format!("When the question needs them, answer with {answer}\nOnce a function has answered, reply in words.")
    };
    Some(format!(
        "You are given a question and a set of possible functions. Based on the question, make only the \
         function calls it needs: one call for each thing it asks.\n\nThe functions:\n<tools>{list}</tools>\n\n{how}"
    ))
}

/// The conversation as (role, text) pairs for the chat template: tool results become user
/// turns, and an assistant's tool calls become their arguments, since small chat templates
/// know only system, user and assistant.
fn transcript(request: &CompletionRequest) -> Vec<(String, String)> {
    request
        .messages
        .iter()
        .map(|m| {
            let text = m.content.clone().unwrap_or_default();
            match m.role {
                Role::System => ("system".to_owned(), text),
                Role::User => ("user".to_owned(), text),
                Role::Assistant if !m.tool_calls.is_empty() => {
                    let calls: Vec<&str> = m.tool_calls.iter().map(|c| c.function.arguments.as_str()).collect();
                    ("assistant".to_owned(), calls.join("\n"))
                }
                Role::Assistant => ("assistant".to_owned(), text),
                Role::Tool => ("user".to_owned(), text),
            }
        })
        .collect()
}

impl Engine {
    /// What the reply must be, and the grammar that holds it to that.
    fn plan_and_constraint(&self, request: &CompletionRequest) -> (Plan, Constraint) {
        let plan = match plan(request) {
            Plan::Inferred(_, fallback) if !self.reads_prompt_schemas() => Plan::Text(fallback),
            plan => plan,
        };
        let constraint = match &plan {
            Plan::Text(c) => c.clone(),
            Plan::Inferred(c, fallback) => {
                if self.can_use(c) {
                    c.clone()
                } else {
                    fallback.clone()
                }
            }
            Plan::Tool { parameters, .. } => Constraint::JsonSchema(parameters.clone()),
            Plan::Tools { tools, required: true } => Constraint::JsonSchema(calls_schema(tools)),
            Plan::Tools { tools, required: false } => Constraint::JsonOrText(calls_schema(tools)),
        };
        (plan, constraint)
    }

    /// The templated prompt the model reads for `request`.
    fn prompt_for(
        &self,
        request: &CompletionRequest,
        plan: &Plan,
        constraint: &Constraint,
    ) -> Result<String, EngineError> {
        let mut messages = transcript(request);
        if let Constraint::JsonSchema(schema) | Constraint::FencedJson(schema) = constraint {
            // The grammar holds the reply to the schema; written out in the prompt as well, it
            // distracts a small model, which copies phrases from it into the values (measured:
            // README.md, "The embedded model").
            for (_, text) in &mut messages {
                if let Some(span) = schema_span(text, schema) {
                    text.replace_range(span, "");
                }
            }
        }
        if let Plan::Tools { required, .. } = plan {
            // Otherwise the model knows the functions only by the names the grammar allows.
            if let Some(menu) = tool_menu(request, *required) {
                match messages.first_mut() {
                    Some((role, text)) if role == "system" => *text = format!("{text}\n\n{menu}"),
                    _ => messages.insert(0, ("system".to_owned(), menu)),
                }
            }
        }
        self.prompt(&messages)
    }

    /// How many tokens of reply the context has room for after `request`'s prompt.
    pub fn reply_room(&self, request: &CompletionRequest) -> Result<u32, EngineError> {
        let (plan, constraint) = self.plan_and_constraint(request);
        let prompt = self.prompt_for(request, &plan, &constraint)?;
        Ok(self.room_after(&prompt))
    }

    /// What of a request's schema (its response format's, or its forced tool's) the grammar
    /// cannot enforce, as [`Engine::unenforced`] says; or the error when it cannot be used.
    pub fn unenforced_in(&self, request: &CompletionRequest) -> Result<Vec<String>, EngineError> {
        let (_, constraint) = self.plan_and_constraint(request);
        self.unenforced(&constraint)
    }

    /// Answers a chat-completions request (blocking).
    pub fn complete_blocking(&self, request: &CompletionRequest) -> Result<ChatCompletion, EngineError> {
        self.complete_streaming(request, None, &mut |_| {})
    }

    /// As [`complete_blocking`](Self::complete_blocking), handing out the reply as it is
    /// generated: text for a text reply, the arguments of a forced tool call. (Several tool calls
    /// are one grammar-constrained array, handed out whole at the end.)
    pub fn complete_streaming(
        &self,
        request: &CompletionRequest,
        cancel: Option<&AtomicBool>,
        on_delta: &mut dyn FnMut(CompletionDelta),
    ) -> Result<ChatCompletion, EngineError> {
        let (plan, constraint) = self.plan_and_constraint(request);
        let extra = |name: &str| request.extra.get(name).and_then(Value::as_f64).map(|v| v as f32);
        let sampling = Sampling {
            temperature: request.temperature,
            top_p: request.top_p,
            top_k: request.extra.get("top_k").and_then(Value::as_u64).map(|k| k.min(u64::from(u32::MAX)) as u32),
            repeat_penalty: extra("repeat_penalty"),
            frequency_penalty: extra("frequency_penalty"),
            presence_penalty: extra("presence_penalty"),
            seed: request.seed.map_or(0, |s| s as u32),
            max_tokens: request.max_tokens,
        };
        let prompt = self.prompt_for(request, &plan, &constraint)?;
        // JSON the model laid out over lines is handed out compact; free text and fenced blocks
        // as written.
        let json_reply = match &constraint {
            Constraint::JsonSchema(_) | Constraint::JsonObject => true,
            Constraint::JsonOrText(_) | Constraint::FencedJson(_) | Constraint::None => false,
        };
        let mut compactor = JsonCompactor::default();
        let mut first = true;
        // `auto` with several tools: a reply in words streams; calls are handed out whole.
        let mut in_words: Option<bool> = None;
        let mut on_text = |text: &str| {
            let compacted;
            let text = if json_reply {
                compacted = compactor.push(text);
                if compacted.is_empty() {
                    return;
                }
                compacted.as_str()
            } else {
                text
            };
            let delta = match &plan {
                Plan::Text(_) | Plan::Inferred(..) => {
                    CompletionDelta { content: Some(text.to_owned()), ..CompletionDelta::default() }
                }
                Plan::Tools { required: false, .. } if text.is_empty() && in_words.is_none() => return,
                Plan::Tools { required: false, .. }
                    if *in_words.get_or_insert_with(|| !text.starts_with(['[', '{'])) =>
                {
                    CompletionDelta { content: Some(text.to_owned()), ..CompletionDelta::default() }
                }
                Plan::Tool { name, .. } => CompletionDelta {
                    tool_calls: vec![ToolCallDelta {
                        index: 0,
                        id: first.then(|| "call_0".to_owned()),
                        name: first.then(|| name.clone()),
                        arguments: Some(text.to_owned()),
                    }],
                    ..CompletionDelta::default()
                },
                Plan::Tools { .. } => return,
            };
            first = false;
            on_delta(delta);
        };
        let mut generation = self.generate_streaming(&prompt, &constraint, &sampling, cancel, &mut on_text)?;
        tracing::trace!(text = %generation.text, "raw output");
        if json_reply {
            generation.text = JsonCompactor::default().push(&generation.text);
        }
        tracing::debug!(
            prompt_tokens = generation.prompt_tokens,
            completion_tokens = generation.completion_tokens,
            prompt_ms = generation.prompt_time.as_millis() as u64,
            tokens_per_second = generation.tokens_per_second(),
            "generated"
        );
        let mut finish = match generation.stop {
            Stop::End => FinishReason::Stop,
            Stop::Length | Stop::Cancelled => FinishReason::Length,
        };
        let mut message = AssistantMessage::default();
        let call = |i: usize, name: &str, arguments: String| ToolCall::function(format!("call_{i}"), name, arguments);
        match plan {
            Plan::Text(_) | Plan::Inferred(..) => message.content = Some(generation.text),
            Plan::Tool { name, .. } => {
                message.tool_calls = vec![call(0, &name, generation.text)];
                // A call cut at the token limit is reported as cut, not as a finished call.
                if generation.stop == Stop::End {
                    finish = FinishReason::ToolCalls;
                }
            }
            Plan::Tools { required: false, .. } if !generation.text.starts_with(['[', '{']) => {
                message.content = Some(generation.text);
            }
            Plan::Tools { .. } => match serde_json::from_str::<Vec<Value>>(&generation.text) {
                Ok(calls) => {
                    message.tool_calls = calls
                        .iter()
                        .enumerate()
                        .map(|(i, c)| {
                            let name = c.get("name").and_then(Value::as_str).unwrap_or_default();
                            call(i, name, c.get("arguments").map(Value::to_string).unwrap_or_default())
                        })
                        .collect();
                    finish = FinishReason::ToolCalls;
                }
                // Cut short: hand back the text so the caller's re-ask can show it (as a delta
                // too, since a stream's closing delta leaves out the text).
                Err(_) => {
                    on_delta(CompletionDelta { content: Some(generation.text.clone()), ..CompletionDelta::default() });
                    message.content = Some(generation.text);
                }
            },
        }
        let created = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        Ok(ChatCompletion {
            id: format!("chatcmpl-local-{created}"),
            model: self.name().to_owned(),
            created,
            choices: vec![Choice { index: 0, message, finish_reason: Some(finish) }],
            usage: Some(Usage::new(u64::from(generation.prompt_tokens), u64::from(generation.completion_tokens))),
        })
    }
}

/// The kinds of media the loaded model reads: none, since the engine runs text-only GGUF
/// models. A vision model (a GGUF with its multimodal projector, through llama.cpp's `mtmd`)
/// would add images here, and its prompt would carry the image embeddings where the
/// chat-completions request has its `image_url` parts.
const MEDIA_READ: &[MediaKind] = &[];

impl Provider for Engine {
    /// Media the loaded model cannot read is refused, never dropped silently.
    fn check_request(&self, _mode: instructor::Mode, request: &CompletionRequest) -> Result<(), instructor::Error> {
        let unread = request.messages.iter().flat_map(|m| m.media.iter()).find(|m| !MEDIA_READ.contains(&m.kind()));
        match unread {
            Some(media) => Err(instructor::Error::Media(format!(
                "the embedded model ({}) reads text only: it cannot read {} input ({}); use a provider whose \
                 model reads it",
                self.name(),
                media.kind(),
                media.media_type()
            ))),
            None => Ok(()),
        }
    }

    /// Token by token: generation runs on a blocking thread and its pieces come through a
    /// channel; dropping the stream cancels the generation.
    fn stream<'a>(&'a self, request: &'a CompletionRequest) -> BoxFuture<'a, Result<DeltaStream<'a>, ProviderError>> {
        let engine = self.clone();
        let request = request.clone();
        Box::pin(async move {
            let (sender, mut receiver) =
                tokio::sync::mpsc::unbounded_channel::<Result<CompletionDelta, ProviderError>>();
            let cancel = Arc::new(AtomicBool::new(false));
            let worker_cancel = Arc::clone(&cancel);
            tokio::task::spawn_blocking(move || {
                let mut on_delta = |delta: CompletionDelta| {
                    if sender.send(Ok(delta)).is_err() {
                        worker_cancel.store(true, Ordering::Relaxed);
                    }
                };
                let last = match engine.complete_streaming(&request, Some(&worker_cancel), &mut on_delta) {
                    // The closing delta: what was not streamed (parallel tool calls), the finish
                    // reason and the usage.
                    Ok(completion) => Ok(closing_delta(completion)),
                    Err(e) => Err(ProviderError::new(ProviderErrorKind::Engine, e.to_string())),
                };
                sender.send(last).ok();
            });
            let guard = CancelOnDrop(cancel);
            let stream: DeltaStream<'a> = Box::pin(async_stream::stream! {
                let _guard = guard;
                while let Some(delta) = receiver.recv().await {
                    yield delta;
                }
            });
            Ok(stream)
        })
    }

    fn complete<'a>(&'a self, request: &'a CompletionRequest) -> BoxFuture<'a, Result<ChatCompletion, ProviderError>> {
        let engine = self.clone();
        let request = request.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || engine.complete_blocking(&request))
                .await
                .map_err(|e| ProviderError::new(ProviderErrorKind::Engine, format!("the engine task failed: {e}")))?
                .map_err(|e| ProviderError::new(ProviderErrorKind::Engine, e.to_string()))
        })
    }

    fn constrains_output(&self) -> bool {
        true
    }
}

/// Stops a generation whose stream was dropped.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// The last delta of a streamed generation: the finish reason, the usage, and any tool calls
/// that were not streamed piece by piece.
fn closing_delta(completion: ChatCompletion) -> CompletionDelta {
    let streamed_calls = completion.message().is_some_and(|m| m.tool_calls.len() == 1);
    let mut whole = CompletionDelta::from_completion(completion);
    whole.content = None;
    if streamed_calls {
        whole.tool_calls.clear();
    }
    whole
}

#[cfg(test)]
mod tests {
    use super::*;
    use instructor::{Message, RawJson};

    fn request(tools: Option<Value>, tool_choice: Option<Value>, response_format: Option<Value>) -> CompletionRequest {
        let raw = |v: Value| RawJson::new(&v).expect("raw");
        CompletionRequest {
            tools: tools.map(raw),
            tool_choice: tool_choice.map(raw),
            response_format: response_format.map(raw),
            ..CompletionRequest::new("m", vec![Message::user("hi")])
        }
    }

    #[test]
    fn a_schema_is_found_where_it_is_written() {
        let schema = json!({"type": "object", "properties": {"a": {"type": "integer"}}});
        let text = format!("Match this {{not json}} schema:\n\n{schema:#}\n\nThanks");
        let span = schema_span(&text, &schema).expect("found");
        assert_eq!(serde_json::from_str::<Value>(&text[span.clone()]).expect("json"), schema);
        assert!(text[span.end..].starts_with("\n\nThanks"));
        assert_eq!(schema_span(&text, &json!({"type": "object"})), None);
    }

    #[test]
    fn plans_follow_the_request() {
        let schema = json!({"type": "object", "properties": {"a": {"type": "integer"}}});
        let tools = json!([{"type": "function", "function": {"name": "A", "parameters": schema}},
                           {"type": "function", "function": {"name": "B", "parameters": {"type": "object"}}}]);
        assert_eq!(
            plan(&request(Some(tools.clone()), Some(json!({"type": "function", "function": {"name": "A"}})), None)),
            Plan::Tool { name: "A".into(), parameters: schema.clone() }
        );
        // `auto` calls until a function has answered; then words are allowed too.
        assert!(
            matches!(plan(&request(Some(tools.clone()), Some(json!("auto")), None)), Plan::Tools { tools: t, required: true } if t.len() == 2)
        );
        let mut answered = request(Some(tools.clone()), Some(json!("auto")), None);
        answered.messages.push(Message::tool("call_0", "done"));
        assert!(matches!(plan(&answered), Plan::Tools { required: false, .. }));
        answered.tool_choice = None;
        answered.tools = Some(RawJson::new(&json!([tools[0].clone()])).expect("raw"));
        assert!(matches!(plan(&answered), Plan::Tools { required: false, .. }), "one tool, no choice, answered");
        assert!(matches!(
            plan(&request(Some(tools.clone()), Some(json!("required")), None)),
            Plan::Tools { required: true, .. }
        ));
        assert_eq!(plan(&request(Some(tools), Some(json!("none")), None)), Plan::Text(Constraint::None));
        assert_eq!(
            plan(&request(None, None, Some(json!({"type": "json_object", "schema": schema.clone()})))),
            Plan::Text(Constraint::JsonSchema(schema.clone()))
        );
        assert_eq!(
            plan(&request(
                None,
                None,
                Some(json!({"type": "json_schema", "json_schema": {"name": "x", "schema": schema.clone()}}))
            )),
            Plan::Text(Constraint::JsonSchema(schema))
        );
        assert_eq!(
            plan(&request(None, None, Some(json!({"type": "json_object"})))),
            Plan::Text(Constraint::JsonObject)
        );
        assert_eq!(plan(&request(None, None, None)), Plan::Text(Constraint::None));
    }

    #[test]
    fn a_schema_written_in_the_prompt_constrains_json_mode_and_fenced_replies() {
        let schema = json!({"properties": {"name": {"type": "string"}}, "required": ["name"], "type": "object"});
        let prompt =
            format!("Answer in json that matches the following json_schema:\n\n{schema:#}\n\nReturn an instance.");
        let with = |format: Option<Value>, fence: bool| {
            let mut r = request(None, None, format);
            r.messages.insert(0, Message::system(prompt.clone()));
            if fence {
                r.messages.push(Message::user("Return the correct JSON response within a ```json codeblock."));
            }
            plan(&r)
        };
        assert_eq!(
            with(Some(json!({"type": "json_object"})), false),
            Plan::Inferred(Constraint::JsonSchema(schema.clone()), Constraint::JsonObject)
        );
        assert_eq!(with(None, true), Plan::Inferred(Constraint::FencedJson(schema.clone()), Constraint::None));
        assert_eq!(with(None, false), Plan::Text(Constraint::None), "no fence asked for: free text");
        // A schema in `response_format` wins over the prompt.
        let other = json!({"type": "object", "properties": {"a": {"type": "integer"}}});
        assert_eq!(
            with(Some(json!({"type": "json_object", "schema": other.clone()})), false),
            Plan::Text(Constraint::JsonSchema(other))
        );
        // Braces that are not a schema are not taken for one.
        let mut r = request(None, None, Some(json!({"type": "json_object"})));
        r.messages.insert(0, Message::system("Use {curly} braces and {\"a\": 1}."));
        assert_eq!(plan(&r), Plan::Text(Constraint::JsonObject));
    }
}
