//! llama.cpp + llguidance: load a GGUF once; requests run in pooled contexts that keep the KV
//! cache of what they last evaluated, so a prompt that starts like an earlier one (the same
//! template and system prompt, the schema in prompt-based modes) only evaluates what is new,
//! in whole 16-token blocks so that the reply is the same as from a fresh context.

use std::io::Read;
use std::num::NonZeroU32;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use llama_cpp_2::vocab::LlamaVocab;
use llguidance::api::TopLevelGrammar;
use llguidance::toktrie::SimpleVob;
use llguidance::{Matcher, ParserFactory};
use serde_json::{Value, json};

use crate::EngineError;

/// How the engine is set up.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// CPU threads for prompt and decode (default 2).
    pub threads: u32,
    /// Context size in tokens (default: 4,096, capped at the model's training context).
    pub context: u32,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions { threads: 2, context: 4096 }
    }
}

/// What the output must look like.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Constraint {
    /// Free text.
    None,
    /// Any JSON object.
    JsonObject,
    /// A JSON value satisfying this schema.
    JsonSchema(Value),
    /// A ```` ```json ```` fenced block holding a JSON value that satisfies this schema.
    FencedJson(Value),
    /// Either a JSON value that satisfies this schema, or free text that does not start with
    /// `[` or `{`: the model chooses with its first character (`tool_choice: "auto"`).
    JsonOrText(Value),
}

/// Sampling settings; the default is greedy, with no penalties, up to [`DEFAULT_MAX_TOKENS`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sampling {
    /// Greedy when `None` or 0.
    pub temperature: Option<f32>,
    /// Nucleus sampling.
    pub top_p: Option<f32>,
    /// Top-k sampling (with a temperature).
    pub top_k: Option<u32>,
    /// llama.cpp's repetition penalty over the last [`PENALTY_WINDOW`] tokens (1 = none).
    pub repeat_penalty: Option<f32>,
    /// OpenAI's frequency penalty (0 = none): each earlier use of a token lowers its logit.
    pub frequency_penalty: Option<f32>,
    /// OpenAI's presence penalty (0 = none): a token used before has its logit lowered once.
    pub presence_penalty: Option<f32>,
    /// Seed for non-greedy sampling.
    pub seed: u32,
    /// The most tokens to generate; `None`: whatever the context has room for after the prompt,
    /// up to [`DEFAULT_MAX_TOKENS`].
    pub max_tokens: Option<u32>,
}

/// The reply allowance when a request sets none: room for real documents, within the context.
pub const DEFAULT_MAX_TOKENS: u32 = 2048;

/// How many recent tokens the penalties look back over (llama.cpp's default).
pub const PENALTY_WINDOW: i32 = 64;

impl Sampling {
    /// Whether any penalty changes the logits.
    fn penalised(&self) -> bool {
        self.repeat_penalty.is_some_and(|p| p != 1.0)
            || self.frequency_penalty.is_some_and(|p| p != 0.0)
            || self.presence_penalty.is_some_and(|p| p != 0.0)
    }
}

/// Why generation stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// End of generation (the model's, or the grammar's when it completed).
    End,
    /// `max_tokens` reached.
    Length,
    /// The caller cancelled.
    Cancelled,
}

/// A finished generation, with its timings.
#[derive(Debug, Clone)]
pub struct Generation {
    /// The text.
    pub text: String,
    /// Tokens in the prompt.
    pub prompt_tokens: u32,
    /// Of those, how many were already in the context's cache (not evaluated again).
    pub cached_tokens: u32,
    /// Tokens generated.
    pub completion_tokens: u32,
    /// Time to evaluate the prompt.
    pub prompt_time: Duration,
    /// From the start of the call to the first generated token.
    pub first_token_time: Duration,
    /// Time spent generating after the prompt.
    pub decode_time: Duration,
    /// Why it stopped.
    pub stop: Stop,
}

impl Generation {
    /// Generated tokens per second.
    pub fn tokens_per_second(&self) -> f64 {
        let secs = self.decode_time.as_secs_f64();
        if secs > 0.0 { f64::from(self.completion_tokens) / secs } else { 0.0 }
    }
}

/// A loaded model. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
    /// Whether a schema written in the prompt constrains JSON-mode and fenced replies.
    prompt_schemas: bool,
}

struct Inner {
    /// Loaded once and kept for the life of the process: pooled contexts borrow it.
    model: &'static LlamaModel,
    factory: ParserFactory,
    template: LlamaChatTemplate,
    /// llama.cpp's context creation may touch the model: one at a time.
    context_lock: Mutex<()>,
    /// Idle contexts, each with the prompt tokens its KV cache holds.
    pool: Mutex<Vec<Slot>>,
    options: EngineOptions,
    name: String,
    backend: &'static LlamaBackend,
    /// The tokens that can end a loop the guard sees (see [`Enders`]).
    enders: Enders,
}

/// Tokens that end what a loop goes on in and start nothing new: a `"` then only closing
/// punctuation (`"`, `",`, `"}`, …) ends a string; closing brackets alone (`]`, `}}`, `\n]`, …) end
/// a list or an object.
#[derive(Debug, Default)]
struct Enders {
    quote: Vec<LlamaToken>,
    bracket: Vec<LlamaToken>,
}

impl Enders {
    fn of(vocab: &LlamaVocab<'_>) -> Enders {
        let mut enders = Enders::default();
        for token in (0..vocab.n_tokens()).map(LlamaToken) {
            let piece = vocab.token_to_piece(token, false, None);
            let closing = |b: &u8| b.is_ascii_whitespace() || matches!(b, b']' | b'}');
            match piece.split_first() {
                Some((b'"', rest)) if rest.iter().all(|b| closing(b) || *b == b',') => enders.quote.push(token),
                Some(_) if piece.iter().all(closing) && piece.iter().any(|b| matches!(b, b']' | b'}')) => {
                    enders.bracket.push(token)
                }
                _ => {}
            }
        }
        enders
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("model", &self.inner.name)
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

fn backend() -> Result<&'static LlamaBackend, EngineError> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            // llama.cpp's own chatter goes to `tracing` (visible with -vv), not to stderr.
            llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default());
            LlamaBackend::init().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| EngineError::Inference(format!("cannot start llama.cpp: {e}")))
}

impl Engine {
    /// Loads a GGUF model. A missing, truncated or foreign file is an [`EngineError::Model`].
    pub fn load(path: &Path, options: EngineOptions) -> Result<Engine, EngineError> {
        check_gguf(path)?;
        let backend = backend()?;
        let started = Instant::now();
        let model = LlamaModel::load_from_file(backend, path, &LlamaModelParams::default()).map_err(|e| {
            EngineError::model(format!("cannot load {}: {e} (is it a complete GGUF model?)", path.display()))
        })?;
        // Pooled contexts outlive any one request; a process loads its model once and keeps it.
        let model: &'static LlamaModel = Box::leak(Box::new(model));
        let tok_env = LlamaSampler::llguidance_tok_env(model);
        let mut factory =
            ParserFactory::new_simple(&tok_env).map_err(|e| EngineError::model(format!("tokenizer: {e}")))?;
        factory.quiet();
        let template = match model.chat_template(None) {
            Ok(t) => t,
            Err(_) => chatml()?,
        };
        let enders = Enders::of(&model.vocab());
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        tracing::info!(model = %name, load_ms = started.elapsed().as_millis() as u64, "model loaded");
        Ok(Engine {
            prompt_schemas: true,
            inner: Arc::new(Inner {
                model,
                factory,
                template,
                context_lock: Mutex::new(()),
                pool: Mutex::new(Vec::new()),
                options,
                name,
                backend,
                enders,
            }),
        })
    }

    /// The same engine (sharing the model and its caches) deciding whether a JSON Schema
    /// written in the prompt constrains replies that `response_format` leaves open: `json_object`
    /// without a schema, and plain text that asks for a ```` ```json ```` block (the prompt-only
    /// modes of instructor-style clients). On by default; off, such replies are free (for
    /// measuring what the constraint buys).
    ///
    /// ```no_run
    /// # fn f(engine: instructor_engine::Engine) {
    /// let free = engine.reading_prompt_schemas(false);
    /// # }
    /// ```
    pub fn reading_prompt_schemas(mut self, on: bool) -> Engine {
        self.prompt_schemas = on;
        self
    }

    pub(crate) fn reads_prompt_schemas(&self) -> bool {
        self.prompt_schemas
    }

    /// The model's file name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Renders `messages` (role, text) with the model's chat template (ChatML when the GGUF has
    /// none, or one llama.cpp does not know), ending with the assistant's turn.
    pub fn prompt(&self, messages: &[(String, String)]) -> Result<String, EngineError> {
        let chat: Vec<LlamaChatMessage> = messages
            .iter()
            .map(|(role, text)| LlamaChatMessage::new(role.clone(), text.clone()))
            .collect::<Result<_, _>>()
            .map_err(|e| EngineError::Prompt(format!("a message holds a NUL byte: {e}")))?;
        let model = &self.inner.model;
        match model.apply_chat_template(&self.inner.template, &chat, true) {
            Ok(p) => Ok(p),
            Err(_) => model
                .apply_chat_template(&chatml()?, &chat, true)
                .map_err(|e| EngineError::Prompt(format!("cannot apply the chat template: {e}"))),
        }
    }

    /// Forgets every cached prompt, so the next request evaluates its whole prompt (for cold
    /// measurements; the cache never changes a reply). The contexts themselves are kept, as
    /// llama-cpp-python's `reset()` keeps its own.
    pub fn clear_cache(&self) {
        for slot in self.inner.pool.lock().unwrap_or_else(|e| e.into_inner()).iter_mut() {
            slot.ctx.clear_kv_cache();
            slot.tokens.clear();
        }
    }

