//! Re-asking: the model sees its own failed turn and the error, only the latest failed turn is
//! kept, `max_retries = N` means at most N + 1 requests, and exhaustion returns every attempt.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use common::*;
use instructor::{ChatRequest, Hook, Mode, ReplyError, ReplyErrorKind, Validate};
use serde_json::{Value, json};

#[tokio::test]
async fn tools_mode_reask_answers_the_tool_call() {
    let server = TestServer::start();
    server.push(Reply::tool_call("UserDetails", r#"{"name":"Jason","age":"twenty"}"#));
    server.push(Reply::tool_call("UserDetails", JASON));
    let out = client(&server, Mode::Tools)
        .chat()
        .create_with_completion::<UserDetails>(story_request())
        .await
        .expect("second reply is valid");
    assert_eq!(out.value, UserDetails { name: "Jason".into(), age: 20 });
    assert_eq!(out.attempts, 2);
    assert_eq!(out.usage.total_tokens, 30, "usage summed over both attempts");
    assert_eq!(out.failed.len(), 1);
    assert_eq!(out.failed[0].error.path(), Some("age"));

    let bodies = bodies(&server);
    let first = bodies[0]["messages"].as_array().expect("messages");
    let second = bodies[1]["messages"].as_array().expect("messages");
    assert_eq!(&second[..first.len()], &first[..], "earlier messages untouched");
    assert_eq!(second.len(), first.len() + 3, "the call, its answer and a request to call again");
    let assistant = &second[first.len()];
    assert_eq!(assistant["role"], "assistant");
    assert_eq!(assistant["tool_calls"][0]["id"], "call_0");
    assert_eq!(assistant["tool_calls"][0]["function"]["arguments"], r#"{"name":"Jason","age":"twenty"}"#);
    let tool = &second[first.len() + 1];
    assert_eq!(tool["role"], "tool");
    assert_eq!(tool["tool_call_id"], "call_0");
    let error = tool["content"].as_str().expect("error text");
    assert!(error.contains("age"), "the error names the failing field: {error}");
    assert_eq!(second[first.len() + 2]["role"], "user");
    assert!(second[first.len() + 2]["content"].as_str().is_some_and(|t| t.contains("call again")));
    assert_conforms("CreateChatCompletionRequest", &bodies[1]);
}

#[tokio::test]
async fn json_mode_reask_appends_a_user_message() {
    let server = TestServer::start();
    server.push(Reply::text(r#"{"name":"Jason"}"#));
    server.push(Reply::text(JASON));
    let user: UserDetails = client(&server, Mode::Json).chat().create(story_request()).await.expect("valid");
    assert_eq!(user.age, 20);
    let bodies = bodies(&server);
    let second = bodies[1]["messages"].as_array().expect("messages");
    let n = second.len();
    assert_eq!(second[n - 2], json!({"role": "assistant", "content": r#"{"name":"Jason"}"#}));
    assert_eq!(second[n - 1]["role"], "user");
    assert!(second[n - 1]["content"].as_str().expect("text").contains("missing field `age`"));
    assert_conforms("CreateChatCompletionRequest", &bodies[1]);
}

#[tokio::test]
async fn exhaustion_makes_n_plus_one_requests_and_keeps_every_attempt() {
    let server = TestServer::start();
    for i in 0..4 {
        server.push(Reply::tool_call("UserDetails", &format!(r#"{{"name":"Jason","age":"bad{i}"}}"#)));
    }
    let err = client(&server, Mode::Tools)
        .chat()
        .create::<UserDetails>(story_request().max_retries(3))
        .await
        .expect_err("never valid");
    assert!(err.is_exhausted());
    assert_eq!(server.requests().len(), 4, "max_retries = 3 means 4 requests");
    let exhausted = err.exhausted().expect("details");
    assert_eq!(exhausted.attempts.len(), 4);
    for (i, a) in exhausted.attempts.iter().enumerate() {
        assert_eq!(a.reply, format!(r#"{{"name":"Jason","age":"bad{i}"}}"#));
        assert_eq!(a.error.path(), Some("age"));
        assert_eq!(a.error.kind(), ReplyErrorKind::Parse);
    }
    assert_eq!(err.usage().total_tokens, 60);
    assert_eq!(exhausted.last_completion.id, "chatcmpl-test");
    assert!(err.to_string().contains("4 attempts"), "{err}");

    // Growth is bounded: every re-ask carries only the latest failed turn.
    let bodies = bodies(&server);
    let len = |b: &Value| b["messages"].as_array().map_or(0, Vec::len);
    assert_eq!(len(&bodies[1]), len(&bodies[0]) + 3, "the failed call, its answer, the request to call again");
    assert_eq!(len(&bodies[3]), len(&bodies[1]));
    assert_eq!(bodies[3]["messages"][2]["tool_calls"][0]["function"]["arguments"], r#"{"name":"Jason","age":"bad2"}"#);
}

#[tokio::test]
async fn zero_retries_means_one_request() {
    let server = TestServer::start();
    server.push(Reply::text("not json at all"));
    let err = client(&server, Mode::Json)
        .chat()
        .create::<UserDetails>(story_request().max_retries(0))
        .await
        .expect_err("invalid");
    assert!(err.is_exhausted());
    assert_eq!(server.requests().len(), 1);
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct Adult {
    name: String,
    age: u32,
}

impl Validate for Adult {
    fn validate(&self, context: &Value) -> Result<(), ReplyError> {
        let min = context["min_age"].as_u64().unwrap_or(18);
        if u64::from(self.age) < min {
            return Err(ReplyError::validation(
                Some("age".into()),
                format!("{} is {}, must be at least {min}", self.name, self.age),
            ));
        }
        Ok(())
    }
}

#[tokio::test]
async fn validation_errors_go_into_the_reask() {
    let server = TestServer::start();
    server.push(Reply::tool_call("Adult", r#"{"name":"Tim","age":12}"#));
    server.push(Reply::tool_call("Adult", r#"{"name":"Tim","age":21}"#));
    let adult: Adult = client(&server, Mode::Tools)
        .chat()
        .create_validated(ChatRequest::new("m").user("Tim is {{ age }}").context(json!({"min_age": 21, "age": 12})))
        .await
        .expect("valid on re-ask");
    assert_eq!(adult.age, 21);
    let bodies = bodies(&server);
    assert_eq!(bodies[0]["messages"][0]["content"], "Tim is 12", "templated with the context");
    let tool = &bodies[1]["messages"][2];
    assert!(tool["content"].as_str().expect("text").contains("age: Tim is 12, must be at least 21"));
}

#[cfg(feature = "garde")]
mod garde_rules {
    use super::*;
    use instructor::garde::Garde;

    #[derive(Debug, serde::Deserialize, schemars::JsonSchema, garde::Validate)]
    struct Signup {
        #[garde(length(min = 2))]
        name: String,
        #[garde(range(min = 18, max = 130))]
        age: u32,
    }

    #[tokio::test]
    async fn garde_rules_feed_the_reask() {
        let server = TestServer::start();
        server.push(Reply::tool_call("Signup", r#"{"name":"J","age":20}"#));
        server.push(Reply::tool_call("Signup", r#"{"name":"Jason","age":20}"#));
        let signup = client(&server, Mode::Tools)
            .chat()
            .create_validated::<Garde<Signup>>(ChatRequest::new("m").user("Jason is 20"))
            .await
            .expect("valid on re-ask")
            .into_inner();
        assert_eq!((signup.name.as_str(), signup.age), ("Jason", 20));
        let tool = &bodies(&server)[1]["messages"][2];
        assert!(tool["content"].as_str().expect("text").contains("name: "), "{tool}");
    }
}

#[derive(Debug, Default)]
struct Counter {
    requests: AtomicU32,
    responses: AtomicU32,
    parse_errors: AtomicU32,
    reasks: AtomicU32,
    completion_errors: AtomicU32,
}

impl Hook for Counter {
    fn on_request(&self, _: &instructor::CompletionRequest) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }
    fn on_response(&self, _: &instructor::ChatCompletion) {
        self.responses.fetch_add(1, Ordering::Relaxed);
    }
    fn on_parse_error(&self, _: &ReplyError) {
        self.parse_errors.fetch_add(1, Ordering::Relaxed);
    }
    fn on_reask(&self, _: u32, _: &ReplyError) {
        self.reasks.fetch_add(1, Ordering::Relaxed);
    }
    fn on_completion_error(&self, _: &instructor::ProviderError) {
        self.completion_errors.fetch_add(1, Ordering::Relaxed);
    }
}

#[tokio::test]
async fn hooks_see_every_step() {
    let server = TestServer::start();
    let counter = Arc::new(Counter::default());
    let c = instructor::Client::builder()
        .base_url(server.url())
        .mode(Mode::Json)
        .http_retries(0)
        .hook(Arc::clone(&counter))
        .build()
        .expect("client");
    server.push(Reply::text("{}"));
    server.push(Reply::text(JASON));
    server.push(Reply::error(400, "bad request"));
    c.chat().create::<UserDetails>(story_request()).await.expect("valid");
    c.chat().create::<UserDetails>(story_request()).await.expect_err("400");
    let get = |a: &AtomicU32| a.load(Ordering::Relaxed);
    assert_eq!(get(&counter.requests), 3);
    assert_eq!(get(&counter.responses), 2);
    assert_eq!(get(&counter.parse_errors), 1);
    assert_eq!(get(&counter.reasks), 1);
    assert_eq!(get(&counter.completion_errors), 1);
}
