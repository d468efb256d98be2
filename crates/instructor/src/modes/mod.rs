//! Output modes: how the response schema is put into the request, and how the value is taken
//! back out of the reply. Each mode's module owns both halves.

mod json;
mod md_json;
mod parallel_tools;
mod tools;

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use crate::error::{ReplyError, ReplyErrorKind};
use crate::schema::ResponseSchema;
use crate::wire::{ChatCompletion, RawJson};

/// How the model is asked for structured output.
///
/// | mode | request | reply |
/// |---|---|---|
/// | `Tools` | one function tool, `tool_choice` forcing it | `tool_calls[0].function.arguments` |
/// | `ToolsStrict` | as `Tools`, `"strict": true`, schema in OpenAI's strict subset | as `Tools` |
/// | `ParallelTools` | a tool per item type, `tool_choice: "auto"` | every tool call |
/// | `Json` | `response_format: {"type":"json_object"}` + schema in the system prompt | the message text |
/// | `JsonSchema` | `response_format: {"type":"json_object","schema":...}` + schema in the prompt | the message text |
/// | `StructuredOutputs` | `response_format: {"type":"json_schema",...,"strict":true}` | the message text |
/// | `MdJson` | the schema in the prompt only | fenced or embedded JSON in the text |
///
/// ```
/// use instructor::Mode;
/// assert_eq!("json-schema".parse::<Mode>().unwrap(), Mode::JsonSchema);
/// assert_eq!(Mode::ToolsStrict.to_string(), "tools-strict");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Mode {
    /// Function calling, forced.
    #[default]
    Tools,
    /// Function calling with OpenAI's strict schemas.
    ToolsStrict,
    /// Several function calls in one reply; the target is a `Vec`.
    ParallelTools,
    /// JSON mode, schema in the prompt.
    Json,
    /// JSON mode with the schema attached (Anyscale, Together, Fireworks, llama.cpp).
    JsonSchema,
    /// OpenAI structured outputs (`json_schema`, strict).
    StructuredOutputs,
    /// Plain text with the schema in the prompt; JSON taken from a fenced block.
    MdJson,
}

/// The request fragments a mode adds, rendered once per schema and mode.
#[derive(Debug, Clone, Default)]
pub(crate) struct Shape {
    pub tools: Option<RawJson>,
    pub tool_choice: Option<RawJson>,
    pub response_format: Option<RawJson>,
    /// Text added to the system prompt.
    pub schema_prompt: Option<String>,
}

/// A reply's JSON, taken out of the completion: the document for the response schema, maybe
/// with prose or fences around it (the lenient parser deals with those).
#[derive(Debug)]
pub(crate) struct Extracted<'a> {
    pub json: Cow<'a, str>,
}

impl Mode {
    pub(crate) const COUNT: usize = 7;
    const ALL: [Mode; Mode::COUNT] = [
        Mode::Tools,
        Mode::ToolsStrict,
        Mode::ParallelTools,
        Mode::Json,
        Mode::JsonSchema,
        Mode::StructuredOutputs,
        Mode::MdJson,
    ];

    /// Every mode.
    pub fn all() -> &'static [Mode] {
        &Self::ALL
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// The mode's name on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Tools => "tools",
            Mode::ToolsStrict => "tools-strict",
            Mode::ParallelTools => "parallel-tools",
            Mode::Json => "json",
            Mode::JsonSchema => "json-schema",
            Mode::StructuredOutputs => "structured-outputs",
            Mode::MdJson => "md-json",
        }
    }

    /// Whether text around the JSON is part of the protocol rather than a fault to repair.
    pub(crate) fn expects_prose(self) -> bool {
        self == Mode::MdJson
    }

    /// Whether replies come back as tool calls.
    pub fn uses_tools(self) -> bool {
        matches!(self, Mode::Tools | Mode::ToolsStrict | Mode::ParallelTools)
    }

    pub(crate) fn render(self, schema: &ResponseSchema) -> Result<Shape, String> {
        let shape = match self {
            Mode::Tools => tools::render(schema, false),
            Mode::ToolsStrict => tools::render(schema, true),
            Mode::ParallelTools => parallel_tools::render(schema),
            Mode::Json => json::render_json(schema),
            Mode::JsonSchema => json::render_json_schema(schema),
            Mode::StructuredOutputs => json::render_structured_outputs(schema),
            Mode::MdJson => md_json::render(schema),
        };
        shape.map_err(|e| format!("mode {self}: {e}"))
    }

    /// Takes the reply's JSON out of `completion`.
    pub(crate) fn extract<'a>(
        self,
        completion: &'a ChatCompletion,
        schema: &ResponseSchema,
    ) -> Result<Extracted<'a>, ReplyError> {
        let message = completion.message().ok_or_else(|| ReplyError::missing("the completion has no choices"))?;
        if let Some(refusal) = message.refusal.as_deref().filter(|r| !r.is_empty()) {
            return Err(ReplyError::new(ReplyErrorKind::Refusal, None, format!("the model refused: {refusal}")));
        }
        match self {
            Mode::Tools | Mode::ToolsStrict => tools::extract(message, schema),
            Mode::ParallelTools => parallel_tools::extract(message, schema),
            Mode::Json | Mode::JsonSchema | Mode::StructuredOutputs => json::extract(message),
            Mode::MdJson => md_json::extract(message),
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let wanted = s.trim().to_ascii_lowercase().replace('_', "-");
        Mode::ALL.into_iter().find(|m| m.as_str() == wanted).ok_or_else(|| {
            let names: Vec<_> = Mode::ALL.iter().map(|m| m.as_str()).collect();
            format!("unknown mode `{s}` (expected one of: {})", names.join(", "))
        })
    }
}

/// The instruction that carries the schema in prompt-based modes.
fn schema_prompt(schema: &ResponseSchema, closing: &str) -> Result<String, String> {
    let text = serde_json::to_string_pretty(schema.json()).map_err(|e| e.to_string())?;
    Ok(format!(
        "Your task is to understand the content and answer with JSON that is an instance of this JSON Schema:\n\n{text}\n\n{closing}"
    ))
}

fn raw(value: &serde_json::Value) -> Result<RawJson, String> {
    RawJson::new(value).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_names_round_trip() {
        for m in Mode::all() {
            assert_eq!(m.as_str().parse::<Mode>(), Ok(*m));
        }
        assert_eq!("JSON_SCHEMA".parse::<Mode>(), Ok(Mode::JsonSchema));
        assert!("xml".parse::<Mode>().is_err());
    }
}