    /// An idle context that can hold `needed` tokens, preferring the one whose cache shares the
    /// longest prefix with `tokens`; a new one when none fits.
    fn take_slot(&self, tokens: &[LlamaToken], needed: u32, max_ctx: u32) -> Result<Slot, EngineError> {
        let inner = &*self.inner;
        {
            let mut pool = inner.pool.lock().unwrap_or_else(|e| e.into_inner());
            let best = pool
                .iter()
                .enumerate()
                .filter(|(_, slot)| slot.n_ctx >= needed)
                .max_by_key(|(_, slot)| common_prefix(&slot.tokens, tokens))
                .map(|(i, _)| i);
            if let Some(i) = best {
                return Ok(pool.swap_remove(i));
            }
        }
        // Big enough to be reused by most requests; allocating it costs a few milliseconds once.
        let n_ctx = needed.next_multiple_of(256).max(SLOT_CONTEXT).min(max_ctx);
        let threads = inner.options.threads.max(1) as i32;
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(n_ctx))
            .with_n_batch(PROMPT_BATCH)
            .with_n_ubatch(PROMPT_BATCH)
            .with_n_threads(threads)
            .with_n_threads_batch(threads);
        let _one_at_a_time = inner.context_lock.lock().unwrap_or_else(|e| e.into_inner());
        let ctx = inner
            .model
            .new_context(inner.backend, params)
            .map_err(|e| EngineError::Inference(format!("cannot create a context: {e}")))?;
        Ok(Slot { ctx, tokens: Vec::new(), n_ctx })
    }

    /// Puts a context back for the next request (a failed request's context is dropped instead,
    /// since its cache may not match its token list).
    fn return_slot(&self, slot: Slot) {
        let mut pool = self.inner.pool.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < MAX_IDLE_CONTEXTS {
            pool.push(slot);
        }
    }

    /// How many tokens of reply the context has room for after `prompt` (already templated).
    pub fn room_after(&self, prompt: &str) -> u32 {
        let inner = &*self.inner;
        let tokens = inner.model.vocab().tokenize(prompt.as_bytes(), true, true);
        let n_ctx = inner.options.context.min(inner.model.n_ctx_train().max(512));
        u32::try_from(u64::from(n_ctx).saturating_sub(tokens.len() as u64 + 1)).unwrap_or(0)
    }

    /// Whether `constraint` compiles to a grammar.
    pub(crate) fn can_use(&self, constraint: &Constraint) -> bool {
        self.matcher(constraint).is_ok()
    }

    /// What of `constraint` the grammar cannot enforce (llguidance's warnings: keywords it does
    /// not implement, such as `if`/`then` or `uniqueItems`, and formats it does not know), or
    /// the error when it does not compile at all. A reply to such a schema must be validated
    /// against it after generation.
    ///
    /// ```no_run
    /// # fn run(engine: &instructor_engine::Engine) {
    /// use instructor_engine::Constraint;
    /// let schema = serde_json::json!({"type": "object", "properties": {"a": {"type": "string"}},
    ///     "if": {"required": ["a"]}, "then": {"required": ["b"]}});
    /// let unenforced = engine.unenforced(&Constraint::JsonSchema(schema)).unwrap();
    /// assert!(unenforced.iter().any(|w| w.contains("if")));
    /// # }
    /// ```
    pub fn unenforced(&self, constraint: &Constraint) -> Result<Vec<String>, EngineError> {
        Ok(match self.matcher(constraint)? {
            Some((mut matcher, mut left_out)) => {
                left_out.extend(matcher.grammar_warnings());
                left_out
            }
            None => Vec::new(),
        })
    }

    /// Compiles a constraint into a matcher, failing on schemas llguidance cannot use; with what
    /// of the schema was left out of the grammar beforehand (see [`compact`]).
    fn matcher(&self, constraint: &Constraint) -> Result<Option<(Matcher, Vec<String>)>, EngineError> {
        let (schema, left_out) = match constraint {
            Constraint::None => return Ok(None),
            Constraint::JsonObject => compact(any_object()),
            Constraint::JsonSchema(schema) | Constraint::FencedJson(schema) | Constraint::JsonOrText(schema) => {
                compact(schema.clone())
            }
        };
        let grammar = match constraint {
            Constraint::FencedJson(_) => {
                TopLevelGrammar::from_lark(format!("start: \"```json\\n\" body \"\\n```\"\nbody: %json {schema}"))
            }
            Constraint::JsonOrText(_) => TopLevelGrammar::from_lark(format!(
                "start: json | words\njson: %json {schema}\nwords: /[^\\[{{](?s:.)*/"
            )),
            _ => TopLevelGrammar::from_json_schema(schema),
        };
        let matcher = Matcher::new(self.inner.factory.create_parser(grammar));
        // An errored matcher would silently stop constraining: refuse it.
        if let Some(e) = matcher.get_error() {
            return Err(EngineError::Grammar(e.to_string()));
        }
        Ok(Some((matcher, left_out)))
    }

    /// Generates a reply to `prompt` (already templated). Blocking; `cancel` stops it early.
    pub fn generate(
        &self,
        prompt: &str,
        constraint: &Constraint,
        sampling: &Sampling,
        cancel: Option<&AtomicBool>,
    ) -> Result<Generation, EngineError> {
        self.generate_streaming(prompt, constraint, sampling, cancel, &mut |_| {})
    }

    /// As [`generate`](Self::generate), handing each new piece of text to `on_text` as it is
    /// decoded (whole UTF-8 characters only: a token may end inside one).
    pub fn generate_streaming(
        &self,
        prompt: &str,
        constraint: &Constraint,
        sampling: &Sampling,
        cancel: Option<&AtomicBool>,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Generation, EngineError> {
        let started = Instant::now();
        let inner = &*self.inner;
        let matcher = self.matcher(constraint)?.map(|(matcher, _)| matcher);
        let vocab = inner.model.vocab();
        let tokens = vocab.tokenize(prompt.as_bytes(), true, true);
        let train_ctx = inner.model.n_ctx_train().max(512);
        let n_ctx = inner.options.context.min(train_ctx);
        let room = u64::from(n_ctx).saturating_sub(tokens.len() as u64 + 1);
        let max_tokens = match sampling.max_tokens {
            Some(n) => n,
            None if room == 0 => {
                return Err(EngineError::Prompt(format!(
                    "{} prompt tokens leave no room for a reply in the {n_ctx}-token context",
                    tokens.len()
                )));
            }
            None => room.min(u64::from(DEFAULT_MAX_TOKENS)) as u32,
        };
        let needed = tokens.len() as u64 + u64::from(max_tokens) + 1;
        if needed > u64::from(n_ctx) {
            return Err(EngineError::Prompt(format!(
                "{} prompt tokens + {max_tokens} to generate exceed the {n_ctx}-token context",
                tokens.len()
            )));
        }
        let mut slot = self.take_slot(&tokens, needed as u32, n_ctx)?;
        let greedy = sampling.temperature.is_none_or(|t| t <= 0.0) && !sampling.penalised();
        // Greedy decoding keeps the grammar out of llama.cpp's sampler chain (see `pick_greedy`).
        let (mut greedy_matcher, matcher) = if greedy { (matcher, None) } else { (None, matcher) };
        // Loops are watched for in JSON, which is what a grammar constrains (see `LoopGuard`).
        let guarded = greedy_matcher.is_some();
        // Replies to a schema are JSON from their first byte; fenced or optional JSON starts later.
        let mut guard = LoopGuard {
            started: matches!(constraint, Constraint::JsonObject | Constraint::JsonSchema(_)),
            ..LoopGuard::default()
        };
        let mut chain = Vec::with_capacity(6);
        if let Some(m) = matcher {
            // First in the chain: later filters must only ever see allowed tokens.
            chain.push(LlamaSampler::from(m));
        }
        if sampling.penalised() {
            chain.push(LlamaSampler::penalties(
                vocab.n_tokens(),
                PENALTY_WINDOW,
                sampling.repeat_penalty.unwrap_or(1.0),
                sampling.frequency_penalty.unwrap_or(0.0),
                sampling.presence_penalty.unwrap_or(0.0),
            ));
        }
        match sampling.temperature.filter(|t| *t > 0.0) {
            None => chain.push(LlamaSampler::greedy()),
            Some(t) => {
                if let Some(k) = sampling.top_k.filter(|k| *k > 0) {
                    chain.push(LlamaSampler::top_k(i32::try_from(k).unwrap_or(i32::MAX)));
                }
                if let Some(p) = sampling.top_p.filter(|p| *p > 0.0 && *p < 1.0) {
                    chain.push(LlamaSampler::top_p(p, 1));
                }
                chain.push(LlamaSampler::temp(t));
                chain.push(LlamaSampler::dist(sampling.seed));
            }
        }
        let mut sampler = LlamaSampler::chain_simple(chain);

        // Evaluate only what the context does not already hold: the blocks after the longest
        // prefix shared with what it last evaluated (at least the last token, for its logits).
        let reused = slot.prepare(&tokens);
        let prompt_started = Instant::now();
        let mut batch = LlamaBatch::new(PROMPT_BLOCK, 1);
        for (chunk_index, chunk) in tokens[reused..].chunks(PROMPT_BLOCK).enumerate() {
            batch.clear();
            let start = reused + chunk_index * PROMPT_BLOCK;
            for (i, token) in chunk.iter().enumerate() {
                let last = start + i + 1 == tokens.len();
                batch
                    .add(*token, (start + i) as i32, &[0], last)
                    .map_err(|e| EngineError::Inference(format!("prompt batch: {e}")))?;
            }
            slot.ctx.decode(&mut batch).map_err(|e| EngineError::Inference(format!("prompt decode: {e}")))?;
            slot.tokens.extend_from_slice(chunk);
        }
        let prompt_time = prompt_started.elapsed();
        let ctx = &mut slot.ctx;

        let decode_started = Instant::now();
        let mut first_token_time = Duration::ZERO;
        let mut out: Vec<u8> = Vec::new();
        let mut emitted = 0usize;
        let mut position = tokens.len() as i32;
        let mut generated = 0u32;
        let mut stop = Stop::Length;
        let mut logits_index = batch.n_tokens() - 1;
        // The token picked at each step, then those the grammar forces after it (`forced_tokens`).
        let mut step: Vec<LlamaToken> = Vec::with_capacity(8);
        while generated < max_tokens {
            if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
                stop = Stop::Cancelled;
                break;
            }
            let token = if greedy {
                if let Some(m) = greedy_matcher.as_ref().filter(|m| m.is_stopped()) {
                    if let Some(e) = m.get_error() {
                        return Err(grammar_error(e));
                    }
                    // The grammar is complete: nothing may follow.
                    stop = Stop::End;
                    break;
                }
                if let Some(m) = greedy_matcher.as_mut().filter(|_| guard.at_value_start()) {
                    let mut writer = Writer {
                        ctx: &mut *ctx,
                        batch: &mut batch,
                        matcher: m,
                        vocab: &vocab,
                        enders: &inner.enders,
                        guard: &mut guard,
                        out: &mut out,
                        position: &mut position,
                        logits_index: &mut logits_index,
                    };
                    let taken = writer.look_ahead(max_tokens - generated)?;
                    if taken > 0 {
                        generated += taken;
                        emit(&out, &mut emitted, on_text);
                        continue;
                    }
                }
                let piece = |t: LlamaToken| vocab.token_to_piece(t, false, None);
                pick_greedy(ctx.get_logits_ith(logits_index), greedy_matcher.as_mut(), &guard, &inner.enders, &piece)?
            } else {
                // `sample` applies the chain and accepts the token (the grammar advances here);
                // accepting it again would desynchronise the grammar.
                sampler.sample(ctx, logits_index)
            };
            if generated == 0 {
                first_token_time = started.elapsed();
            }
            if vocab.is_eog(token) {
                stop = Stop::End;
                break;
            }
            step.clear();
            step.push(token);
            if let Some(m) = greedy_matcher.as_mut() {
                m.consume_token(token.0 as u32).map_err(grammar_error)?;
                // The batch holds `PROMPT_BLOCK` tokens, the picked one among them.
                let room = (max_tokens - generated - 1).min(PROMPT_BLOCK as u32 - 1);
                forced_tokens(m, &vocab, room, &mut step);
            }
            for &token in &step {
                generated += 1;
                let written = out.len();
                vocab.token_to_piece_into(token, &mut out, false, None);
                if guarded {
                    guard.push(&out[written..]);
                }
            }
            emit(&out, &mut emitted, on_text);
            logits_index = evaluate(ctx, &mut batch, &step, &mut position)?;
        }
        if emitted < out.len() {
            on_text(&String::from_utf8_lossy(&out[emitted..]));
        }
        self.return_slot(slot);
        Ok(Generation {
            text: String::from_utf8_lossy(&out).into_owned(),
            prompt_tokens: tokens.len() as u32,
            cached_tokens: reused as u32,
            completion_tokens: generated,
            prompt_time,
            first_token_time,
            decode_time: decode_started.elapsed(),
            stop,
        })
    }
}

