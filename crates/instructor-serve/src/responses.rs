//! OpenAI's Responses API (`POST /v1/responses`): requests read into the library's wire types and
//! turned into the engine's job; responses and their typed event streams written as the spec
//! requires. Requests are stateless: nothing is stored, so `previous_response_id` is refused.

use bytes::Bytes;
use instructor::wire::responses::{
    ContentPart, CreateResponse, IncompleteDetails, Input, InputItem, MessageContent, OutputItem, Response,
    StreamEvent, TextFormat, ToolChoice,
};
use instructor::{CompletionDelta, FinishReason, Message, ToolCall};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::generate::Generated;
use crate::request::{self, Choice, Draft, Job, ToolSpec};
use crate::response::{Ids, sse_event};
use crate::routes::Dialect;

/// A Responses request being answered: what the response echoes of it, and the stream so far.
#[derive(Debug, Default)]
pub(crate) struct Responses {
    echo: Echo,
    ids: Option<Ids>,
    sequence: u64,
    /// Output items begun in the stream, in order.
    items: Vec<Item>,
}

/// What a response repeats of its request.
#[derive(Debug, Default)]
struct Echo {
    instructions: Option<String>,
    tools: Vec<Value>,
    tool_choice: Value,
    text: Option<Value>,
    temperature: Option<f32>,
    top_p: Option<f32>,
    max_output_tokens: Option<u32>,
    parallel_tool_calls: bool,
    metadata: Option<Value>,
}

#[derive(Debug)]
enum Item {
    Message { text: String },
    Call { index: u32, name: String, arguments: String },
}

impl Dialect for Responses {
    const NAME: &'static str = "responses";
    const ID_PREFIX: &'static str = "resp_";

    fn parse(body: &[u8]) -> Result<(Job, Self), ApiError> {
        let value: Value = serde_json::from_slice(body).map_err(ApiError::malformed)?;
        if !value.is_object() {
            return Err(ApiError::invalid("", "the request body must be a JSON object"));
        }
        let wire: CreateResponse = serde_path_to_error::deserialize(&value).map_err(|e| request::type_error(&e))?;
        read(wire)
    }

    fn reply(&self, ids: &Ids, generated: &Generated) -> Value {
        serde_json::to_value(self.response(ids, generated)).unwrap_or_default()
    }

    fn start(&mut self, ids: &Ids) -> Vec<Bytes> {
        self.ids = Some(ids.clone());
        let started = Response { status: Some("in_progress".to_owned()), ..self.base(ids) };
        vec![
            self.event(StreamEvent { response: Some(started.clone()), ..event("response.created") }),
            self.event(StreamEvent { response: Some(started), ..event("response.in_progress") }),
        ]
    }

    fn delta(&mut self, delta: &CompletionDelta) -> Vec<Bytes> {
        let mut out = Vec::new();
        if let Some(text) = delta.content.as_deref().filter(|t| !t.is_empty()) {
            self.text_delta(text, &mut out);
        }
        for call in &delta.tool_calls {
            self.call_delta(call.index, call.name.as_deref(), call.arguments.as_deref().unwrap_or(""), &mut out);
        }
        out
    }

