//! Batches through the provider's batch API (OpenAI-style `/files` + `/batches`, or Anthropic's
//! Message Batches): the requests are shaped exactly as for a live call, submitted at once, run
//! by the provider within its window, and every result line is read and validated like a live
//! reply.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::Method;
use serde_json::{Value, json};

use crate::batch::BatchItem;
use crate::client::{BatchApi, Call, Client};
use crate::error::{Error, ProviderError, ProviderErrorKind, ReplyError};
use crate::providers::anthropic::Anthropic;
use crate::providers::chat::OpenAiCompatible;
use crate::request::ChatRequest;
use crate::schema::ResponseSchema;
use crate::validate::{DynamicShared, accept};
use crate::wire::ChatCompletion;
use crate::wire::anthropic as wire;

/// How a remote batch is run.
///
/// ```
/// let options = instructor::RemoteBatchOptions::default().poll_interval(std::time::Duration::from_secs(60));
/// # let _ = options;
/// ```
#[derive(Debug, Clone)]
pub struct RemoteBatchOptions {
    poll_interval: Duration,
    completion_window: String,
}

impl Default for RemoteBatchOptions {
    fn default() -> Self {
        RemoteBatchOptions { poll_interval: Duration::from_secs(30), completion_window: "24h".to_owned() }
    }
}

impl RemoteBatchOptions {
    /// How often to ask for the batch's status (default 30 s).
    pub fn poll_interval(mut self, every: Duration) -> Self {
        self.poll_interval = every;
        self
    }

    /// The provider's completion window (default `24h`).
    pub fn completion_window(mut self, window: impl Into<String>) -> Self {
        self.completion_window = window.into();
        self
    }
}

fn decode_error(what: &str, e: impl std::fmt::Display) -> Error {
    ProviderError::new(ProviderErrorKind::Decode, format!("{what}: {e}")).into()
}

impl Client {
    /// Runs `records` through the provider's batch API (OpenAI's Batch API, or Anthropic's
    /// Message Batches) and validates every result against a run-time schema; a record whose
    /// reply does not validate gets an error (a batch cannot re-ask; run those records again
    /// live). Results are in no particular order; every record gets exactly one.
    pub async fn batch_remote_values(
        &self,
        records: Vec<(String, ChatRequest)>,
        schema: Arc<ResponseSchema>,
        options: RemoteBatchOptions,
    ) -> Result<Vec<BatchItem<Value>>, Error> {
        let api = self.batches().cloned().ok_or_else(|| {
            Error::request(
                "--remote needs a provider with a batch API (OpenAI-compatible or Anthropic), not the embedded model",
            )
        })?;
        // Shape each request exactly as a live call would be.
        let mut calls: HashMap<String, Call> = HashMap::with_capacity(records.len());
        let mut order = Vec::with_capacity(records.len());
        for (id, request) in records {
            let call = Call::prepare(self, request.max_retries(0), &schema)?;
            if calls.insert(id.clone(), call).is_some() {
                return Err(Error::request(format!("record id `{id}` appears twice")));
            }
            order.push(id);
        }
        let (replies, state) = match &api {
            BatchApi::OpenAi(http) => openai_batch(http, &order, &calls, &options).await?,
            BatchApi::Anthropic(anthropic) => anthropic_batch(anthropic, &order, &calls, &options).await?,
        };
        let mut results = Vec::with_capacity(calls.len());
        for (id, reply) in replies {
            let Some(mut call) = calls.remove(&id) else { continue };
            let result = reply.and_then(|completion| evaluate(&mut call, completion, &schema));
            results.push(BatchItem { id, result });
        }
        for (id, _) in calls {
            let message = format!("the batch ended `{state}` without a result for this record");
            results.push(BatchItem { id, result: Err(ProviderError::new(ProviderErrorKind::Status, message).into()) });
        }
        Ok(results)
    }
}

/// Each record's reply (or the error the provider recorded for it), and the batch's final state.
type Replies = (Vec<(String, Result<ChatCompletion, Error>)>, String);