/// Appends to `step` the tokens of what the grammar forces next (the rest of a property name once
/// its first characters pick it, say), at most `room` of them, and advances `matcher` past them.
/// They are evaluated in one batch with the token picked before them, which costs little more
/// than that token alone.
///
/// The forced text is split as the model's tokenizer splits it, the way the model saw such text
/// in training, which also made the model's answers more often right on the quality set (README:
/// "Answers against llama.cpp's own server"). Its last token is left
/// for the model to pick, since it may merge with what comes next (`":` before a number's `1`
/// could be `":1`). Only tokens the grammar accepts are taken.
fn forced_tokens(matcher: &mut Matcher, vocab: &LlamaVocab<'_>, room: u32, step: &mut Vec<LlamaToken>) {
    if room == 0 || matcher.is_stopped() {
        return;
    }
    let forced = matcher.compute_ff_bytes();
    if forced.len() < 2 {
        return;
    }
    let mut tokens = vocab.tokenize(&forced, false, false);
    tokens.pop();
    tokens.truncate(room as usize);
    if tokens.is_empty() {
        return;
    }
    let ids: Vec<u32> = tokens.iter().map(|t| t.0 as u32).collect();
    let taken = matcher.try_consume_tokens(&ids).unwrap_or(0);
    step.extend_from_slice(&tokens[..taken]);
}

/// Evaluates a reply's `tokens` from `position` on (advancing it), in batches of at most
/// [`PROMPT_BLOCK`], the logits kept for the last token; returns where in the batch they are.
fn evaluate(
    ctx: &mut LlamaContext<'static>,
    batch: &mut LlamaBatch<'static>,
    tokens: &[LlamaToken],
    position: &mut i32,
) -> Result<i32, EngineError> {
    for chunk in tokens.chunks(PROMPT_BLOCK) {
        batch.clear();
        for (i, &token) in chunk.iter().enumerate() {
            batch
                .add(token, *position, &[0], i + 1 == chunk.len())
                .map_err(|e| EngineError::Inference(format!("batch: {e}")))?;
            *position += 1;
        }
        ctx.decode(batch).map_err(|e| EngineError::Inference(format!("decode: {e}")))?;
    }
    Ok(batch.n_tokens() - 1)
}

/// Hands on the reply's text not handed on yet, up to its last whole character.
fn emit(out: &[u8], emitted: &mut usize, on_text: &mut dyn FnMut(&str)) {
    let whole = match std::str::from_utf8(&out[*emitted..]) {
        Ok(text) => text,
        Err(e) => std::str::from_utf8(&out[*emitted..*emitted + e.valid_up_to()]).unwrap_or_default(),
    };
    if !whole.is_empty() {
        on_text(whole);
        *emitted += whole.len();
    }
}

/// The most tokens a looked-ahead string value is followed for (see [`Writer::look_ahead`]).
const LOOKAHEAD_TOKENS: u32 = 48;
/// How many first tokens a looked-ahead string value is tried with.
const LOOKAHEAD_CANDIDATES: usize = 3;
/// How many of the model's best first tokens are looked at for those the grammar allows.
const RUNNER_UP_TRIES: usize = 16;

/// Greedy decoding under a grammar, as the reply is written: what the context has evaluated past
/// the prompt, the grammar's state, and the reply's bytes follow each other here.
struct Writer<'a, 'v> {
    ctx: &'a mut LlamaContext<'static>,
    batch: &'a mut LlamaBatch<'static>,
    matcher: &'a mut Matcher,
    vocab: &'a LlamaVocab<'v>,
    enders: &'a Enders,
    guard: &'a mut LoopGuard,
    out: &'a mut Vec<u8>,
    /// The position of the next token to evaluate.
    position: &'a mut i32,
    /// Where in the last batch the logits for the next pick are.
    logits_index: &'a mut i32,
}

/// Where a reply stood before a look-ahead, to go back to.
struct Mark {
    guard: LoopGuard,
    out: usize,
    position: i32,
}

/// One greedy continuation of a string value (see [`Writer::look_ahead`]).
struct Branch {
    /// Every token written, those the grammar forced included.
    tokens: Vec<LlamaToken>,
    /// The sum of the model's log-probabilities for the tokens it picked (forced ones count 0).
    score: f32,
    /// Whether the string's closing quote was reached.
    closed: bool,
}

impl Writer<'_, '_> {
    /// At the start of a string value, weighs the model's best first tokens (up to
    /// [`LOOKAHEAD_CANDIDATES`]) by the whole value each leads to: each is continued greedily to
    /// the string's closing quote, and the value the model finds likelier as a whole (the sum of
    /// its tokens' log-probabilities) is written. Greedy decoding commits to its first token:
    /// given `Extract …: "A coffee is 3.5 euros."` and a field `product`, a 135M model likes `A`
    /// a little more than `Coffee`, then copies the whole sentence; as a whole, `Coffee` is
    /// likelier. With three first tokens tried this took the quality set from 216 to 228 fields
    /// right of 318 (two: 223; four: 227; six: 228). See README, "Answers against llama.cpp's own
    /// server".
    ///
    /// Returns how many tokens it wrote: 0 where the grammar allows only one first token, and the
    /// caller picks as usual. Another first token is followed only while its sum can still win,
    /// so a value the model is sure of costs little more than writing it.
    fn look_ahead(&mut self, budget: u32) -> Result<u32, EngineError> {
        let budget = budget.min(LOOKAHEAD_TOKENS);
        if budget < 2 {
            return Ok(0);
        }
        let (first, first_logprob, others) = {
            let logits = self.ctx.get_logits_ith(*self.logits_index);
            let piece = |t: LlamaToken| self.vocab.token_to_piece(t, false, None);
            let first = pick_greedy(logits, Some(&mut *self.matcher), self.guard, self.enders, &piece)?;
            let others = runners_up(logits, first, self.matcher, self.vocab)?;
            if others.is_empty() {
                return Ok(0);
            }
            let norm = log_sum_exp(logits);
            let others: Vec<(LlamaToken, f32)> = others.into_iter().map(|t| (t, logits[t.0 as usize] - norm)).collect();
            (first, logits[first.0 as usize] - norm, others)
        };
        let mark = Mark { guard: self.guard.clone(), out: self.out.len(), position: *self.position };
        let mut best = self.explore(first, first_logprob, budget, f32::NEG_INFINITY)?;
        // Whether what is written now is `best` (else the last branch tried, to take back).
        let mut written = Some(best.tokens.len());
        for (token, logprob) in others {
            if logprob <= best.score {
                // This first token alone is less likely than the whole of the best value.
                continue;
            }
            self.undo(&mark, written.take().unwrap_or(0))?;
            let branch = self.explore(token, logprob, budget, best.score)?;
            written = None;
            if branch.closed && branch.score > best.score {
                best = branch;
                written = Some(best.tokens.len());
            } else {
                self.undo(&mark, branch.tokens.len())?;
            }
        }
        if written.is_none() {
            let ids: Vec<u32> = best.tokens.iter().map(|t| t.0 as u32).collect();
            self.matcher.consume_tokens(&ids).map_err(grammar_error)?;
            self.write(&best.tokens)?;
        }
        Ok(best.tokens.len() as u32)
    }

    /// Writes greedily from `first` until the string it is in closes, `budget` tokens are
    /// written, or the sum of log-probabilities falls below `floor` (it could no longer win).
    fn explore(
        &mut self,
        first: LlamaToken,
        first_logprob: f32,
        budget: u32,
        floor: f32,
    ) -> Result<Branch, EngineError> {
        let mut branch = Branch { tokens: Vec::new(), score: first_logprob, closed: false };
        let mut token = first;
        loop {
            let from = branch.tokens.len();
            branch.tokens.push(token);
            self.matcher.consume_token(token.0 as u32).map_err(grammar_error)?;
            let room = (budget as usize - branch.tokens.len()).min(PROMPT_BLOCK - 1) as u32;
            forced_tokens(self.matcher, self.vocab, room, &mut branch.tokens);
            self.write(&branch.tokens[from..])?;
            if !self.guard.in_string {
                branch.closed = true;
                return Ok(branch);
            }
            if branch.tokens.len() >= budget as usize || self.matcher.is_stopped() {
                return Ok(branch);
            }
            let logits = self.ctx.get_logits_ith(*self.logits_index);
            let piece = |t: LlamaToken| self.vocab.token_to_piece(t, false, None);
            let next = pick_greedy(logits, Some(&mut *self.matcher), self.guard, self.enders, &piece)?;
            let score = branch.score + logits[next.0 as usize] - log_sum_exp(logits);
            if self.vocab.is_eog(next) || score < floor {
                return Ok(branch);
            }
            branch.score = score;
            token = next;
        }
    }

    /// Appends `tokens`' text to the reply and evaluates them, the logits kept for the last.
    fn write(&mut self, tokens: &[LlamaToken]) -> Result<(), EngineError> {
        let written = self.out.len();
        for &token in tokens {
            self.vocab.token_to_piece_into(token, self.out, false, None);
        }
        self.guard.push(&self.out[written..]);
        *self.logits_index = evaluate(self.ctx, self.batch, tokens, self.position)?;
        Ok(())
    }

    /// Takes back the `tokens` written since `mark`: from the grammar, the cache and the reply.
    fn undo(&mut self, mark: &Mark, tokens: usize) -> Result<(), EngineError> {
        self.matcher.rollback(tokens).map_err(grammar_error)?;
        let removed = self.ctx.clear_kv_cache_seq(Some(0), Some(mark.position as u32), None).unwrap_or(false);
        if !removed {
            return Err(EngineError::Inference("the cache could not take back a looked-ahead value".into()));
        }
        self.guard.clone_from(&mark.guard);
        self.out.truncate(mark.out);
        *self.position = mark.position;
        Ok(())
    }
}

/// The model's next best first tokens after `first` ([`LOOKAHEAD_CANDIDATES`] less one at most),
/// best first: those among its [`RUNNER_UP_TRIES`] best that the grammar allows and that do not
/// end the reply.
fn runners_up(
    logits: &[f32],
    first: LlamaToken,
    matcher: &mut Matcher,
    vocab: &LlamaVocab<'_>,
) -> Result<Vec<LlamaToken>, EngineError> {
    let mut best: Vec<(f32, usize)> = Vec::with_capacity(RUNNER_UP_TRIES + 1);
    for (i, &logit) in logits.iter().enumerate() {
        if best.len() == RUNNER_UP_TRIES && best[RUNNER_UP_TRIES - 1].0 >= logit {
            continue;
        }
        let at = best.partition_point(|(l, _)| *l >= logit);
        best.insert(at, (logit, i));
        best.truncate(RUNNER_UP_TRIES);
    }
    let mut runners = Vec::new();
    for (_, i) in best {
        let token = LlamaToken(i as i32);
        if token != first && !vocab.is_eog(token) && matcher.validate_tokens(&[i as u32]).map_err(grammar_error)? == 1 {
            runners.push(token);
            if runners.len() + 1 == LOOKAHEAD_CANDIDATES {
                break;
            }
        }
    }
    Ok(runners)
}

/// The log of the sum of the exponentials of `logits`: a token's log-probability is its logit
/// minus this. Logits more than [`NEGLIGIBLE_LOGIT`] below the largest are left out, their
/// exponentials not taken: each adds less than e^-20 of the largest's share, under 1e-4 in all
/// over a 50,000-token vocabulary.
fn log_sum_exp(logits: &[f32]) -> f32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f32 = logits.iter().filter(|&&l| l > max - NEGLIGIBLE_LOGIT).map(|&l| (l - max).exp()).sum();
    max + sum.ln()
}

/// See [`log_sum_exp`].
const NEGLIGIBLE_LOGIT: f32 = 20.0;

