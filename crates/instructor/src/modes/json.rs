//! `Json`, `JsonSchema` and `StructuredOutputs`: the server is told to answer in JSON through
//! `response_format`; the value is the message text.

use std::borrow::Cow;

use serde_json::json;

use super::{Extracted, Shape, raw, schema_prompt};
use crate::error::ReplyError;
use crate::schema::{ResponseSchema, strict_schema};
use crate::wire::AssistantMessage;

const CLOSING: &str = "Answer with the JSON instance only, not the schema itself.";

/// `{"type":"json_object"}` and the schema in the prompt.
pub(super) fn render_json(schema: &ResponseSchema) -> Result<Shape, String> {
    Ok(Shape {
        response_format: Some(raw(&json!({ "type": "json_object" }))?),
        schema_prompt: Some(schema_prompt(schema, CLOSING)?),
        ..Shape::default()
    })
}

/// The Anyscale/Together/Fireworks/llama.cpp dialect: `{"type":"json_object","schema":...}`,
/// and the schema in the prompt for servers that do not constrain decoding.
pub(super) fn render_json_schema(schema: &ResponseSchema) -> Result<Shape, String> {
    Ok(Shape {
        response_format: Some(raw(&json!({ "type": "json_object", "schema": schema.json() }))?),
        schema_prompt: Some(schema_prompt(schema, CLOSING)?),
        ..Shape::default()
    })
}

/// OpenAI structured outputs: `{"type":"json_schema","json_schema":{"name","schema","strict":true}}`.
pub(super) fn render_structured_outputs(schema: &ResponseSchema) -> Result<Shape, String> {
    let format = json!({
        "type": "json_schema",
        "json_schema": {
            "name": schema.name(),
            "description": schema.description(),
            "schema": strict_schema(schema.json()),
            "strict": true,
        }
    });
    Ok(Shape { response_format: Some(raw(&format)?), ..Shape::default() })
}

pub(super) fn extract(message: &AssistantMessage) -> Result<Extracted<'_>, ReplyError> {
    let text = message
        .content
        .as_deref()
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| ReplyError::missing("the reply has no text"))?;
    // JSON mode should give bare JSON; fences and prose from servers that ignore it are repaired.
    Ok(Extracted { json: Cow::Borrowed(text) })
}
