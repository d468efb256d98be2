//! `Tools` and `ToolsStrict`: one function tool, forced with `tool_choice`; the value is the
//! call's arguments.

use std::borrow::Cow;

use serde_json::json;

use super::{Extracted, Shape, raw};
use crate::error::ReplyError;
use crate::schema::{ResponseSchema, strict_schema};
use crate::wire::AssistantMessage;

pub(super) fn render(schema: &ResponseSchema, strict: bool) -> Result<Shape, String> {
    let mut function = json!({
        "name": schema.name(),
        "description": schema.description(),
        "parameters": if strict { strict_schema(schema.json()) } else { schema.json().clone() },
    });
    if strict {
        function["strict"] = json!(true);
    }
    Ok(Shape {
        tools: Some(raw(&json!([{ "type": "function", "function": function }]))?),
        tool_choice: Some(raw(&json!({ "type": "function", "function": { "name": schema.name() } }))?),
        ..Shape::default()
    })
}

pub(super) fn extract<'a>(message: &'a AssistantMessage, schema: &ResponseSchema) -> Result<Extracted<'a>, ReplyError> {
    let call =
        message.tool_calls.iter().find(|c| c.function.name == schema.name()).or_else(|| message.tool_calls.first());
    if let Some(call) = call {
        return Ok(Extracted { json: Cow::Borrowed(&call.function.arguments) });
    }
    // Some compatible servers ignore `tool_choice` and answer in text.
    message
        .content
        .as_deref()
        .filter(|text| text.contains('{'))
        .map(|json| Extracted { json: Cow::Borrowed(json) })
        .ok_or_else(|| {
            ReplyError::missing(format!("expected a call to the `{}` tool, got no tool call", schema.name()))
        })
}