/// The greedy choice under an optional grammar. The model's top token is usually one the grammar
/// allows, and checking that one token is far cheaper than computing the grammar's mask over the
/// whole vocabulary, which is done only when the top token is refused. The result is the same
/// as masking first (the top allowed token), except where `guard` sees a loop: then a token that
/// would carry the loop on is passed over for the next best.
fn pick_greedy(
    logits: &[f32],
    mut matcher: Option<&mut Matcher>,
    guard: &LoopGuard,
    enders: &Enders,
    piece: &dyn Fn(LlamaToken) -> Vec<u8>,
) -> Result<LlamaToken, EngineError> {
    let looping = guard.period();
    let mut passed_over: Vec<usize> = Vec::new();
    // The same tokens as a flag per token, made at the first pass: looking each candidate up in
    // the list made a pass cost the vocabulary's size times the passes so far.
    let mut passed: Vec<bool> = Vec::new();
    let mut mask: Option<SimpleVob> = None;
    // Whether a token was passed over for carrying a loop of JSON's structure on.
    let mut structural_pass = false;
    // Whether the grammar allows no closing bracket, or no closing quote, here.
    let (mut brackets_refused, mut quotes_refused) = (false, false);
    loop {
        let candidates = logits
            .iter()
            .copied()
            .enumerate()
            .filter(|(i, _)| mask.as_ref().is_none_or(|m| m.is_allowed(*i as u32)))
            .filter(|(i, _)| passed.get(*i) != Some(&true));
        let Some(top) = argmax(candidates) else {
            // Everything the grammar allows carries the loop on: the best of it, then.
            return passed_over
                .first()
                .map(|&t| LlamaToken(t as i32))
                .ok_or_else(|| EngineError::Inference("the grammar allows no token here".into()));
        };
        if mask.is_none() {
            if let Some(m) = matcher.as_deref_mut() {
                if m.validate_tokens(&[top as u32]).map_err(grammar_error)? != 1 {
                    mask = Some(m.compute_mask_or_eos().map_err(grammar_error)?);
                    continue;
                }
            }
        }
        let token = LlamaToken(top as i32);
        // The token's text is looked at only where a loop could be: in a looping literal, with a
        // list open, or deep in an object.
        if passed_over.len() < LOOP_MAX_PASSES && (looping.is_some() || guard.could_loop()) {
            let bytes = piece(token);
            let structural = guard.continues_a_structural_loop(&bytes);
            if structural_pass && !guard.in_string && !bytes.is_empty() && bytes.iter().all(u8::is_ascii_whitespace) {
                // Whitespace only puts the structure's loop off (the grammar will not let it end
                // here, under a `minItems` say): carry on with the model's own choice.
                return Ok(LlamaToken(passed_over[0] as i32));
            }
            let literal = !structural && looping.is_some_and(|period| guard.continues(&bytes, period));
            // What loops is ended where the grammar allows: a string by its best closing quote, a
            // list or an object by its best closing bracket. Passed over for the next best token
            // only, the model most often ended it, but sometimes wandered into another loop
            // (`"a@b.c@a@b.c@nhale.x.nhale.x…"`) or put the end off with whitespace.
            // (A structural loop seen from inside a string, whose piece would close it and go
            // on, `",`, is passed over as before: a bracket there would be the string's text.)
            let in_literal = guard.in_string && !guard.escaped;
            let ending = match (structural, literal) {
                (true, _) if !guard.in_string => Some((&enders.bracket, &mut brackets_refused)),
                (false, true) if in_literal => Some((&enders.quote, &mut quotes_refused)),
                _ => None,
            };
            // Each kind is looked for once a pick: the grammar's answer does not change within it.
            if let Some((tokens, refused)) = ending.filter(|(_, refused)| !**refused) {
                match best_allowed(logits, tokens, matcher.as_deref_mut(), mask.as_ref())? {
                    Some(end) => return Ok(end),
                    None => *refused = true,
                }
            }
            if structural || literal {
                structural_pass |= structural;
                passed_over.push(top);
                if passed.is_empty() {
                    passed = vec![false; logits.len()];
                }
                passed[top] = true;
                continue;
            }
        }
        return Ok(token);
    }
}

/// The best of `tokens` by `logits` that the grammar allows (any of them without a grammar).
fn best_allowed(
    logits: &[f32],
    tokens: &[LlamaToken],
    mut matcher: Option<&mut Matcher>,
    mask: Option<&SimpleVob>,
) -> Result<Option<LlamaToken>, EngineError> {
    let mut ranked: Vec<(f32, LlamaToken)> = tokens
        .iter()
        .filter_map(|&t| logits.get(t.0 as usize).map(|&logit| (logit, t)))
        .filter(|(logit, _)| logit.is_finite())
        .collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (_, token) in ranked {
        let allowed = match (mask, matcher.as_deref_mut()) {
            (Some(mask), _) => mask.is_allowed(token.0 as u32),
            (None, Some(m)) => m.validate_tokens(&[token.0 as u32]).map_err(grammar_error)? == 1,
            (None, None) => true,
        };
        if allowed {
            return Ok(Some(token));
        }
    }
    Ok(None)
}

/// A unit repeated inside a JSON literal is a loop when it is at most this long...
const LOOP_MAX_PERIOD: usize = 80;
/// ...and its repetitions span at least this many bytes (and three repetitions).
const LOOP_MIN_BYTES: usize = 32;
/// A list loops when its last items repeat a unit of at most this many items...
const ITEM_LOOP_MAX_PERIOD: usize = 4;
/// ...this many times...
const ITEM_LOOP_REPEATS: usize = 4;
/// ...over at least this many bytes (without the whitespace between JSON tokens).
const ITEM_LOOP_MIN_BYTES: usize = 64;
/// ...or this many times, however short the items.
const ITEM_LOOP_MANY_REPEATS: usize = 16;
/// A list of strings loops when this many of its last items count up (see [`counts_up`]).
const COUNTING_ITEMS: usize = 16;
/// Nesting loops when this many levels in a row read the same (the next would be one more)...
const NESTING_LOOP_LEVELS: usize = 3;
/// ...over at least this many bytes each (so `[[[[` of nested arrays is let be).
const NESTING_LOOP_MIN_BYTES: usize = 8;
/// How many candidates a loop may pass over before the loop is let be.
const LOOP_MAX_PASSES: usize = 32;
/// The most of a literal's tail kept to look for loops in.
const LITERAL_KEEP: usize = 512;

/// Greedy decoding's guard against loops inside a JSON literal. A tiny model decoding greedily
/// can repeat one short unit until the token limit (`"1.1.1.1…"`, `"0000…"`, `".john.john…"`,
/// `3.000000000155555…`): no user wants that as data, and the reply is cut and lost. Once a
/// string's text ends in a unit of up to 80 bytes repeated three times and over at least 32
/// bytes (a phrase said again and again counts as much as `1.1.1`), the string is ended with
/// the best closing quote the grammar allows (where it allows none, a token that would repeat
/// the unit is passed over for the model's next choice); a number whose digits loop so is ended. Only the literal's own bytes count:
/// JSON's structure (the same keys in every item of a list) is never a loop here. Lists are
/// watched item by item, and nesting level by level, instead: see
/// [`LoopGuard::continues_a_structural_loop`].
#[derive(Debug, Default, Clone)]
struct LoopGuard {
    /// The document has begun (from the first byte, or at a `{` or `[` after a fence or prose).
    started: bool,
    in_string: bool,
    escaped: bool,
    in_number: bool,
    /// The current string's or number's bytes (its last `LITERAL_KEEP`, at least).
    literal: Vec<u8>,
    /// The reply so far without the whitespace between JSON tokens, for comparing list items.
    compact: Vec<u8>,
    /// Objects and arrays open, innermost last.
    open: Vec<Open>,
}

/// An object or array open in the reply (see [`LoopGuard`]).
#[derive(Debug, Clone)]
struct Open {
    /// Where its bracket is in `compact`.
    start: usize,
    list: bool,
    /// Where each of its items (an object's members) begins in `compact`.
    items: Vec<usize>,
}

