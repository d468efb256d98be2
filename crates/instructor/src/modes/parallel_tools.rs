//! `ParallelTools`: a tool per item type, `tool_choice: "auto"`; every call in the reply is an
//! item of the resulting array.

use std::borrow::Cow;

use serde_json::{Value, json};

use super::{Extracted, Shape, raw};
use crate::error::ReplyError;
use crate::schema::ResponseSchema;
use crate::wire::AssistantMessage;

pub(super) fn render(schema: &ResponseSchema) -> Result<Shape, String> {
    let parallel = schema
        .parallel()
        .ok_or_else(|| format!("the target `{}` must be a Vec (one item per tool call)", schema.name()))?;
    let tools: Vec<Value> = parallel
        .tools
        .iter()
        .map(|t| json!({"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}))
        .collect();
    Ok(Shape { tools: Some(raw(&Value::Array(tools))?), tool_choice: Some(raw(&json!("auto"))?), ..Shape::default() })
}

pub(super) fn extract<'a>(message: &'a AssistantMessage, schema: &ResponseSchema) -> Result<Extracted<'a>, ReplyError> {
    let Some(parallel) = schema.parallel() else {
        return Err(ReplyError::missing("the target is not a Vec"));
    };
    if message.tool_calls.is_empty() {
        let names: Vec<_> = parallel.tools.iter().map(|t| t.name.as_str()).collect();
        return Err(ReplyError::missing(format!("expected calls to the tools ({}), got none", names.join(", "))));
    }
    let mut out = String::from("[");
    for (i, call) in message.tool_calls.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let args = if call.function.arguments.trim().is_empty() { "{}" } else { &call.function.arguments };
        if parallel.tagged {
            if !parallel.tools.iter().any(|t| t.name == call.function.name) {
                let known: Vec<_> = parallel.tools.iter().map(|t| t.name.as_str()).collect();
                return Err(ReplyError::parse(
                    Some(format!("[{i}]")),
                    format!("unknown tool `{}` (expected one of: {})", call.function.name, known.join(", ")),
                ));
            }
            out.push('{');
            out.push_str(&Value::String(call.function.name.clone()).to_string());
            out.push(':');
            out.push_str(args);
            out.push('}');
        } else {
            out.push_str(args);
        }
    }
    out.push(']');
    Ok(Extracted { json: Cow::Owned(out) })
}