/// OpenAI's Batch API: the requests as one JSON-lines file, a batch over it, polling, and the
/// output and error files read back.
async fn openai_batch(
    http: &OpenAiCompatible,
    order: &[String],
    calls: &HashMap<String, Call>,
    options: &RemoteBatchOptions,
) -> Result<Replies, Error> {
    let transport = http.transport();
    let mut upload = Vec::new();
    for id in order {
        let line =
            json!({"custom_id": id, "method": "POST", "url": "/v1/chat/completions", "body": calls[id].outgoing});
        serde_json::to_writer(&mut upload, &line).map_err(|e| Error::request(e.to_string()))?;
        upload.push(b'\n');
    }
    let file_id = upload_file(http, upload).await?;
    let body = json!({"input_file_id": file_id, "endpoint": "/v1/chat/completions", "completion_window": options.completion_window});
    let created = transport
        .send(Method::POST, "/batches", Some(("application/json".to_owned(), Bytes::from(body.to_string()))))
        .await?;
    let batch: Value = serde_json::from_slice(&created).map_err(|e| decode_error("the created batch", e))?;
    let batch_id = batch["id"].as_str().ok_or_else(|| decode_error("the created batch", "no id"))?.to_owned();
    tracing::info!(%batch_id, records = calls.len(), "batch submitted");
    let finished = loop {
        let status = transport.send(Method::GET, &format!("/batches/{batch_id}"), None).await?;
        let status: Value = serde_json::from_slice(&status).map_err(|e| decode_error("the batch status", e))?;
        match status["status"].as_str().unwrap_or_default() {
            "completed" | "failed" | "expired" | "cancelled" => break status,
            state => {
                let counts = &status["request_counts"];
                tracing::info!(%batch_id, state, completed = %counts["completed"], failed = %counts["failed"], "batch running");
                tokio::time::sleep(options.poll_interval).await;
            }
        }
    };
    let mut replies = Vec::with_capacity(calls.len());
    for key in ["output_file_id", "error_file_id"] {
        let Some(file) = finished[key].as_str().filter(|f| !f.is_empty()) else { continue };
        let content = transport.send(Method::GET, &format!("/files/{file}/content"), None).await?;
        for line in content.split(|b| *b == b'\n').filter(|l| !l.iter().all(u8::is_ascii_whitespace)) {
            let Ok(entry) = serde_json::from_slice::<Value>(line) else {
                tracing::warn!(%batch_id, "skipping an unreadable result line");
                continue;
            };
            let Some(id) = entry["custom_id"].as_str() else { continue };
            replies.push((id.to_owned(), openai_result(&entry)));
        }
    }
    Ok((replies, finished["status"].as_str().unwrap_or_default().to_owned()))
}

/// One line of OpenAI's output or error file.
fn openai_result(entry: &Value) -> Result<ChatCompletion, Error> {
    let response = &entry["response"];
    let status = response["status_code"].as_u64().unwrap_or(0);
    if status != 200 {
        let message = entry["error"]["message"]
            .as_str()
            .or(response["body"]["error"]["message"].as_str())
            .unwrap_or("the request failed in the batch");
        let error = ProviderError::new(ProviderErrorKind::Status, message.to_owned()).with_status(status as u16, None);
        return Err(error.into());
    }
    serde_json::from_value(response["body"].clone()).map_err(|e| {
        Error::from(ProviderError::new(ProviderErrorKind::Decode, format!("a result is not a completion: {e}")))
    })
}