impl LoopGuard {
    /// Follows the reply as it is written.
    fn push(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if !self.started {
                self.started = b == b'{' || b == b'[';
                if !self.started {
                    continue;
                }
            }
            self.follow_structure(b);
            if self.in_string {
                match (self.escaped, b) {
                    (false, b'"') => {
                        self.in_string = false;
                        self.literal.clear();
                    }
                    (false, b'\\') => {
                        self.escaped = true;
                        self.keep(b);
                    }
                    _ => {
                        self.escaped = false;
                        self.keep(b);
                    }
                }
            } else if b == b'"' {
                self.in_string = true;
                self.in_number = false;
                self.literal.clear();
            } else if b.is_ascii_digit() || b == b'-' || (self.in_number && matches!(b, b'.' | b'e' | b'E' | b'+')) {
                if !self.in_number {
                    self.in_number = true;
                    self.literal.clear();
                }
                self.keep(b);
            } else {
                self.in_number = false;
                self.literal.clear();
            }
        }
    }

    /// Keeps `compact` and the open containers up to date with `b` (called before `b` is read as
    /// part of a literal, so the string state is the one before it).
    fn follow_structure(&mut self, b: u8) {
        if self.in_string {
            self.compact.push(b);
            return;
        }
        if matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
            return;
        }
        self.compact.push(b);
        match b {
            b'{' | b'[' => {
                let start = self.compact.len() - 1;
                self.open.push(Open { start, list: b == b'[', items: vec![start + 1] });
            }
            b'}' | b']' => {
                self.open.pop();
            }
            b',' => {
                let next = self.compact.len();
                if let Some(open) = self.open.last_mut() {
                    open.items.push(next);
                }
            }
            _ => {}
        }
    }

    /// Whether `piece` carries a loop of JSON's structure on: another item of a list whose items
    /// loop ([`Self::items_loop`]; an object's members likewise), or another level of a nesting
    /// that repeats itself ([`Self::nesting_loops`]). A small model can write the same item, the
    /// same few items, a count, the same member, or the same object within itself, until the
    /// token limit; ending the list or object is then the best it can do.
    fn continues_a_structural_loop(&self, piece: &[u8]) -> bool {
        let structural = |b: &u8| matches!(b, b',' | b'{' | b'[');
        if !self.started || !piece.iter().any(structural) {
            return false;
        }
        let loops = |guard: &LoopGuard, b: u8| match b {
            b',' => guard.items_loop(),
            b'{' | b'[' => guard.nesting_loops(b),
            _ => false,
        };
        let mut bytes = piece.iter().copied().skip_while(u8::is_ascii_whitespace);
        if let (false, Some(first), None) = (self.in_string, bytes.next(), bytes.find(structural)) {
            if structural(&first) {
                return loops(self, first);
            }
        }
        // The piece may close an item first (`"},`): follow it byte by byte on a copy.
        let mut probe = self.clone();
        for &b in piece {
            if !probe.in_string && loops(&probe, b) {
                return true;
            }
            probe.push(&[b]);
        }
        false
    }

    /// Whether a structural loop could be under way: a list is open (at any depth), the
    /// innermost object has enough members to repeat one, or objects are nested deep enough to
    /// be nesting themselves.
    fn could_loop(&self) -> bool {
        self.open.iter().any(|open| open.list)
            || self.open.last().is_some_and(|open| open.items.len() >= if open.list { ITEM_LOOP_REPEATS } else { 2 })
            || self.open.len() >= NESTING_LOOP_LEVELS
    }

    /// Whether opening `bracket` here would nest the same text a [`NESTING_LOOP_LEVELS`]th time
    /// (`{"label":"a","items":[{"label":"a","items":[{"label":"a","items":[{…`): each level, one
    /// or two containers deep, reads the same from its bracket to the next level's, over at
    /// least [`NESTING_LOOP_MIN_BYTES`] bytes.
    fn nesting_loops(&self, bracket: u8) -> bool {
        let (m, end) = (self.open.len(), self.compact.len());
        (1..=2).any(|depth| {
            if m < NESTING_LOOP_LEVELS * depth || self.compact[self.open[m - depth].start] != bracket {
                return false;
            }
            // Level 0 is the one the bracket would end; each level spans `depth` containers.
            let level = |k: usize| {
                let to = if k == 0 { end } else { self.open[m - k * depth].start };
                &self.compact[self.open[m - (k + 1) * depth].start..to]
            };
            let last = level(0);
            last.len() >= NESTING_LOOP_MIN_BYTES && (1..NESTING_LOOP_LEVELS).all(|k| level(k) == last)
        })
    }

    /// Whether the innermost open container's items so far end in a loop: one to
    /// [`ITEM_LOOP_MAX_PERIOD`] items of a list repeated [`ITEM_LOOP_REPEATS`] times over at least
    /// [`ITEM_LOOP_MIN_BYTES`] bytes, or [`ITEM_LOOP_MANY_REPEATS`] times however short they are
    /// (`{},{},{},…`); or, in a list, strings that count up ([`counts_up`]). An object's loop is
    /// its last member's key written again: an object never repeats a key, but where a map's keys
    /// are free (`patternProperties`, `additionalProperties`) the grammar lets the model do so.
    fn items_loop(&self) -> bool {
        let Some(Open { list, items: starts, .. }) = self.open.last() else { return false };
        // Items as byte ranges of `compact`, the one being written included.
        let item = |i: usize| {
            let end = starts.get(i + 1).map_or(self.compact.len(), |next| next - 1);
            &self.compact[starts[i]..end]
        };
        let n = starts.len();
        if !list {
            let last = item(n - 1);
            let key = &last[..member_key_len(last)];
            return !key.is_empty() && (0..n - 1).any(|i| item(i).starts_with(key));
        }
        let repeats = (1..=ITEM_LOOP_MAX_PERIOD).any(|period| {
            // How many of the last items repeat the ones `period` before them, bounded: past
            // `ITEM_LOOP_MANY_REPEATS` units it is a loop whatever the bytes.
            let repeating = (period..n)
                .rev()
                .take(period * (ITEM_LOOP_MANY_REPEATS - 1))
                .take_while(|&i| item(i) == item(i - period))
                .count();
            let units = repeating / period + 1;
            units >= ITEM_LOOP_REPEATS
                && (units >= ITEM_LOOP_MANY_REPEATS
                    || (n - units * period..n).map(|i| item(i).len()).sum::<usize>() >= ITEM_LOOP_MIN_BYTES)
        });
        repeats || (n >= COUNTING_ITEMS && counts_up((n - COUNTING_ITEMS..n).map(item)))
    }

    /// Whether the reply has just opened a string that is a value (not an object's key) and
    /// written nothing in it yet.
    fn at_value_start(&self) -> bool {
        let n = self.compact.len();
        self.in_string
            && !self.escaped
            && self.literal.is_empty()
            && n >= 2
            && match self.compact[n - 2] {
                b':' | b'[' => true,
                b',' => self.open.last().is_some_and(|open| open.list),
                _ => false,
            }
    }

    fn keep(&mut self, b: u8) {
        if self.literal.len() >= LITERAL_KEEP {
            self.literal.drain(..LITERAL_KEEP / 2);
        }
        self.literal.push(b);
    }

    /// The period of the unit the current literal ends repeating, if it loops.
    fn period(&self) -> Option<usize> {
        if !(self.in_string || self.in_number) {
            return None;
        }
        let literal = &self.literal;
        let n = literal.len();
        (1..=LOOP_MAX_PERIOD.min(n / 3)).find(|&p| {
            let repeated = (p..n).rev().take_while(|&i| literal[i] == literal[i - p]).count() + p;
            repeated >= LOOP_MIN_BYTES.max(3 * p)
        })
    }

    /// Whether `piece` carries a loop of `period` on: in a string, every byte of it repeats the
    /// unit; in a number, any more of the number.
    fn continues(&self, piece: &[u8], period: usize) -> bool {
        if self.in_number {
            return piece.first().is_some_and(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
        }
        let n = self.literal.len();
        !piece.is_empty() && piece.iter().enumerate().all(|(j, &b)| b == self.literal[n - period + j % period])
    }
}

/// How long an object member's key is in `member` (compact `"key":value`), both quotes and the
/// colon included, so that members with the same key share that prefix; 0 if it has none.
fn member_key_len(member: &[u8]) -> usize {
    let mut escaped = false;
    for (i, &b) in member.iter().enumerate().skip(1) {
        match (escaped, b) {
            (false, b'\\') => escaped = true,
            (false, b'"') => return if member.get(i + 1) == Some(&b':') { i + 2 } else { 0 },
            _ => escaped = false,
        }
    }
    0
}

/// Whether `items` are strings alike but for their digits, whose digits read as one number go up
/// by the same step from each to the next (`"1.1","1.2",…,"1.9","2.0"`, `"value1","value2",…`):
/// a tiny model counts so until the token limit. Objects and numbers are not judged, since a
/// list of records or of figures can rightly count.
fn counts_up<'a>(items: impl Iterator<Item = &'a [u8]>) -> bool {
    /// The item with each run of digits as one `0`, and its digits read as one number.
    fn shape(item: &[u8]) -> Option<(Vec<u8>, u128)> {
        if item.len() < 2 || item[0] != b'"' {
            return None;
        }
        let (mut mask, mut value, mut digits) = (Vec::with_capacity(item.len()), 0u128, 0);
        for &b in item {
            if b.is_ascii_digit() {
                digits += 1;
                // u128 holds 38 digits; longer runs are not counting.
                if digits > 38 {
                    return None;
                }
                value = value * 10 + u128::from(b - b'0');
                if mask.last() != Some(&b'0') {
                    mask.push(b'0');
                }
            } else {
                mask.push(b);
            }
        }
        (digits > 0).then_some((mask, value))
    }
    let mut previous: Option<(Vec<u8>, u128)> = None;
    let mut step = None;
    for item in items {
        let Some((mask, value)) = shape(item) else { return false };
        if let Some((last_mask, last_value)) = previous {
            let Some(delta) = value.checked_sub(last_value).filter(|d| *d > 0) else { return false };
            if mask != last_mask || step.is_some_and(|s| s != delta) {
                return false;
            }
            step = Some(delta);
        }
        previous = Some((mask, value));
    }
    step.is_some()
}

fn grammar_error(e: impl std::fmt::Display) -> EngineError {
    EngineError::Inference(format!("grammar: {e}"))
}

/// The index of the largest value (the first of equals, as llama.cpp's greedy sampler).
fn argmax(values: impl Iterator<Item = (usize, f32)>) -> Option<usize> {
    let mut best: Option<(usize, f32)> = None;
    for (i, v) in values {
        if best.is_none_or(|(_, b)| v > b) {
            best = Some((i, v));
        }
    }
    best.map(|(i, _)| i)
}

/// Any JSON object, spelled out: `compact` closes objects whose schema does not open them, so a
/// bare `{"type":"object"}` would allow only `{}`. Nesting is bounded (objects in objects three
/// deep, arrays of values): a grammar of unbounded JSON decodes far slower.
fn any_object() -> Value {
    fn object(depth: u32) -> Value {
        let scalar = json!({"type": ["string", "number", "boolean", "null"]});
        let value = if depth == 0 {
            json!({"anyOf": [scalar, {"type": "array", "items": scalar}]})
        } else {
            let inner = object(depth - 1);
            json!({"anyOf": [scalar, {"type": "array", "items": {"anyOf": [scalar, inner]}}, inner]})
        };
        json!({"type": "object", "additionalProperties": value})
    }
    object(2)
}

/// The most tokens of one llama.cpp batch (the context's setting).
const PROMPT_BATCH: u32 = 512;
/// Prompts are evaluated in blocks of this many tokens that start at multiples of it, whether or
/// not a cached prefix is reused: llama.cpp's numbers for a token depend on the batch it was
/// evaluated in, so reusing a prefix that ends mid-block could change a greedy reply. 64 makes a
/// short extraction prompt one batch (16-token blocks made a 50-token prefill about 1.4× slower)
/// and still reuses most of a long shared system prompt.
const PROMPT_BLOCK: usize = 64;
/// The smallest pooled context, in tokens.
const SLOT_CONTEXT: u32 = 2048;
/// Idle contexts kept (each holds its KV cache: about 45 MB at 2,048 tokens for the default model).
const MAX_IDLE_CONTEXTS: usize = 2;

/// A context and the prompt tokens its KV cache holds, in order from position 0. (Generated
/// tokens are not reused: they were evaluated a few at a time, not in blocks.)
struct Slot {
    ctx: LlamaContext<'static>,
    tokens: Vec<LlamaToken>,
    n_ctx: u32,
}

impl Slot {
    /// Drops what the cache holds past the whole blocks it shares with `tokens`, keeping at least
    /// the last token to evaluate (its logits start the reply). Returns how many tokens are kept.
    fn prepare(&mut self, tokens: &[LlamaToken]) -> usize {
        let shared = common_prefix(&self.tokens, tokens).min(tokens.len().saturating_sub(1));
        let keep = shared - shared % PROMPT_BLOCK;
        // Everything past `keep` goes, the last reply's tokens included.
        let removed = self.ctx.clear_kv_cache_seq(Some(0), Some(keep as u32), None).unwrap_or(false);
        if !removed {
            self.ctx.clear_kv_cache();
            self.tokens.clear();
            return 0;
        }
        self.tokens.truncate(keep);
        keep
    }
}

fn common_prefix(a: &[LlamaToken], b: &[LlamaToken]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

fn chatml() -> Result<LlamaChatTemplate, EngineError> {
    LlamaChatTemplate::new("chatml").map_err(|e| EngineError::Prompt(e.to_string()))
}

/// Whitespace the grammar allows between JSON tokens: a space, or a line break or two and up to
/// 20 spaces or tabs of indentation. The model may lay JSON out the way it saw it in training
/// (which its values follow), but cannot wander into endless blanks; replies handed out are
/// compacted again (see [`JsonCompactor`]).
pub(crate) const JSON_WHITESPACE: &str = r"(?:\x20|\x0A{1,2}[\x20\x09]{0,20})";

/// The grammar to generate from: bounded whitespace between JSON tokens, objects closed unless
/// the schema opens them (a tiny model would otherwise invent keys until the token limit),
/// integers bounded like llama.cpp's, required properties before optional ones, and unknown
/// keywords and formats tolerated rather than fatal (the caller is told which, see
/// [`Engine::unenforced`]). The reply is still validated against the caller's schema as it was.
/// Also returns what was left out of the grammar (see [`leave_out_unsupported_patterns`]).
fn compact(mut schema: Value) -> (Value, Vec<String>) {
    let mut left_out = Vec::new();
    leave_out_unsupported_patterns(&mut schema, &mut left_out);
    require_dependencies(&mut schema);
    close_objects(&mut schema);
    bound_integers(&mut schema);
    required_first(&mut schema);
    let options = json!({"whitespace_flexible": false, "whitespace_pattern": JSON_WHITESPACE, "lenient": true});
    if let Some(obj) = schema.as_object_mut() {
        obj.remove("$schema");
        obj.entry("x-guidance").or_insert(options);
    } else if schema == Value::Bool(true) {
        // `true` allows anything; generate an object.
        schema = json!({"x-guidance": options});
    }
    (schema, left_out)
}

/// What the grammar cannot take of a JSON Schema regex (ECMAScript, where the grammar's regexes
/// have neither look-around nor backreferences), if anything.
fn unsupported_regex(pattern: &str) -> Option<&'static str> {
    use regex_syntax::ast::ErrorKind;
    match regex_syntax::ast::parse::Parser::new().parse(pattern).map_err(|e| e.kind().clone()) {
        Err(ErrorKind::UnsupportedLookAround) => Some("look-around"),
        Err(ErrorKind::UnsupportedBackreference) => Some("a backreference"),
        _ => None,
    }
}

