//! One generation on the engine (blocking): stop sequences cut the text as it streams, and
//! generation ends as soon as one is seen.

use std::sync::atomic::{AtomicBool, Ordering};

use instructor::{ChatCompletion, CompletionDelta, FinishReason};
use instructor_engine::{Engine, EngineError};

use crate::request::Job;

/// Runs `job` on `engine`, handing each piece of the reply to `emit`. `cancel` stops it early
/// (the client went away); a stop sequence sets it too.
pub(crate) fn run(
    engine: &Engine,
    job: &Job,
    cancel: &AtomicBool,
    emit: &mut dyn FnMut(CompletionDelta),
) -> Result<Generated, EngineError> {
    let mut cutter = StopCutter::new(&job.stops);
    let mut completion = {
        let mut on_delta = |mut delta: CompletionDelta| {
            if let Some(text) = delta.content.take() {
                let (out, hit) = cutter.push(&text);
                if hit {
                    cancel.store(true, Ordering::Relaxed);
                }
                delta.content = (!out.is_empty()).then_some(out);
            }
            if delta.content.is_some() || !delta.tool_calls.is_empty() {
                emit(delta);
            }
        };
        engine.complete_streaming(&job.request, Some(cancel), &mut on_delta)?
    };
    let stopped = cutter.stopped;
    let stop_sequence = cutter.matched.clone();
    let (tail, text) = cutter.finish();
    if !tail.is_empty() {
        emit(CompletionDelta { content: Some(tail), ..CompletionDelta::default() });
    }
    if let Some(choice) = completion.choices.first_mut() {
        if !job.stops.is_empty() && choice.message.content.is_some() && choice.message.tool_calls.is_empty() {
            choice.message.content = Some(text);
            if stopped {
                choice.finish_reason = Some(FinishReason::Stop);
            }
        }
        if job.single_call {
            choice.message.tool_calls.truncate(1);
        }
    }
    Ok(Generated { completion, stop_sequence, window_capped: job.window_capped })
}

/// A finished generation.
#[derive(Debug)]
pub(crate) struct Generated {
    pub completion: ChatCompletion,
    /// The stop sequence that ended it, if one did.
    pub stop_sequence: Option<String>,
    /// Its allowance was the room left in the context (see `Job::window_capped`).
    pub window_capped: bool,
}

/// Cuts streamed text at the first stop sequence, holding back any tail that may be the start
/// of one.
#[derive(Debug)]
pub(crate) struct StopCutter<'a> {
    stops: &'a [String],
    held: String,
    /// Everything let through.
    text: String,
    /// A stop sequence was seen: nothing more passes.
    stopped: bool,
    /// Which one.
    matched: Option<String>,
}

impl<'a> StopCutter<'a> {
    pub fn new(stops: &'a [String]) -> Self {
        StopCutter { stops, held: String::new(), text: String::new(), stopped: false, matched: None }
    }

    /// Takes the next piece; returns what may be sent now, and whether a stop sequence ended it.
    pub fn push(&mut self, piece: &str) -> (String, bool) {
        if self.stopped {
            return (String::new(), false);
        }
        if self.stops.is_empty() {
            self.text.push_str(piece);
            return (piece.to_owned(), false);
        }
        self.held.push_str(piece);
        if let Some((at, stop)) = self.stops.iter().filter_map(|s| Some((self.held.find(s.as_str())?, s))).min() {
            self.matched = Some(stop.clone());
            self.held.truncate(at);
            let out = std::mem::take(&mut self.held);
            self.text.push_str(&out);
            self.stopped = true;
            return (out, true);
        }
        // The longest tail of `held` that starts some stop sequence stays back.
        let keep = self
            .stops
            .iter()
            .filter_map(|s| (1..s.len()).rev().find(|&k| s.is_char_boundary(k) && self.held.ends_with(&s[..k])))
            .max()
            .unwrap_or(0);
        let out: String = self.held.drain(..self.held.len() - keep).collect();
        self.text.push_str(&out);
        (out, false)
    }

    /// The tail still held back (no stop sequence came), and the whole text let through.
    pub fn finish(mut self) -> (String, String) {
        let tail = std::mem::take(&mut self.held);
        self.text.push_str(&tail);
        (tail, self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(stops: &[&str], pieces: &[&str]) -> (Vec<String>, String, bool) {
        let stops: Vec<String> = stops.iter().map(|s| s.to_string()).collect();
        let mut cutter = StopCutter::new(&stops);
        let mut out = Vec::new();
        for p in pieces {
            out.push(cutter.push(p).0);
        }
        let stopped = cutter.stopped;
        let (tail, text) = cutter.finish();
        out.push(tail);
        out.retain(|s| !s.is_empty());
        (out, text, stopped)
    }

    #[test]
    fn cuts_at_a_stop_split_across_pieces() {
        let (out, text, stopped) = cut(&["END"], &["hello E", "N", "D and more"]);
        assert_eq!((out, text.as_str(), stopped), (vec!["hello ".to_owned()], "hello ", true));
    }

    #[test]
    fn releases_a_false_start() {
        let (out, text, stopped) = cut(&["END"], &["a E", "Nx", "b"]);
        assert_eq!(out.concat(), "a ENxb");
        assert_eq!((text.as_str(), stopped), ("a ENxb", false));
    }

    #[test]
    fn earliest_stop_wins_and_unicode_is_safe() {
        let (_, text, stopped) = cut(&["é!", "z"], &["aé", "!z"]);
        assert_eq!((text.as_str(), stopped), ("a", true));
        let (out, text, _) = cut(&[], &["x", "y"]);
        assert_eq!((out.concat(), text.as_str()), ("xy".to_owned(), "xy"));
    }
}