    fn end(&mut self, generated: &Generated) -> Vec<Bytes> {
        let mut out = Vec::new();
        let Some(ids) = self.ids.clone() else { return out };
        // What the engine decided only at the end (several calls), or did not stream.
        if let Some(message) = generated.completion.message() {
            let sent: usize =
                self.items.iter().map(|i| if let Item::Message { text } = i { text.len() } else { 0 }).sum();
            if let Some(rest) = message.content.as_deref().and_then(|t| t.get(sent..)).filter(|r| !r.is_empty()) {
                self.text_delta(rest, &mut out);
            }
            for (i, call) in message.tool_calls.iter().enumerate() {
                let begun =
                    self.items.iter().any(|item| matches!(item, Item::Call { index, .. } if *index == i as u32));
                if !begun {
                    self.call_delta(i as u32, Some(&call.function.name), &call.function.arguments, &mut out);
                }
            }
        }
        let incomplete = generated.completion.finish_reason() == Some(&FinishReason::Length);
        let status = if incomplete { "incomplete" } else { "completed" };
        for (output_index, item) in std::mem::take(&mut self.items).into_iter().enumerate() {
            let output_index = output_index as u32;
            match item {
                Item::Message { text } => {
                    let item_id = message_id(&ids);
                    out.push(self.event(StreamEvent {
                        item_id: Some(item_id.clone().into()),
                        output_index: Some(output_index),
                        content_index: Some(0),
                        text: Some(text.clone()),
                        logprobs: Some(Vec::new()),
                        ..event("response.output_text.done")
                    }));
                    out.push(self.event(StreamEvent {
                        item_id: Some(item_id.into()),
                        output_index: Some(output_index),
                        content_index: Some(0),
                        part: Some(ContentPart::output_text(text.clone())),
                        ..event("response.content_part.done")
                    }));
                    out.push(self.event(StreamEvent {
                        output_index: Some(output_index),
                        item: Some(message_item(&ids, &text, status)),
                        ..event("response.output_item.done")
                    }));
                }
                Item::Call { index, name, arguments } => {
                    out.push(self.event(StreamEvent {
                        item_id: Some(call_item_id(&ids, index).into()),
                        output_index: Some(output_index),
                        name: Some(name.clone()),
                        arguments: Some(arguments.clone()),
                        ..event("response.function_call_arguments.done")
                    }));
                    out.push(self.event(StreamEvent {
                        output_index: Some(output_index),
                        item: Some(call_item(&ids, index, &name, &arguments, status)),
                        ..event("response.output_item.done")
                    }));
                }
            }
        }
        let done = if incomplete { "response.incomplete" } else { "response.completed" };
        let response = self.response(&ids, generated);
        out.push(self.event(StreamEvent { response: Some(response), ..event(done) }));
        out
    }

    fn error_event(&mut self, error: &ApiError) -> Vec<Bytes> {
        let code =
            error.code.unwrap_or(if error.status.is_server_error() { "server_error" } else { "invalid_request" });
        vec![self.event(StreamEvent {
            code: Some(json!(code)),
            message: Some(error.message.clone()),
            param: Some(error.param.as_deref().map_or(Value::Null, |p| json!(p))),
            ..event("error")
        })]
    }
}