/// Anthropic's Message Batches: the requests in one body, under ids Anthropic accepts
/// (`r0`, `r1`, ...: record ids may hold any character), polling until the batch has ended, and
/// the results read back line by line.
async fn anthropic_batch(
    anthropic: &Anthropic,
    order: &[String],
    calls: &HashMap<String, Call>,
    options: &RemoteBatchOptions,
) -> Result<Replies, Error> {
    let transport = anthropic.transport();
    let mut requests = Vec::with_capacity(order.len());
    for (n, id) in order.iter().enumerate() {
        requests.push((format!("r{n}"), anthropic.translate_typed(&calls[id].outgoing)?));
    }
    let body = serde_json::to_vec(&crate::providers::anthropic::batch_body(requests))
        .map_err(|e| Error::request(format!("cannot encode the batch: {e}")))?;
    let created = transport
        .send(Method::POST, "/v1/messages/batches", Some(("application/json".to_owned(), Bytes::from(body))))
        .await?;
    let batch: wire::Batch = serde_json::from_slice(&created).map_err(|e| decode_error("the created batch", e))?;
    let batch_id = batch.id;
    if batch_id.is_empty() {
        return Err(decode_error("the created batch", "no id"));
    }
    tracing::info!(%batch_id, records = calls.len(), "message batch submitted");
    let finished = loop {
        let status = transport.send(Method::GET, &format!("/v1/messages/batches/{batch_id}"), None).await?;
        let status: wire::Batch = serde_json::from_slice(&status).map_err(|e| decode_error("the batch status", e))?;
        if status.processing_status == "ended" {
            break status;
        }
        tracing::info!(%batch_id, state = %status.processing_status, counts = %status.request_counts, "message batch running");
        tokio::time::sleep(options.poll_interval).await;
    };
    // The key goes only to the API's own host: a results URL elsewhere is read from the API's path.
    let own_path = format!("/v1/messages/batches/{batch_id}/results");
    let results_url =
        finished.results_url.filter(|url| url.starts_with(&format!("{}/", transport.base()))).unwrap_or(own_path);
    let content = transport.send(Method::GET, &results_url, None).await?;
    let mut replies = Vec::with_capacity(calls.len());
    for line in content.split(|b| *b == b'\n').filter(|l| !l.iter().all(u8::is_ascii_whitespace)) {
        let Ok(entry) = serde_json::from_slice::<wire::BatchResultLine>(line) else {
            tracing::warn!(%batch_id, "skipping an unreadable result line");
            continue;
        };
        let Some(id) =
            entry.custom_id.strip_prefix('r').and_then(|n| n.parse::<usize>().ok()).and_then(|n| order.get(n))
        else {
            continue;
        };
        let result = match (entry.result.kind.as_str(), entry.result.message, entry.result.error) {
            ("succeeded", Some(message), _) => Ok(crate::providers::anthropic::completion((&message).into())),
            (_, _, Some(error)) => Err(ProviderError::new(ProviderErrorKind::Status, error.error.message)
                .with_error_type(error.error.kind)
                .into()),
            (kind, _, _) => {
                Err(ProviderError::new(ProviderErrorKind::Status, format!("the request was {kind}")).into())
            }
        };
        replies.push((id.clone(), result));
    }
    Ok((replies, finished.processing_status))
}

/// One result read and validated like a live reply.
fn evaluate(
    call: &mut Call,
    completion: ChatCompletion,
    schema: &Arc<ResponseSchema>,
) -> Result<crate::Extraction<Value>, Error> {
    call.start_attempt();
    let decoder = DynamicShared(Arc::clone(schema));
    match call.evaluate(completion, schema, &decoder, &accept::<Value>) {
        Ok(extraction) => Ok(extraction),
        Err(Some(error)) => Err(error),
        // No re-ask is set up with `max_retries(0)`; keep the contract anyway.
        Err(None) => Err(Error::Reply(ReplyError::missing("the reply did not validate"))),
    }
}

/// Uploads the batch input as `multipart/form-data` (`purpose=batch`); returns the file id.
async fn upload_file(http: &OpenAiCompatible, content: Vec<u8>) -> Result<String, Error> {
    let boundary = format!("instructor-{:016x}", fastrand::u64(..));
    let mut body = Vec::with_capacity(content.len() + 512);
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n").as_bytes(),
    );
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"batch.jsonl\"\r\n\
             Content-Type: application/jsonl\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(&content);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let content_type = format!("multipart/form-data; boundary={boundary}");
    let reply = http.transport().send(Method::POST, "/files", Some((content_type, Bytes::from(body)))).await?;
    let file: Value = serde_json::from_slice(&reply).map_err(|e| decode_error("the uploaded file", e))?;
    file["id"].as_str().map(str::to_owned).ok_or_else(|| decode_error("the uploaded file", "no id"))
}
