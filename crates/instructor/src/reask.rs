//! The one re-ask path: after a rejected reply, the model sees its own turn and the error.
//!
//! Only the latest failed turn is kept (the caller truncates to the original messages first), so
//! a request grows by one turn however many re-asks it takes.

use crate::error::ReplyError;
use crate::wire::{AssistantMessage, Message};

/// The messages that follow the original conversation when re-asking after `error`.
///
/// A tool-calling reply is echoed with its `tool_calls` and answered by a `tool` message per
/// call (same `tool_call_id`), since the API requires every call to be answered, then a user
/// message asks for the calls again: after a tool's answer, a model free to choose (`auto`)
/// may otherwise take the errors for results and reply in words. A text reply is echoed and
/// followed by a user message.
pub(crate) fn turn(reply: &AssistantMessage, error: &ReplyError) -> Vec<Message> {
    let mut assistant = reply.to_message();
    if assistant.tool_calls.is_empty() {
        assistant.content.get_or_insert_with(String::new);
        let fix =
            format!("Your answer was not valid: {error}\nCorrect it and answer again with the complete JSON only.");
        return vec![assistant, Message::user(fix)];
    }
    // Servers that omit call ids still need them matched on the way back.
    for (i, call) in assistant.tool_calls.iter_mut().enumerate() {
        if call.id.is_empty() {
            call.id = format!("call_{i}");
        }
    }
    let mut turn = Vec::with_capacity(2 + assistant.tool_calls.len());
    let answers: Vec<Message> = assistant
        .tool_calls
        .iter()
        .map(|call| {
            Message::tool_error(
                call.id.clone(),
                format!("Validation error: {error}\nCall `{}` again with corrected arguments.", call.function.name),
            )
        })
        .collect();
    turn.push(assistant);
    turn.extend(answers);
    turn.push(Message::user("Those arguments were not valid. Correct them as the errors say and call again."));
    turn
}
