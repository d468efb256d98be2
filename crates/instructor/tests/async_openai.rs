//! The async-openai adapter: an existing client, with its own endpoint and credentials, serves
//! instructor's modes and re-asks.
#![cfg(feature = "async-openai")]

mod common;

use async_openai::config::OpenAIConfig;
use common::*;
use instructor::{AsyncOpenAi, Client, Mode};

#[tokio::test]
async fn wraps_an_existing_client() {
    let server = TestServer::start();
    server.push(Reply::tool_call("UserDetails", r#"{"name":"Jason"}"#));
    server.push(Reply::tool_call("UserDetails", JASON));
    let openai =
        async_openai::Client::with_config(OpenAIConfig::new().with_api_base(server.url()).with_api_key("sk-adapter"));
    let client = Client::with_provider(AsyncOpenAi::new(openai)).with_mode(Mode::Tools);
    assert!(!format!("{client:?}").contains("sk-adapter"));
    let user: UserDetails = client.chat().create(story_request()).await.expect("Jason");
    assert_eq!(user.age, 20);
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].header("authorization"), Some("Bearer sk-adapter"));
    assert_conforms("CreateChatCompletionRequest", &requests[1].body);

    server.push(Reply::error(401, "bad key"));
    let err = client.chat().create::<UserDetails>(story_request()).await.expect_err("401");
    assert_eq!(err.status(), Some(401));
}