/// Whether a `patternProperties` regex matches every non-empty key (JSON Schema regexes search:
/// `.` and `.*` alike), so that any other pattern beside it overlaps it.
fn matches_every_key(pattern: &str) -> bool {
    let core = pattern.strip_prefix('^').unwrap_or(pattern);
    let core = core.strip_suffix('$').unwrap_or(core);
    let core = core.strip_prefix('(').and_then(|c| c.strip_suffix(')')).unwrap_or(core);
    matches!(core, "" | "." | ".*" | ".+")
}

/// Leaves out of the grammar the patterns it cannot enforce, each named in `left_out` so the
/// reply is checked against them after generation (and the caller warned) instead of the whole
/// schema being refused: a `pattern` with look-around or a backreference (the string goes
/// unconstrained); such a `patternProperties` regex (keys it would match fall to
/// `additionalProperties`); and `patternProperties` regexes beside one that matches every key,
/// which the grammar cannot take since they overlap (keys they match follow the catch-all's
/// schema while generating).
fn leave_out_unsupported_patterns(schema: &mut Value, left_out: &mut Vec<String>) {
    match schema {
        Value::Object(obj) => {
            if let Some(Value::String(pattern)) = obj.get("pattern") {
                if let Some(feature) = unsupported_regex(pattern) {
                    left_out.push(format!("pattern /{pattern}/ ({feature})"));
                    obj.remove("pattern");
                }
            }
            if let Some(Value::Object(patterns)) = obj.get_mut("patternProperties") {
                patterns.retain(|pattern, _| match unsupported_regex(pattern) {
                    Some(feature) => {
                        left_out.push(format!("patternProperties /{pattern}/ ({feature})"));
                        false
                    }
                    None => true,
                });
                if let Some(catch_all) = patterns.keys().find(|p| matches_every_key(p)).cloned() {
                    patterns.retain(|pattern, _| {
                        let keep = *pattern == catch_all;
                        if !keep {
                            left_out.push(format!("patternProperties /{pattern}/ (overlaps /{catch_all}/)"));
                        }
                        keep
                    });
                }
            }
            subschemas(obj, |sub| leave_out_unsupported_patterns(sub, left_out));
        }
        Value::Array(items) => items.iter_mut().for_each(|item| leave_out_unsupported_patterns(item, left_out)),
        _ => {}
    }
}

/// Keywords that describe an object's properties apart from `properties` itself: an object with
/// any of them is not closed, since closing it could forbid what they allow (properties declared
/// only in `oneOf` branches, say) and make a satisfiable schema unsatisfiable.
const OPEN_BY_COMPOSITION: [&str; 9] =
    ["allOf", "anyOf", "oneOf", "$ref", "if", "then", "else", "dependentSchemas", "unevaluatedProperties"];

/// The conditional keywords (see [`Closing::visit`]).
const CONDITIONAL: [&str; 3] = ["if", "then", "else"];

/// The properties that the `then` and `else` branches of `obj` declare (nested conditions too),
/// each with the first schema found for it.
fn conditional_properties(obj: &serde_json::Map<String, Value>, out: &mut Vec<(String, Value)>) {
    for key in ["then", "else"] {
        let Some(branch) = obj.get(key).and_then(Value::as_object) else { continue };
        if let Some(properties) = branch.get("properties").and_then(Value::as_object) {
            for (name, property) in properties {
                if !out.iter().any(|(n, _)| n == name) {
                    out.push((name.clone(), property.clone()));
                }
            }
        }
        conditional_properties(branch, out);
    }
}

/// Adds `additionalProperties: false` to object schemas that describe all their properties
/// themselves. An object stays open where closing it could forbid what the schema allows: inside
/// `allOf` (a branch's object is merged with the others'), when it requires a property it does not
/// declare, and for a definition that a `$ref` brings into such a place (found by walking the
/// schema until no new definition turns up: definitions refer to each other).
fn close_objects(schema: &mut Value) {
    let mut open_definitions = std::collections::HashSet::new();
    loop {
        let mut walk = Closing { open_definitions: &open_definitions, open_refs: Vec::new(), apply: false };
        walk.visit(&mut schema.clone(), true);
        let before = open_definitions.len();
        open_definitions.extend(walk.open_refs);
        if open_definitions.len() == before {
            break;
        }
    }
    Closing { open_definitions: &open_definitions, open_refs: Vec::new(), apply: true }.visit(schema, true);
}

/// One walk of [`close_objects`]: `open_refs` collects the definitions referred to where objects
/// must stay open; with `apply`, objects are closed.
struct Closing<'a> {
    open_definitions: &'a std::collections::HashSet<String>,
    open_refs: Vec<String>,
    apply: bool,
}

impl Closing<'_> {
    fn visit(&mut self, schema: &mut Value, closable: bool) {
        let Some(obj) = schema.as_object_mut() else { return };
        if !closable {
            if let Some(name) = obj.get("$ref").and_then(Value::as_str).and_then(definition_name) {
                self.open_refs.push(name);
            }
        }
        let is_object = obj.get("type").and_then(Value::as_str) == Some("object") || obj.contains_key("properties");
        // `if`/`then`/`else` are not enforced by the grammar (llguidance warns and drops them);
        // left open, such an object lets a tiny model invent keys until the token limit. Closed,
        // it offers every property its conditions declare, which is what the schema describes.
        let conditional = CONDITIONAL.iter().any(|k| obj.contains_key(*k));
        let composed_otherwise =
            OPEN_BY_COMPOSITION.iter().filter(|k| !CONDITIONAL.contains(k)).any(|k| obj.contains_key(*k));
        if self.apply && closable && is_object && conditional && !composed_otherwise {
            let mut declared_in_branches = Vec::new();
            conditional_properties(obj, &mut declared_in_branches);
            if let Some(properties) = obj.entry("properties").or_insert_with(|| json!({})).as_object_mut() {
                for (name, property) in declared_in_branches {
                    properties.entry(name).or_insert(property);
                }
            }
        }
        let composed = composed_otherwise;
        let declared =
            |name: &str| obj.get("properties").and_then(Value::as_object).is_some_and(|p| p.contains_key(name));
        let requires_undeclared = obj
            .get("required")
            .and_then(Value::as_array)
            .is_some_and(|names| names.iter().filter_map(Value::as_str).any(|n| !declared(n)));
        if self.apply
            && closable
            && is_object
            && !composed
            && !requires_undeclared
            && !obj.contains_key("additionalProperties")
            && !obj.contains_key("patternProperties")
        {
            obj.insert("additionalProperties".to_owned(), Value::Bool(false));
        }
        // Branches of an object that has properties of its own must allow those.
        let own_properties = obj.contains_key("properties");
        for (key, sub) in obj.iter_mut() {
            match key.as_str() {
                "properties" => {
                    if let Some(map) = sub.as_object_mut() {
                        map.values_mut().for_each(|s| self.visit(s, true));
                    }
                }
                "$defs" | "definitions" => {
                    if let Some(map) = sub.as_object_mut() {
                        for (name, s) in map.iter_mut() {
                            let open = self.open_definitions.contains(name);
                            self.visit(s, !open);
                        }
                    }
                }
                "items" | "additionalProperties" => self.visit(sub, true),
                "anyOf" | "oneOf" => {
                    if let Some(list) = sub.as_array_mut() {
                        list.iter_mut().for_each(|s| self.visit(s, !own_properties));
                    }
                }
                "allOf" => {
                    if let Some(list) = sub.as_array_mut() {
                        list.iter_mut().for_each(|s| self.visit(s, false));
                    }
                }
                "prefixItems" => {
                    if let Some(list) = sub.as_array_mut() {
                        list.iter_mut().for_each(|s| self.visit(s, true));
                    }
                }
                _ => {}
            }
        }
    }
}

/// The name of the definition a `$ref` points to (`#/$defs/name` or `#/definitions/name`, also
/// after a base URI), if it is one.
fn definition_name(reference: &str) -> Option<String> {
    let pointer = &reference[reference.find('#')? + 1..];
    let name = pointer.strip_prefix("/$defs/").or_else(|| pointer.strip_prefix("/definitions/"))?;
    // Definitions nested deeper are not told apart: the first segment names the top one.
    let segment = name.split('/').next().unwrap_or(name);
    Some(segment.replace("~1", "/").replace("~0", "~"))
}

/// The largest integer magnitude generated when a schema sets no bounds (JavaScript's safe
/// integers, 16 digits): llama.cpp caps integer literals likewise, and without a cap a greedy
/// small model can write digits until the token limit.
const INTEGER_BOUND: i64 = 9_007_199_254_740_991;

fn bound_integers(schema: &mut Value) {
    match schema {
        Value::Object(obj) => {
            let integer = match obj.get("type") {
                Some(Value::String(t)) => t == "integer",
                Some(Value::Array(types)) => types.iter().any(|t| t == "integer"),
                _ => false,
            };
            if integer {
                let no_min = !obj.contains_key("minimum") && !obj.contains_key("exclusiveMinimum");
                let no_max = !obj.contains_key("maximum") && !obj.contains_key("exclusiveMaximum");
                if no_min {
                    obj.insert("minimum".into(), json!(-INTEGER_BOUND));
                }
                if no_max {
                    obj.insert("maximum".into(), json!(INTEGER_BOUND));
                }
            }
            subschemas(obj, bound_integers);
        }
        Value::Array(items) => items.iter_mut().for_each(bound_integers),
        _ => {}
    }
}

/// Applies `rewrite` to each value of a schema object that can hold schemas: the values of
/// `enum`, `const`, `default` and `examples` are data, and `x-guidance` is the grammar's options.
fn subschemas(obj: &mut serde_json::Map<String, Value>, mut rewrite: impl FnMut(&mut Value)) {
    for (key, sub) in obj.iter_mut() {
        if !matches!(key.as_str(), "enum" | "const" | "default" | "examples" | "x-guidance") {
            rewrite(sub);
        }
    }
}

/// Enforces property dependencies (`dependencies` with a list of names, `dependentRequired`),
/// which the grammar cannot express ("if `a` is written, so are `b` and `c`"), by requiring the
/// dependent properties outright: every reply to the stricter schema satisfies the caller's.
/// A dependent property the object does not declare is left to the check after generation,
/// since requiring it could make a closed object unsatisfiable.
fn require_dependencies(schema: &mut Value) {
    match schema {
        Value::Object(obj) => {
            for keyword in ["dependencies", "dependentRequired"] {
                let declared = |name: &str| obj.get("properties").and_then(|p| p.get(name)).is_some();
                let mut required: Vec<Value> = Vec::new();
                let mut enforced: Vec<String> = Vec::new();
                if let Some(Value::Object(dependencies)) = obj.get(keyword) {
                    for (trigger, dependents) in dependencies {
                        let Some(names) = dependents.as_array() else { continue };
                        if names.iter().all(|n| n.as_str().is_some_and(declared)) {
                            required.extend(names.iter().cloned());
                            enforced.push(trigger.clone());
                        }
                    }
                }
                if enforced.is_empty() {
                    continue;
                }
                if let Some(Value::Object(dependencies)) = obj.get_mut(keyword) {
                    dependencies.retain(|trigger, _| !enforced.contains(trigger));
                    if dependencies.is_empty() {
                        obj.remove(keyword);
                    }
                }
                let list = obj.entry("required").or_insert_with(|| json!([]));
                if let Value::Array(list) = list {
                    for name in required {
                        if !list.contains(&name) {
                            list.push(name);
                        }
                    }
                }
            }
            subschemas(obj, require_dependencies);
        }
        Value::Array(items) => items.iter_mut().for_each(require_dependencies),
        _ => {}
    }
}

