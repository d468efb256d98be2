//! OpenAI's Responses API, natively: the library's request becomes a stateless `POST /responses`
//! body (`instructions`, input items, flat function tools, `text.format`, `store: false`), and
//! responses and their typed stream events become the library's completion and deltas.

use std::fmt;

use serde_json::Value;

use super::{
    ChatTool, FragmentCache, Outgoing, PENALTIES, ResponseFormat, ToolChoice as ChatToolChoice, chat_response_format,
    chat_tool_choice, chat_tools, rendered, slot, system_text, text_of,
};
use crate::error::{Error, ProviderError, ProviderErrorKind};
use crate::http::{HttpTransport, read_body};
use crate::media::{self, Media, MediaKind, MediaPolicy};
use crate::modes::Mode;
use crate::provider::{BoxFuture, Provider};
use crate::stream::{CompletionDelta, DeltaStream, EventDecoder, Step, ToolCallDelta, sse_stream, undecodable};
use crate::wire::responses::{
    ContentPart, CreateResponse, Input, InputItem, MessageContent, ResponseReply, StreamEvent, TextConfig, TextFormat,
    Tool, ToolChoice,
};
use crate::wire::{
    AssistantMessage, ChatCompletion, Choice, CompletionRequest, FinishReason, RawJson, Role, ToolCall, Usage,
};

/// This API's translations of the fragments a mode renders, kept with each (see [`FragmentCache`]).
const TOOLS: FragmentCache<Option<RawJson>> = FragmentCache::new(slot::RESPONSES_TOOLS);
const CHOICES: FragmentCache<Option<RawJson>> = FragmentCache::new(slot::RESPONSES_CHOICE);
const FORMATS: FragmentCache<TextFormat> = FragmentCache::new(slot::RESPONSES_FORMAT);

/// OpenAI's Responses API (`POST {base}/responses`). Requests are stateless (`store: false`);
/// a re-ask sends the rejected call back as `function_call` and `function_call_output` items
/// rather than pointing at a stored response. Built by [`ClientBuilder`](crate::ClientBuilder)
/// with [`Preset::OpenAiResponses`](crate::Preset::OpenAiResponses) or [`Api::Responses`](crate::Api).
pub struct OpenAiResponses {
    transport: HttpTransport,
    endpoint: reqwest::Url,
    media: MediaPolicy,
}

impl fmt::Debug for OpenAiResponses {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiResponses").field("endpoint", &self.endpoint).finish_non_exhaustive()
    }
}

impl OpenAiResponses {
    pub(crate) fn new(transport: HttpTransport, media: MediaPolicy) -> Result<Self, Error> {
        let endpoint = transport.endpoint("/responses")?;
        Ok(OpenAiResponses { transport, endpoint, media })
    }

    /// The URL requests go to.
    pub fn endpoint(&self) -> &str {
        self.endpoint.as_str()
    }

    /// The Responses request for `request`, its tools and tool choice kept apart as JSON text
    /// (see [`Outgoing`]).
    pub(crate) fn translate<'r>(
        &self,
        request: &'r CompletionRequest,
    ) -> Result<Outgoing<'r, CreateResponse>, ProviderError> {
        let mut out = CreateResponse {
            model: request.model.clone(),
            input: Input::Items(input(request)),
            instructions: system_text(&request.messages),
            max_output_tokens: request.max_tokens,
            temperature: request.temperature,
            top_p: request.top_p,
            store: Some(false),
            extra: request.extra.clone(),
            ..CreateResponse::default()
        };
        if let Some(format) = &request.response_format {
            out.text = Some(TextConfig { format: Some(FORMATS.get(format, translate_format)?.clone()) });
        }
        // Members the body might also carry through `extra` are left to it.
        let mut out = Outgoing::new(out);
        if let Some(tools) = request.tools.as_ref().filter(|_| !out.body.extra.contains_key("tools")) {
            out.member("tools", TOOLS.get(tools, |t| rendered(translate_tools(t)?))?.as_ref());
        }
        if let Some(choice) = request.tool_choice.as_ref().filter(|_| !out.body.extra.contains_key("tool_choice")) {
            out.member("tool_choice", CHOICES.get(choice, |c| rendered(translate_tool_choice(c)?))?.as_ref());
        }
        Ok(out)
    }
}

fn translate_tools(tools: &Value) -> Result<Vec<Tool>, String> {
    chat_tools(tools)?
        .into_iter()
        .map(|ChatTool { name, description, parameters, strict }| {
            Ok(Tool {
                kind: "function".to_owned(),
                name: name.to_owned(),
                description: description.map(str::to_owned),
                parameters: Some(RawJson::new(parameters).map_err(|e| e.to_string())?),
                strict: Some(strict),
            })
        })
        .collect()
}

