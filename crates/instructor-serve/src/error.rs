//! Errors as OpenAI error bodies: `{"error":{"message","type","param","code"}}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use instructor_engine::EngineError;
use serde_json::json;

/// A failed request, with the status and body it is answered with.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub kind: &'static str,
    pub param: Option<String>,
    pub code: Option<&'static str>,
    /// Seconds, for `Retry-After`.
    pub retry_after: Option<u32>,
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, message: message.into(), kind, param: None, code: None, retry_after: None }
    }

    fn param(mut self, param: impl Into<String>) -> Self {
        let param = param.into();
        self.param = (!param.is_empty()).then_some(param);
        self
    }

    fn code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    /// 400: the request is not valid; `param` names the field at fault.
    pub fn invalid(param: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request_error", message).param(param)
    }

    /// 400: the body is not JSON.
    pub fn malformed(detail: impl std::fmt::Display) -> Self {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            format!("the body is not valid JSON ({detail})"),
        )
        .code("invalid_json")
    }

    /// 401: a key is required and the bearer token is missing or wrong.
    pub fn unauthorized(given: bool) -> Self {
        let message = if given {
            "incorrect API key provided"
        } else {
            "missing API key: send it as `Authorization: Bearer <key>`"
        };
        ApiError::new(StatusCode::UNAUTHORIZED, "invalid_request_error", message).code("invalid_api_key")
    }

    /// 404: no such model here.
    pub fn unknown_model(model: &str, served: &str) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            format!("the model `{}` does not exist here; this server serves `{served}`", clip(model)),
        )
        .param("model")
        .code("model_not_found")
    }

    /// 404: no such route.
    pub fn unknown_route(method: &str, path: &str) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "invalid_request_error", format!("invalid URL ({method} {})", clip(path)))
            .code("unknown_url")
    }

    /// 405: the route exists, the method does not.
    pub fn method_not_allowed(method: &str, path: &str) -> Self {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request_error",
            format!("method {method} is not allowed on {}", clip(path)),
        )
        .code("method_not_allowed")
    }

    /// 413: the body is over the limit.
    pub fn too_large(limit: usize) -> Self {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            format!("the request body exceeds the {limit}-byte limit"),
        )
        .code("request_too_large")
    }

    /// 429: the queue is full; try again shortly.
    pub fn busy() -> Self {
        ApiError {
            retry_after: Some(1),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                "the server is busy: the request queue is full; retry shortly",
            )
            .code("queue_full")
        }
    }

    /// 422: the schema has parts the grammar cannot enforce, and the reply broke one of them.
    pub fn unenforced(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request_error", message).code("schema_not_enforced")
    }

    /// 500: the server failed (never for a client's mistake).
    pub fn server(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", message)
    }

    /// An engine failure: the caller's input (a schema the grammar compiler refuses, a prompt
    /// too long for the context) is a 400; anything else is the server's.
    pub fn engine(e: &EngineError, schema_param: &str) -> Self {
        match e {
            EngineError::Grammar(m) => {
                ApiError::invalid(schema_param, format!("the schema cannot be used as a grammar: {m}"))
                    .code("invalid_schema")
            }
            EngineError::Prompt(m) => {
                ApiError::invalid("messages", format!("the prompt does not fit: {m}")).code("context_length_exceeded")
            }
            e if e.is_input() => ApiError::invalid("", e.to_string()),
            e => ApiError::server(e.to_string()),
        }
    }

    /// The body: `{"error":{...}}`.
    pub fn body(&self) -> serde_json::Value {
        json!({
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": self.code,
            }
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = crate::response::json(self.status, &self.body());
        if let Some(secs) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// At most 200 characters of something the client sent, for a message.
fn clip(s: &str) -> String {
    match s.char_indices().nth(200) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_owned(),
    }
}