/// Moves each object's required properties ahead of its optional ones, keeping their order
/// otherwise, as llama.cpp's grammar does. The grammar writes properties in schema order, so
/// with an optional property first a small model tends to take it (and loop in it) before it
/// ever reaches what was asked for; the order of `properties` means nothing to validation.
fn required_first(schema: &mut Value) {
    match schema {
        Value::Object(obj) => {
            let required: Vec<String> = match obj.get("required") {
                Some(Value::Array(names)) => names.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
                _ => Vec::new(),
            };
            if let (false, Some(Value::Object(properties))) = (required.is_empty(), obj.get_mut("properties")) {
                let mut entries: Vec<(String, Value)> = std::mem::take(properties).into_iter().collect();
                // A stable sort: required ones first, each group in its original order.
                entries.sort_by_key(|(name, _)| !required.contains(name));
                properties.extend(entries);
            }
            subschemas(obj, required_first);
        }
        Value::Array(items) => items.iter_mut().for_each(required_first),
        _ => {}
    }
}

/// Drops the whitespace between JSON tokens as text streams through (strings are left alone), so
/// that a reply the model laid out over lines is handed out compact, piece by piece.
#[derive(Debug, Default, Clone)]
pub struct JsonCompactor {
    in_string: bool,
    escaped: bool,
}

impl JsonCompactor {
    /// The compact form of the next piece.
    ///
    /// ```
    /// let mut c = instructor_engine::JsonCompactor::default();
    /// let out: String = ["{\n  \"name\": \"Ja", "son  Doe\",\n", "  \"age\": 20\n}"].iter().map(|p| c.push(p)).collect();
    /// assert_eq!(out, r#"{"name":"Jason  Doe","age":20}"#);
    /// ```
    pub fn push(&mut self, piece: &str) -> String {
        let mut out = String::with_capacity(piece.len());
        for c in piece.chars() {
            if self.in_string {
                out.push(c);
                if self.escaped {
                    self.escaped = false;
                } else if c == '\\' {
                    self.escaped = true;
                } else if c == '"' {
                    self.in_string = false;
                }
            } else if !matches!(c, ' ' | '\n' | '\r' | '\t') {
                self.in_string = c == '"';
                out.push(c);
            }
        }
        out
    }
}