fn translate_tool_choice(choice: &Value) -> Result<ToolChoice, String> {
    Ok(match chat_tool_choice(choice)? {
        ChatToolChoice::Auto => ToolChoice::Mode("auto".to_owned()),
        ChatToolChoice::Required => ToolChoice::Mode("required".to_owned()),
        ChatToolChoice::None => ToolChoice::Mode("none".to_owned()),
        ChatToolChoice::Function(name) => ToolChoice::Named { kind: "function".to_owned(), name },
    })
}

fn translate_format(format: &Value) -> Result<TextFormat, String> {
    let raw = |v: &Value| RawJson::new(v).map_err(|e| e.to_string());
    Ok(match chat_response_format(format)? {
        ResponseFormat::AnyObject => TextFormat::JsonObject,
        // The schema-attached JSON mode: the schema, not enforced strictly.
        ResponseFormat::ObjectWithSchema(schema) => TextFormat::JsonSchema {
            name: format_name(schema.get("title").and_then(Value::as_str).unwrap_or("response")),
            schema: raw(schema)?,
            strict: Some(false),
            description: None,
        },
        ResponseFormat::Schema { name, description, schema, strict } => TextFormat::JsonSchema {
            name: format_name(name),
            schema: raw(schema)?,
            strict: Some(strict),
            description: description.map(str::to_owned),
        },
    })
}

/// A format name as the API takes it: `[a-zA-Z0-9_-]`, at most 64 characters.
fn format_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' })
        .take(64)
        .collect();
    if cleaned.is_empty() { "response".to_owned() } else { cleaned }
}

/// The conversation as input items: system messages become `instructions`, assistant tool calls
/// `function_call` items, and tool messages `function_call_output` items.
fn input(request: &CompletionRequest) -> Vec<InputItem> {
    let mut items = Vec::with_capacity(request.messages.len());
    for message in &request.messages {
        match message.role {
            Role::System => {}
            Role::User if message.media.is_empty() => items.push(InputItem::message("user", text_of(message))),
            Role::User => {
                let mut parts: Vec<ContentPart> = message.media.iter().map(media_part).collect();
                if !text_of(message).is_empty() {
                    parts.push(ContentPart {
                        kind: "input_text".to_owned(),
                        text: Some(text_of(message).to_owned()),
                        ..ContentPart::default()
                    });
                }
                items.push(InputItem {
                    role: Some("user".to_owned()),
                    content: Some(MessageContent::Parts(parts)),
                    ..InputItem::default()
                });
            }
            Role::Assistant => {
                let text = text_of(message);
                if !text.is_empty() || message.tool_calls.is_empty() {
                    items.push(InputItem::message("assistant", text));
                }
                items.extend(message.tool_calls.iter().map(|call| InputItem {
                    kind: Some("function_call".to_owned()),
                    call_id: Some(call.id.clone()),
                    name: Some(call.function.name.clone()),
                    arguments: Some(call.function.arguments.clone()),
                    ..InputItem::default()
                }));
            }
            Role::Tool => items.push(InputItem {
                kind: Some("function_call_output".to_owned()),
                call_id: message.tool_call_id.clone(),
                output: Some(Value::String(text_of(message).to_owned())),
                ..InputItem::default()
            }),
        }
    }
    items
}

/// `input_image` (a URL or a `data:` URL, with its detail) or `input_file` (a `data:` URL with
/// its name, or a URL).
fn media_part(media: &Media) -> ContentPart {
    match media.kind() {
        MediaKind::Image => ContentPart {
            kind: "input_image".to_owned(),
            image_url: Some(media.shared_url()),
            detail: Some(media.image_detail().unwrap_or("auto").to_owned()),
            ..ContentPart::default()
        },
        _ => match media.url() {
            Some(url) => {
                ContentPart { kind: "input_file".to_owned(), file_url: Some(url.to_owned()), ..ContentPart::default() }
            }
            None => ContentPart {
                kind: "input_file".to_owned(),
                filename: Some(media.file_name().to_owned()),
                file_data: Some(media.shared_url()),
                ..ContentPart::default()
            },
        },
    }
}

