//! `MdJson`: no tools and no `response_format`, for servers that support neither; the schema is
//! in the prompt and the value is the JSON in the reply's fenced block (or embedded in its text).

use std::borrow::Cow;

use super::{Extracted, Shape, find_json, schema_prompt};
use crate::error::ReplyError;
use crate::schema::ResponseSchema;
use crate::wire::AssistantMessage;

pub(super) fn render(schema: &ResponseSchema) -> Result<Shape, String> {
    Ok(Shape {
        schema_prompt: Some(schema_prompt(
            schema,
            "Return the JSON instance in a single ```json fenced code block, not the schema itself.",
        )?),
        ..Shape::default()
    })
}

pub(super) fn extract(message: &AssistantMessage) -> Result<Extracted<'_>, ReplyError> {
    let text = message.content.as_deref().unwrap_or_default();
    find_json(text)
        .map(|json| Extracted { json: Cow::Borrowed(json) })
        .ok_or_else(|| ReplyError::parse(None, "no JSON found in the reply; answer with a ```json fenced block"))
}