/// A GGUF file starts with the magic `GGUF`; checking it first turns a wrong or truncated file
/// into a clear error instead of a crash inside llama.cpp.
fn check_gguf(path: &Path) -> Result<(), EngineError> {
    let meta = std::fs::metadata(path).map_err(|e| EngineError::model(format!("{}: {e}", path.display())))?;
    if !meta.is_file() {
        return Err(EngineError::model(format!("{} is not a file", path.display())));
    }
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .map_err(|e| EngineError::model(format!("{}: {e}", path.display())))?;
    if &magic != b"GGUF" {
        return Err(EngineError::model(format!("{} is not a GGUF model file", path.display())));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The grammar's schema alone.
    fn compact(schema: Value) -> Value {
        super::compact(schema).0
    }

    fn keys(schema: &Value) -> Vec<&str> {
        schema["properties"].as_object().expect("properties").keys().map(String::as_str).collect()
    }

    #[test]
    fn required_properties_come_first_at_every_depth() {
        let schema = compact(json!({
            "type": "object",
            "properties": {
                "env": {"type": "string"},
                "kind": {"type": "string"},
                "image": {"type": "string"},
                "inner": {
                    "type": "object",
                    "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}, "c": {"type": "integer"}},
                    "required": ["c", "a"]
                }
            },
            "required": ["image", "kind"]
        }));
        // Required in their schema order (not `required`'s), then the rest in theirs.
        assert_eq!(keys(&schema), ["kind", "image", "env", "inner"]);
        assert_eq!(keys(&schema["properties"]["inner"]), ["a", "c", "b"]);
        assert_eq!(schema["additionalProperties"], false);
    }

    #[test]
    fn definitions_merged_by_all_of_stay_open_and_others_close() {
        // As JSON Schema Store's machine.schema: a definition extended through `allOf` must allow
        // the extension's properties, also when it is reached through another definition.
        let schema = compact(json!({
            "$ref": "#/definitions/history",
            "definitions": {
                "base": {"type": "object", "properties": {"id": {"type": "string"}}},
                "middle": {"$ref": "#/definitions/base"},
                "history": {"allOf": [{"$ref": "#/definitions/middle"},
                                      {"type": "object", "properties": {"history": {"type": "string"}}, "required": ["history"]}]},
                "unrelated": {"type": "object", "properties": {"a": {"type": "string"}}}
            }
        }));
        let defs = &schema["definitions"];
        assert!(defs["base"].get("additionalProperties").is_none(), "{defs}");
        assert!(defs["history"]["allOf"][1].get("additionalProperties").is_none());
        assert_eq!(defs["unrelated"]["additionalProperties"], false);
        assert_eq!(definition_name("https://example.com/s.json#/$defs/a~1b/properties/c").as_deref(), Some("a/b"));
    }

    #[test]
    fn an_object_requiring_an_undeclared_property_stays_open() {
        let schema = compact(
            json!({"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name", "type"]}),
        );
        assert!(schema.get("additionalProperties").is_none());
    }

    #[test]
    fn objects_composed_from_branches_stay_open() {
        let schema = compact(json!({
            "type": "object",
            "properties": {"type": {"type": "string"}},
            "oneOf": [{"properties": {"coordinates": {"type": "array"}}, "required": ["coordinates"]}]
        }));
        assert!(schema.get("additionalProperties").is_none());
        assert!(schema["oneOf"][0].get("additionalProperties").is_none());
    }

    #[test]
    fn conditional_objects_close_over_every_property_their_branches_declare() {
        let schema = compact(json!({
            "type": "object",
            "required": ["specVersion"],
            "properties": {"specVersion": {"enum": ["2.0", "1.1"]}},
            "if": {"properties": {"specVersion": {"const": "2.0"}}},
            "then": {
                "required": ["type"],
                "properties": {"type": {"enum": ["application", "library"]}},
                "else": {"properties": {"kind": {"type": "string"}}}
            }
        }));
        assert_eq!(schema["additionalProperties"], json!(false));
        assert_eq!(keys(&schema), ["specVersion", "type", "kind"]);
        assert_eq!(schema["properties"]["type"], json!({"enum": ["application", "library"]}));
        // With other composition as well, the object stays open as before.
        let open = compact(json!({"type": "object", "properties": {"a": {}}, "if": {}, "then": {}, "allOf": [{}]}));
        assert!(open.get("additionalProperties").is_none());
    }

    #[test]
    fn patterns_the_grammar_cannot_take_are_left_out_by_name() {
        let (schema, left_out) = super::compact(json!({
            "type": "object",
            "properties": {
                "slug": {"type": "string", "pattern": "^(?!draft).+$"},
                "twice": {"type": "string", "pattern": "^(a)\\1$"},
                "plain": {"type": "string", "pattern": "^[a-z]+$"},
                "params": {"type": "object", "patternProperties": {"^(?!title)$": {"type": "string"}, "^x-": {}}},
                "hooks": {"type": "object", "patternProperties": {".*": {"type": "string"}, "github": {"type": "integer"}}}
            },
            "examples": [{"slug": "(?!data, not a schema)"}]
        }));
        let properties = &schema["properties"];
        assert!(properties["slug"].get("pattern").is_none(), "{schema}");
        assert!(properties["twice"].get("pattern").is_none());
        assert_eq!(properties["plain"]["pattern"], "^[a-z]+$");
        let keys = |name: &str| {
            properties[name]["patternProperties"]
                .as_object()
                .expect("patternProperties")
                .keys()
                .cloned()
                .collect::<Vec<_>>()
        };
        assert_eq!(keys("params"), ["^x-"]);
        assert_eq!(keys("hooks"), [".*"]);
        assert_eq!(schema["examples"][0]["slug"], "(?!data, not a schema)");
        assert_eq!(left_out.len(), 4, "{left_out:?}");
        assert_eq!(left_out[0], "pattern /^(?!draft).+$/ (look-around)");
        assert!(left_out[1].contains("backreference"), "{left_out:?}");
        assert_eq!(left_out[2], "patternProperties /^(?!title)$/ (look-around)");
        assert_eq!(left_out[3], "patternProperties /github/ (overlaps /.*/)");
        assert!(matches_every_key("^(.*)$") && matches_every_key(".") && !matches_every_key("^x-.*"));
    }

    fn guard_after(text: &str) -> LoopGuard {
        let mut guard = LoopGuard::default();
        guard.push(text.as_bytes());
        guard
    }

    #[test]
    fn a_unit_repeated_in_a_string_is_a_loop_and_only_its_repetition_is_passed_over() {
        let guard = guard_after(&format!(r#"{{"codec":"{}"#, "1.".repeat(20)));
        assert_eq!(guard.period(), Some(2));
        assert!(guard.continues(b"1", 2));
        assert!(guard.continues(b"1.1", 2));
        assert!(!guard.continues(b"\"", 2), "closing the string ends the loop");
        assert!(!guard.continues(b"1\"", 2));
        let guard = guard_after(&format!(r#"{{"email":"{}"#, ".john".repeat(8)));
        assert_eq!(guard.period(), Some(5));
        assert!(guard.continues(b".jo", 5));
    }

    #[test]
    fn log_probabilities_sum_to_one_and_far_logits_barely_count() {
        let logits = [2.0f32, 1.0, -0.5, 0.0];
        let norm = log_sum_exp(&logits);
        let total: f32 = logits.iter().map(|l| (l - norm).exp()).sum();
        assert!((total - 1.0).abs() < 1e-5, "{total}");
        // A vocabulary spread from 10 down to -40: what is left out changes the result by less
        // than 1e-4, and a cut much nearer the top (a few units) would not.
        let vocabulary: Vec<f32> = (0..50_000).map(|i| 10.0 - i as f32 / 1_000.0).collect();
        let max = 10.0f64;
        let exact = max + vocabulary.iter().map(|&l| (f64::from(l) - max).exp()).sum::<f64>().ln();
        let approximate = f64::from(log_sum_exp(&vocabulary));
        assert!((approximate - exact).abs() < 1e-4, "{approximate} against {exact}");
    }

    #[test]
    fn a_value_starts_after_a_colon_or_in_a_list_and_a_key_does_not() {
        for text in [r#"{"name":""#, "{\n  \"name\": \"", r#"{"tags":[""#, r#"{"tags":["a", ""#, r#"[{"a":1},""#] {
            assert!(guard_after(text).at_value_start(), "{text}");
        }
        for text in [r#"{""#, r#"{"a":1,""#, r#"{"name":"J"#, r#"{"name":"\"#, r#"{"name":"x","#, r#"Say ""#] {
            assert!(!guard_after(text).at_value_start(), "{text}");
        }
    }

    #[test]
    fn ordinary_values_and_repeated_structure_are_not_loops() {
        for text in [
            r#"{"name":"Jason","city":"Oslo","notes":"met on 2024-05-01 at 10:00, again on 2024-05-08 at 10:00"#,
            r#"[{"a":"x"},{"a":"x"},{"a":"x"},{"a":"x"},{"a":"x"},{"a":"x"},{"a":"x"},{"a":"x"},{"a":"x"}"#,
            r#"{"id":"000123"#,
            r#"Sure: "0000000000000000000000000000000000000000"#,
        ] {
            assert_eq!(guard_after(text).period(), None, "{text}");
        }
    }

    #[test]
    fn greedy_picks_the_top_token_unless_it_carries_a_loop_on() {
        // Tokens: 0 = "1", 1 = ".1", 2 = "\"", 3 = "x".
        let pieces: [&[u8]; 4] = [b"1", b".1", b"\"", b"x"];
        let piece = |t: LlamaToken| pieces[t.0 as usize].to_vec();
        let logits = [1.0, 3.0, 2.0, 0.5];
        let calm = guard_after(r#"{"codec":"1.1"#);
        assert_eq!(pick_greedy(&logits, None, &calm, &Enders::default(), &piece).expect("a token"), LlamaToken(1));
        let looping = guard_after(&format!(r#"{{"codec":"{}1"#, "1.".repeat(20)));
        assert_eq!(
            pick_greedy(&logits, None, &looping, &Enders::default(), &piece).expect("a token"),
            LlamaToken(2),
            "the quote, not `.1`"
        );
        // The model's next choice after the loop is more text: a looping string is ended anyway.
        let wandering = [1.0, 3.0, 0.2, 2.0];
        let enders = Enders { quote: vec![LlamaToken(2)], bracket: vec![] };
        assert_eq!(pick_greedy(&wandering, None, &looping, &enders, &piece).expect("a token"), LlamaToken(2));
        assert_eq!(pick_greedy(&wandering, None, &calm, &enders, &piece).expect("a token"), LlamaToken(1));
    }

    #[test]
    fn property_dependencies_are_required_outright_where_the_object_declares_them() {
        let mut schema = json!({
            "type": "object",
            "properties": {"email": {"type": "string"}, "tags": {"type": "array"}, "topic": {"type": "string"}},
            "required": ["email"],
            "dependencies": {"topic": ["tags"], "email": ["phone"], "tags": {"required": ["email"]}},
            "dependentRequired": {"tags": ["email"]},
        });
        require_dependencies(&mut schema);
        assert_eq!(schema["required"], json!(["email", "tags"]));
        // An undeclared dependent and a schema dependency are left to the check afterwards.
        assert_eq!(schema["dependencies"], json!({"email": ["phone"], "tags": {"required": ["email"]}}));
        assert!(schema.get("dependentRequired").is_none());
    }

    #[test]
    fn a_structural_loop_is_ended_by_a_bracket_or_else_not_put_off_with_whitespace() {
        // Tokens: 0 = ",", 1 = "\n", 2 = "]". The list is ended, though the model would rather
        // write whitespace first; where the grammar will not let it end yet (`minItems`, the `]`
        // masked here), the comma is kept rather than put off by a run of line breaks.
        let pieces: [&[u8]; 3] = [b",", b"\n", b"]"];
        let piece = |t: LlamaToken| pieces[t.0 as usize].to_vec();
        let enders = Enders { quote: vec![], bracket: vec![LlamaToken(2)] };
        let item = r#"{"name":"Jason","age":20,"city":"Oslo"}"#;
        let looping = guard_after(&format!(r#"{{"people":[{}"#, [item; 4].join(",")));
        let pick = |logits: &[f32]| pick_greedy(logits, None, &looping, &enders, &piece).expect("a token");
        assert_eq!(pick(&[3.0, 2.0, 1.0]), LlamaToken(2));
        assert_eq!(pick(&[3.0, 2.0, f32::NEG_INFINITY]), LlamaToken(0));
        let calm = guard_after(&format!(r#"{{"people":[{}"#, [item; 2].join(",")));
        assert_eq!(pick_greedy(&[3.0, 2.0, 1.0], None, &calm, &enders, &piece).expect("a token"), LlamaToken(0));
    }

    #[test]
    fn a_list_that_repeats_its_items_is_ended() {
        let item = r#"{"item":"Shopping list: 2 eggs","quantity":2}"#;
        let three = format!(r#"{{"items":[{{"item":"eggs","quantity":6}},{item},{item},{item}"#);
        let four = format!("{three},\n    {item}");
        assert!(!guard_after(&three).continues_a_structural_loop(b","), "three repeats are let be");
        assert!(guard_after(&four).continues_a_structural_loop(b","), "a fourth would go on");
        assert!(guard_after(&four).continues_a_structural_loop(b"\n,"));
        assert!(!guard_after(&four).continues_a_structural_loop(b"]"));
        // A piece that closes the item and goes on at once.
        let open_item = format!(r#"{three},{{"item":"Shopping list: 2 eggs","quantity":2"#);
        assert!(guard_after(&open_item).continues_a_structural_loop(b"},"));
        // A unit of several items, and items that only look alike, and short ones.
        let colors = format!(r#"{{"colors":[{}"red","blue""#, r#""red","blue","green","#.repeat(4));
        assert!(guard_after(&colors[..colors.len() - 13]).continues_a_structural_loop(b","));
        let distinct: String = (0..20).map(|i| format!(r#"{{"id":"item number {i}"}},"#)).collect();
        assert!(!guard_after(&format!("[{}", distinct.trim_end_matches(','))).continues_a_structural_loop(b","));
        assert!(!guard_after("[1,1,1,1,1,1,1,1").continues_a_structural_loop(b","), "under 64 bytes");
        // Short items repeated many times.
        let empties = format!("[{}", ["{}"; 16].join(","));
        assert!(guard_after(&empties).continues_a_structural_loop(b","));
        assert!(!guard_after(&empties[..empties.len() - 3]).continues_a_structural_loop(b","), "15 times");
        // Inside an item's own object the comma is not the list's.
        assert!(!guard_after(&format!(r#"{four},{{"item":"x""#)).continues_a_structural_loop(b","));
        // An object's key written again, and members that only look alike.
        let member = r#""value":"value number one""#;
        let members = format!(r#"{{"id":1,"content":{{"type":"a",{}"#, [member; 2].join(","));
        assert!(guard_after(&members).continues_a_structural_loop(b","));
        assert!(!guard_after(&members[..members.len() - member.len() - 1]).continues_a_structural_loop(b","));
        let formats = r#"{"outputFormats":{"json":{"name":"json"},"type":{"name":"json"},"dataDir":{"name":"data"}"#;
        assert!(!guard_after(formats).continues_a_structural_loop(b","));
        assert!(guard_after(&format!(r#"{formats},"type":{{"name":"other"}}"#)).continues_a_structural_loop(b","));
        assert!(!guard_after(&format!(r#"{formats},"typed":{{"type":"x"}}"#)).continues_a_structural_loop(b","));
        assert!(guard_after(r#"{"a\"b":1,"a\"b":2"#).continues_a_structural_loop(b","), "escaped quotes");
        assert_eq!(member_key_len(br#""a\"b":1"#), 7);
        let fields: String = (0..8).map(|i| format!(r#""field{i}":"value number one","#)).collect();
        assert!(!guard_after(&format!("{{{}", fields.trim_end_matches(','))).continues_a_structural_loop(b","));
    }

    #[test]
    fn an_object_nested_in_itself_again_and_again_is_ended() {
        let level = r#"{"label":"Ava","path":"a.png","items":["#;
        let three = format!(r#"{{"name":"x","tray":[{}"#, level.repeat(3));
        let guard = guard_after(&three);
        assert!(guard.continues_a_structural_loop(b"{"), "a fourth level");
        assert!(guard.continues_a_structural_loop(b"{\""));
        assert!(!guard.continues_a_structural_loop(b"]"), "closing is the way out");
        assert!(!guard_after(&format!(r#"{{"tray":[{}"#, level.repeat(2))).continues_a_structural_loop(b"{"));
        // Levels that differ are a tree, not a loop; nor are arrays of arrays.
        let tree = r#"{"tray":[{"label":"a","items":[{"label":"b","items":[{"label":"c","items":["#;
        assert!(!guard_after(tree).continues_a_structural_loop(b"{"));
        assert!(!guard_after(r#"{"m":[[[["#).continues_a_structural_loop(b"["));
        // An object held in itself through a key, inside a list.
        let chain = format!(r#"[{}"#, r#"{"next":{"id":1,"next":"#.repeat(3));
        assert!(guard_after(&chain).continues_a_structural_loop(b"{"));
        // ...or in no list at all, with fewer members than a repeated member needs: the guard
        // still looks (it once did not, and `{"type":"value","name":"Mara","data":{…` nested on).
        let held = r#"{"type":"value","name":"Mara","data":"#.repeat(3);
        let guard = guard_after(&held);
        assert!(guard.could_loop() && guard.continues_a_structural_loop(b"{"));
    }

    #[test]
    fn a_list_of_strings_that_counts_is_ended() {
        let count = |items: &[String]| format!(r#"{{"values":[{}"#, items.join(","));
        let versions: Vec<String> = (11..27).map(|v| format!(r#""{}.{}""#, v / 10, v % 10)).collect();
        assert!(guard_after(&count(&versions)).continues_a_structural_loop(b","), "1.1 … 2.6");
        assert!(!guard_after(&count(&versions[..15])).continues_a_structural_loop(b","), "15 items");
        let named: Vec<String> = (1..=16).map(|i| format!(r#""value{i}""#)).collect();
        assert!(guard_after(&count(&named)).continues_a_structural_loop(b","), "value9, value10 go on alike");
        let stepped: Vec<String> = (0..16).map(|i| format!(r#""page {}""#, 5 * i)).collect();
        assert!(guard_after(&count(&stepped)).continues_a_structural_loop(b","));
        // Uneven steps, other shapes, and numbers are data.
        let uneven: Vec<String> = (0..16).map(|i| format!(r#""{}""#, i * i)).collect();
        assert!(!guard_after(&count(&uneven)).continues_a_structural_loop(b","));
        let mut mixed = versions.clone();
        mixed[8] = r#""v1.9""#.to_owned();
        assert!(!guard_after(&count(&mixed)).continues_a_structural_loop(b","));
        let numbers: Vec<String> = (2001..2017).map(|y| y.to_string()).collect();
        assert!(!guard_after(&count(&numbers)).continues_a_structural_loop(b","), "years as numbers");
    }

    #[test]
    fn a_phrase_said_again_and_again_is_ended() {
        let phrase = "#Leg 1 goes from Reykjavik to Oslo; Leg 2 goes from Reykjavik to Oslo.  ";
        let twice = format!(r#"{{"legs":"Leg 1 goes from Boston. {}"#, phrase.repeat(2));
        assert_eq!(guard_after(&twice).period(), None, "said twice");
        let thrice = format!(r#"{{"legs":"Leg 1 goes from Boston. {}"#, phrase.repeat(3));
        let guard = guard_after(&thrice);
        assert_eq!(guard.period(), Some(phrase.len()));
        assert!(guard.continues(b"#Leg", phrase.len()));
        assert!(!guard.continues(b"\"", phrase.len()));
    }

    #[test]
    fn a_number_whose_digits_loop_is_ended() {
        let guard = guard_after(&format!(r#"{{"t":3.{}"#, "0".repeat(40)));
        assert_eq!(guard.period(), Some(1));
        assert!(guard.continues(b"5", 1), "any more digits carry it on");
        assert!(!guard.continues(b",", 1));
        assert!(!guard.continues(b"}", 1));
    }
}