/// A response as a completion: `output_text` parts joined, refusals kept, function calls with
/// their `call_id`.
fn completion(response: ResponseReply<'_>) -> Result<ChatCompletion, ProviderError> {
    if response.status.as_deref() == Some("failed") {
        let error = response.error.unwrap_or_default();
        return Err(ProviderError::new(ProviderErrorKind::Stream, format!("the response failed: {}", error.message))
            .with_error_type(error.code));
    }
    let mut message = AssistantMessage::default();
    // Sized exactly: a list grown by pushing holds four calls.
    message.tool_calls.reserve_exact(response.output.iter().filter(|i| i.kind == "function_call").count());
    for item in response.output {
        match &*item.kind {
            "message" => {
                for part in item.content {
                    let (slot, text) = match &*part.kind {
                        "output_text" => (&mut message.content, part.text),
                        "refusal" => (&mut message.refusal, part.refusal),
                        _ => continue,
                    };
                    slot.get_or_insert_with(String::new).push_str(text.as_deref().unwrap_or(""));
                }
            }
            "function_call" => message.tool_calls.push(ToolCall::function(
                item.call_id.or(item.id).unwrap_or_default(),
                item.name.unwrap_or_default(),
                item.arguments.unwrap_or_default(),
            )),
            _ => {}
        }
    }
    let finish = finish_reason(
        response.status.as_deref(),
        response.incomplete_details.and_then(|d| d.reason).as_deref(),
        !message.tool_calls.is_empty(),
    );
    Ok(ChatCompletion {
        id: response.id,
        model: response.model,
        created: response.created_at,
        choices: vec![Choice { index: 0, message, finish_reason: Some(finish) }],
        usage: response.usage.map(Usage::from),
    })
}

fn finish_reason(status: Option<&str>, incomplete: Option<&str>, called: bool) -> FinishReason {
    match (status, incomplete) {
        (Some("incomplete"), Some("content_filter")) => FinishReason::ContentFilter,
        (Some("incomplete"), _) => FinishReason::Length,
        _ if called => FinishReason::ToolCalls,
        _ => FinishReason::Stop,
    }
}

impl Provider for OpenAiResponses {
    fn check_request(&self, _mode: Mode, request: &CompletionRequest) -> Result<(), Error> {
        if let Some(penalty) = PENALTIES.iter().find(|p| request.extra.contains_key(**p)) {
            return Err(Error::request(format!("`{penalty}` is not accepted by the Responses API; leave it out")));
        }
        media::RESPONSES.check(&request.messages, self.media.cap)
    }

    fn complete<'a>(&'a self, request: &'a CompletionRequest) -> BoxFuture<'a, Result<ChatCompletion, ProviderError>> {
        Box::pin(async move {
            let body = self.translate(request)?.encode(request)?;
            let reply = self.transport.post(&self.endpoint, body).await?;
            let response: ResponseReply<'_> = read_body(&reply, "the reply is not a response")?;
            completion(response)
        })
    }

    fn stream<'a>(&'a self, request: &'a CompletionRequest) -> BoxFuture<'a, Result<DeltaStream<'a>, ProviderError>> {
        Box::pin(async move {
            let mut body = self.translate(request)?;
            body.body.stream = true;
            let response = self.transport.open_stream(&self.endpoint, body.encode(request)?).await?;
            let stream: DeltaStream<'a> = Box::pin(sse_stream(response, self.transport.max_body(), Events::default()));
            Ok(stream)
        })
    }
}

/// Reads the Responses API's typed events.
#[derive(Debug, Default)]
pub(crate) struct Events {
    named: bool,
    called: bool,
}

impl EventDecoder for Events {
    fn decode(&mut self, _event: Option<&str>, data: &str) -> Result<Step, ProviderError> {
        let event: StreamEvent<'_> = serde_json::from_str(data).map_err(|e| undecodable(data, e))?;
        let mut delta = CompletionDelta::default();
        match &*event.kind {
            "response.output_text.delta" => delta.content = event.delta.map(|d| d.into_owned()),
            "response.refusal.delta" => delta.refusal = event.delta.map(|d| d.into_owned()),
            "response.function_call_arguments.delta" => delta.tool_calls.push(ToolCallDelta {
                index: event.output_index.unwrap_or(0),
                id: None,
                name: None,
                arguments: event.delta.map(|d| d.into_owned()),
            }),
            "response.output_item.added" => {
                let Some(item) = event.item.filter(|i| i.kind == "function_call") else { return Ok(Step::Skip) };
                self.called = true;
                delta.tool_calls.push(ToolCallDelta {
                    index: event.output_index.unwrap_or(0),
                    id: item.call_id.or(item.id),
                    name: item.name,
                    arguments: item.arguments.filter(|a| !a.is_empty()),
                });
            }
            "response.created" | "response.in_progress" => {
                let Some(response) = event.response.filter(|_| !self.named) else { return Ok(Step::Skip) };
                self.named = true;
                delta.id = Some(response.id);
                delta.model = Some(response.model);
            }
            "response.completed" | "response.incomplete" => {
                let response = event.response.unwrap_or_default();
                delta.usage = response.usage.map(Usage::from);
                delta.finish_reason = Some(finish_reason(
                    response.status.as_deref().or(Some(if event.kind == "response.incomplete" {
                        "incomplete"
                    } else {
                        "completed"
                    })),
                    response.incomplete_details.and_then(|d| d.reason).as_deref(),
                    self.called,
                ));
                return Ok(Step::Done(Some(delta)));
            }
            "response.failed" => {
                let error = event.response.and_then(|r| r.error).unwrap_or_default();
                return Err(ProviderError::new(
                    ProviderErrorKind::Stream,
                    format!("the response failed: {}", error.message),
                )
                .with_error_type(error.code));
            }
            "error" => {
                let code = event.code.as_ref().and_then(Value::as_str).map(str::to_owned);
                let message = event.message.unwrap_or_else(|| "unknown error".to_owned());
                let error =
                    ProviderError::new(ProviderErrorKind::Stream, format!("the server reported an error: {message}"));
                return Err(match code {
                    Some(code) => error.with_error_type(code),
                    None => error,
                });
            }
            _ => return Ok(Step::Skip),
        }
        Ok(Step::Delta(delta))
    }