fn event(kind: &'static str) -> StreamEvent<'static> {
    StreamEvent { kind: kind.into(), ..StreamEvent::default() }
}

fn message_id(ids: &Ids) -> String {
    format!("msg_{}", ids.id.trim_start_matches("resp_"))
}

fn call_item_id(ids: &Ids, index: u32) -> String {
    format!("fc_{}_{index}", ids.id.trim_start_matches("resp_"))
}

fn message_item(ids: &Ids, text: &str, status: &str) -> OutputItem {
    OutputItem {
        kind: "message".to_owned(),
        id: Some(message_id(ids)),
        role: Some("assistant".to_owned()),
        status: Some(status.to_owned()),
        content: Some(vec![ContentPart::output_text(text)]),
        ..OutputItem::default()
    }
}

fn call_item(ids: &Ids, index: u32, name: &str, arguments: &str, status: &str) -> OutputItem {
    OutputItem {
        kind: "function_call".to_owned(),
        id: Some(call_item_id(ids, index)),
        call_id: Some(ids.call(index)),
        name: Some(name.to_owned()),
        arguments: Some(arguments.to_owned()),
        status: Some(status.to_owned()),
        ..OutputItem::default()
    }
}

impl Responses {
    fn event(&mut self, mut event: StreamEvent<'_>) -> Bytes {
        event.sequence_number = self.sequence;
        self.sequence += 1;
        let data = serde_json::to_string(&event).unwrap_or_default();
        sse_event(&event.kind, &data)
    }

    /// A response with what the request set and no output yet.
    fn base(&self, ids: &Ids) -> Response {
        let echo = &self.echo;
        Response {
            id: ids.id.clone(),
            object: "response".to_owned(),
            created_at: ids.created,
            status: None,
            model: ids.model.clone(),
            output: Vec::new(),
            error: None,
            incomplete_details: None,
            instructions: echo.instructions.clone().map(Value::String),
            metadata: echo.metadata.clone(),
            temperature: echo.temperature,
            top_p: echo.top_p,
            parallel_tool_calls: echo.parallel_tool_calls,
            tool_choice: echo.tool_choice.clone(),
            tools: echo.tools.clone(),
            text: echo.text.clone(),
            max_output_tokens: echo.max_output_tokens,
            usage: None,
        }
    }

    fn response(&self, ids: &Ids, generated: &Generated) -> Response {
        let completion = &generated.completion;
        let incomplete = completion.finish_reason() == Some(&FinishReason::Length);
        let status = if incomplete { "incomplete" } else { "completed" };
        let mut output = Vec::new();
        if let Some(message) = completion.message() {
            if message.tool_calls.is_empty() {
                output.push(message_item(ids, message.content.as_deref().unwrap_or(""), status));
            }
            for (i, call) in message.tool_calls.iter().enumerate() {
                output.push(call_item(ids, i as u32, &call.function.name, &call.function.arguments, status));
            }
        }
        Response {
            status: Some(status.to_owned()),
            output,
            incomplete_details: incomplete.then(|| IncompleteDetails { reason: Some("max_output_tokens".to_owned()) }),
            usage: Some(completion.usage.unwrap_or_default().into()),
            ..self.base(ids)
        }
    }

    fn text_delta(&mut self, text: &str, out: &mut Vec<Bytes>) {
        let Some(ids) = self.ids.clone() else { return };
        let at = match self.items.iter().position(|i| matches!(i, Item::Message { .. })) {
            Some(at) => at,
            None => {
                let at = self.items.len();
                self.items.push(Item::Message { text: String::new() });
                let item = OutputItem { content: Some(Vec::new()), ..message_item(&ids, "", "in_progress") };
                out.push(self.event(StreamEvent {
                    output_index: Some(at as u32),
                    item: Some(item),
                    ..event("response.output_item.added")
                }));
                out.push(self.event(StreamEvent {
                    item_id: Some(message_id(&ids).into()),
                    output_index: Some(at as u32),
                    content_index: Some(0),
                    part: Some(ContentPart::output_text("")),
                    ..event("response.content_part.added")
                }));
                at
            }
        };
        if let Some(Item::Message { text: all }) = self.items.get_mut(at) {
            all.push_str(text);
        }
        out.push(self.event(StreamEvent {
            item_id: Some(message_id(&ids).into()),
            output_index: Some(at as u32),
            content_index: Some(0),
            delta: Some(text.to_owned().into()),
            logprobs: Some(Vec::new()),
            ..event("response.output_text.delta")
        }));
    }

    fn call_delta(&mut self, index: u32, name: Option<&str>, arguments: &str, out: &mut Vec<Bytes>) {
        let Some(ids) = self.ids.clone() else { return };
        let at = match self.items.iter().position(|i| matches!(i, Item::Call { index: n, .. } if *n == index)) {
            Some(at) => at,
            None => {
                let at = self.items.len();
                let name = name.unwrap_or_default().to_owned();
                out.push(self.event(StreamEvent {
                    output_index: Some(at as u32),
                    item: Some(call_item(&ids, index, &name, "", "in_progress")),
                    ..event("response.output_item.added")
                }));
                self.items.push(Item::Call { index, name, arguments: String::new() });
                at
            }
        };
        if arguments.is_empty() {
            return;
        }
        if let Some(Item::Call { arguments: all, .. }) = self.items.get_mut(at) {
            all.push_str(arguments);
        }
        out.push(self.event(StreamEvent {
            item_id: Some(call_item_id(&ids, index).into()),
            output_index: Some(at as u32),
            delta: Some(arguments.to_owned().into()),
            ..event("response.function_call_arguments.delta")
        }));
    }
}

/// A Responses request as the engine's job, checked field by field.
fn read(wire: CreateResponse) -> Result<(Job, Responses), ApiError> {
    if wire.model.trim().is_empty() {
        return Err(ApiError::invalid("model", "'model' must not be empty"));
    }
    if wire.previous_response_id.is_some() {
        return Err(ApiError::invalid(
            "previous_response_id",
            "this server stores no responses: send the whole conversation in 'input'",
        ));
    }
    let mut messages = Vec::new();
    if let Some(instructions) = wire.instructions.as_deref().filter(|i| !i.is_empty()) {
        messages.push(Message::system(instructions));
    }
    match wire.input {
        Input::Text(text) if text.trim().is_empty() => return Err(ApiError::invalid("input", "'input' is empty")),
        Input::Text(text) => messages.push(Message::user(text)),
        Input::Items(items) if items.is_empty() => return Err(ApiError::invalid("input", "'input' has no items")),
        Input::Items(items) => {
            for (i, item) in items.into_iter().enumerate() {
                input_item(i, item, &mut messages)?;
            }
        }
    }
    if messages.iter().all(|m| m.role == instructor::Role::System) {
        return Err(ApiError::invalid("input", "'input' needs a message besides the instructions"));
    }

    let (format, text_echo) = match wire.text.and_then(|t| t.format) {
        None | Some(TextFormat::Text) => (None, None),
        Some(TextFormat::JsonObject) => (Some(request::any_object()), Some(json!({"format": {"type": "json_object"}}))),
        Some(TextFormat::JsonSchema { name, schema, strict, description }) => {
            let schema = schema.to_value();
            request::check_schema(&schema, "text.format.schema")?;
            let mut spec = json!({"name": name, "schema": schema});
            if let Some(strict) = strict {
                spec["strict"] = json!(strict);
            }
            if let Some(d) = description {
                spec["description"] = json!(d);
            }
            let echo = json!({"format": {"type": "json_schema", "name": spec["name"], "schema": spec["schema"], "strict": strict}});
            (Some(json!({"type": "json_schema", "json_schema": spec})), Some(echo))
        }
    };

    let mut tools = Vec::with_capacity(wire.tools.len());
    let mut tools_echo = Vec::with_capacity(wire.tools.len());
    for (i, tool) in wire.tools.into_iter().enumerate() {
        if tool.kind != "function" {
            return Err(ApiError::invalid(
                format!("tools[{i}].type"),
                format!("only function tools can be served, not '{}'", tool.kind),
            ));
        }
        tools_echo.push(serde_json::to_value(&tool).unwrap_or_default());
        tools.push(ToolSpec {
            name: tool.name,
            description: tool.description,
            parameters: tool.parameters.map(|p| p.to_value()),
            at: format!("tools[{i}]"),
            schema_field: "parameters",
        });
    }
    let names = request::tool_names(&tools)?;
    let choice = match &wire.tool_choice {
        None => Choice::Auto,
        Some(ToolChoice::Mode(mode)) => match mode.as_str() {
            "auto" => Choice::Auto,
            "none" => Choice::None,
            "required" => Choice::Required,
            other => {
                return Err(ApiError::invalid(
                    "tool_choice",
                    format!("'{other}' is not one of 'none', 'auto', 'required' or a named function"),
                ));
            }
        },
        Some(ToolChoice::Named { kind, name }) if kind == "function" => {
            if !names.iter().any(|n| n == name) {
                return Err(ApiError::invalid("tool_choice.name", format!("no tool named '{name}' in 'tools'")));
            }
            Choice::Named(name.clone())
        }
        Some(ToolChoice::Named { kind, .. }) => {
            return Err(ApiError::invalid(
                "tool_choice.type",
                format!("only function tools can be chosen, not '{kind}'"),
            ));
        }
    };
    let choice = match choice {
        Choice::Required if names.is_empty() => {
            return Err(ApiError::invalid("tool_choice", "'required' needs 'tools'"));
        }
        _ if names.is_empty() => Choice::None,
        choice => choice,
    };
    if wire.max_output_tokens == Some(0) {
        return Err(ApiError::invalid("max_output_tokens", "must be at least 1"));
    }
    if let Some(t) = wire.temperature.filter(|t| !(0.0..=2.0).contains(t)) {
        return Err(ApiError::invalid("temperature", format!("must be between 0 and 2, not {t}")));
    }
    if let Some(p) = wire.top_p.filter(|p| !(0.0..=1.0).contains(p)) {
        return Err(ApiError::invalid("top_p", format!("must be between 0 and 1, not {p}")));
    }
    let stops = request::stops(wire.extra.get("stop").cloned())?;
    let sampling = request::sampling_extras(&wire.extra)?;
    let echo = Echo {
        instructions: wire.instructions.clone(),
        tools: tools_echo,
        tool_choice: match &wire.tool_choice {
            Some(choice) => serde_json::to_value(choice).unwrap_or_else(|_| json!("auto")),
            None => json!("auto"),
        },
        text: text_echo.or_else(|| Some(json!({"format": {"type": "text"}}))),
        temperature: wire.temperature,
        top_p: wire.top_p,
        max_output_tokens: wire.max_output_tokens,
        parallel_tool_calls: wire.parallel_tool_calls.unwrap_or(true),
        metadata: wire.extra.get("metadata").filter(|m| m.is_object()).cloned(),
    };
    let job = request::build(Draft {
        model: wire.model,
        messages,
        format,
        tools,
        choice,
        single_call: wire.parallel_tool_calls == Some(false),
        max_tokens: wire.max_output_tokens,
        temperature: wire.temperature,
        top_p: wire.top_p,
        seed: wire.extra.get("seed").and_then(Value::as_i64),
        sampling,
        stops,
        stream: wire.stream,
        include_usage: false,
    })?;
    Ok((job, Responses { echo, ..Responses::default() }))
}

/// One input item into the conversation: messages, function calls (gathered into one assistant
/// turn), and their outputs (which must answer a call made before them).
fn input_item(i: usize, item: InputItem, messages: &mut Vec<Message>) -> Result<(), ApiError> {
    let at = |field: &str| format!("input[{i}].{field}");
    match item.kind.as_deref() {
        None | Some("message") => {
            let role = item.role.ok_or_else(|| request::missing(&at("role")))?;
            let text = match item.content {
                None => return Err(request::missing(&at("content"))),
                Some(MessageContent::Text(text)) => text,
                Some(MessageContent::Parts(parts)) => {
                    let mut texts = Vec::with_capacity(parts.len());
                    for (j, part) in parts.into_iter().enumerate() {
                        match part.kind.as_str() {
                            "input_text" | "output_text" => texts
                                .push(part.text.ok_or_else(|| request::missing(&at(&format!("content[{j}].text"))))?),
                            "refusal" => texts.push(part.refusal.unwrap_or_default()),
                            kind @ ("input_image" | "input_file" | "input_audio") => {
                                let what = match kind {
                                    "input_image" => "images",
                                    "input_audio" => "audio",
                                    _ => "files",
                                };
                                return Err(ApiError::invalid(
                                    at(&format!("content[{j}]")),
                                    format!(
                                        "the loaded model reads text only: it cannot read {what} (content part '{kind}')"
                                    ),
                                ));
                            }
                            kind => {
                                return Err(ApiError::invalid(
                                    at(&format!("content[{j}].type")),
                                    format!("content parts of type '{kind}' are not supported"),
                                ));
                            }
                        }
                    }
                    texts.join("\n")
                }
            };
            messages.push(match role.as_str() {
                "user" => Message::user(text),
                "system" | "developer" => Message::system(text),
                "assistant" => Message::assistant(text),
                other => {
                    return Err(ApiError::invalid(
                        at("role"),
                        format!("'{other}' is not one of 'user', 'assistant', 'system' or 'developer'"),
                    ));
                }
            });
        }
        Some("function_call") => {
            let call_id = item.call_id.ok_or_else(|| request::missing(&at("call_id")))?;
            let name = item.name.ok_or_else(|| request::missing(&at("name")))?;
            let call = ToolCall::function(call_id, name, item.arguments.unwrap_or_default());
            match messages.last_mut() {
                Some(last) if last.role == instructor::Role::Assistant && !last.tool_calls.is_empty() => {
                    last.tool_calls.push(call)
                }
                _ => messages.push(Message { content: None, tool_calls: vec![call], ..Message::assistant("") }),
            }
        }
        Some("function_call_output") => {
            let call_id = item.call_id.ok_or_else(|| request::missing(&at("call_id")))?;
            let called = messages.iter().flat_map(|m| m.tool_calls.iter()).any(|c| c.id == call_id);
            if !called {
                return Err(ApiError::invalid(
                    at("call_id"),
                    format!("no function_call with call_id '{call_id}' comes before this output"),
                ));
            }
            let output = match item.output {
                Some(Value::String(s)) => s,
                Some(Value::Array(parts)) => {
                    parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect::<Vec<_>>().join("\n")
                }
                Some(other) if !other.is_null() => other.to_string(),
                _ => return Err(request::missing(&at("output"))),
            };
            messages.push(Message::tool(call_id, output));
        }
        Some("item_reference") => {
            return Err(ApiError::invalid(at("type"), "this server stores no items: send the item itself"));
        }
        Some(other) => {
            return Err(ApiError::invalid(at("type"), format!("input items of type '{other}' are not supported")));
        }
    }
    Ok(())
}
