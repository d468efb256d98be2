//! `MdJson`: no tools and no `response_format`, for servers that support neither; the schema is
//! in the prompt and the value is the JSON in the reply's fenced block (or embedded in its text).

use std::borrow::Cow;

use super::{Extracted, Shape, schema_prompt};
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
    // The fenced block is found by the lenient parser, which skips the text around it.
    match message.content.as_deref() {
        Some(text) if text.contains(['{', '[']) => Ok(Extracted { json: Cow::Borrowed(text) }),
        _ => Err(ReplyError::parse(None, "no JSON found in the reply; answer with a ```json fenced block")),
    }
}