    fn complete(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Message;

    #[test]
    fn reask_turn_becomes_items() {
        let assistant = Message {
            tool_calls: vec![ToolCall::function("call_1", "UserDetails", r#"{"name":"Jason"}"#)],
            ..Message::assistant("")
        };
        let request = CompletionRequest::new(
            "gpt",
            vec![
                Message::system("sys"),
                Message::user("Jason is 20"),
                assistant,
                Message::tool_error("call_1", "age: missing"),
                Message::user("Call again."),
            ],
        );
        assert_eq!(
            serde_json::to_value(input(&request)).expect("json"),
            serde_json::json!([
                {"role": "user", "content": "Jason is 20"},
                {"type": "function_call", "call_id": "call_1", "name": "UserDetails", "arguments": "{\"name\":\"Jason\"}"},
                {"type": "function_call_output", "call_id": "call_1", "output": "age: missing"},
                {"role": "user", "content": "Call again."}
            ])
        );
    }

    #[test]
    fn format_names_are_cleaned() {
        assert_eq!(format_name("User Details!"), "User_Details_");
        assert_eq!(format_name(""), "response");
    }

    #[test]
    fn a_reply_is_read_with_its_echoes_skipped() {
        // The echoed request (tools, format, metadata) is skipped whatever it holds; escaped text
        // is unescaped; a message's text and refusal parts are joined; calls keep their call id.
        let reply = serde_json::json!({
            "id": "resp_1", "object": "response", "created_at": 7, "status": "completed", "model": "m",
            "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}],
            "text": {"format": {"type": "json_schema", "schema": {"type": "object"}}},
            "metadata": {"k": "v"}, "tool_choice": {"type": "function", "name": "f"},
            "output": [
                {"type": "reasoning", "id": "rs_1", "summary": []},
                {"type": "message", "id": "msg_1", "status": "completed", "content": [
                    {"type": "output_text", "text": "{\"name\":", "annotations": []},
                    {"type": "output_text", "text": "\"Jason\\n\"}"},
                    {"type": "refusal", "refusal": "no"}
                ]},
                {"type": "message", "content": null},
                {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "f", "arguments": "{}"},
                {"type": "function_call", "id": "fc_2", "name": "g", "arguments": "[]"}
            ],
            "usage": {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7}
        })
        .to_string();
        let completion = completion(serde_json::from_str(&reply).expect("reply")).expect("completion");
        assert_eq!((completion.id.as_str(), completion.model.as_str(), completion.created), ("resp_1", "m", 7));
        let choice = &completion.choices[0];
        assert_eq!(choice.message.content.as_deref(), Some("{\"name\":\"Jason\\n\"}"));
        assert_eq!(choice.message.refusal.as_deref(), Some("no"));
        let calls: Vec<_> =
            choice.message.tool_calls.iter().map(|c| (c.id.as_str(), c.function.name.as_str())).collect();
        assert_eq!(calls, [("call_1", "f"), ("fc_2", "g")]);
        assert_eq!(choice.finish_reason, Some(FinishReason::ToolCalls));
        assert_eq!(completion.usage.map(|u| u.total_tokens), Some(7));

        let failed = r#"{"status": "failed", "error": {"code": "server_error", "message": "boom"}}"#;
        let err = completion_of(failed).expect_err("a failed response");
        assert!(err.to_string().contains("boom"), "{err}");
    }

    fn completion_of(reply: &str) -> Result<ChatCompletion, ProviderError> {
        completion(serde_json::from_str(reply).expect("reply"))
    }
}
