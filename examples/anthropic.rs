//! The story on Claude, through Anthropic's own Messages API: a forced tool call, and a streamed
//! list of users read item by item.
//!
//! ```sh
//! ANTHROPIC_API_KEY=sk-ant-... cargo run -p instructor-rs --example anthropic
//! # a gateway or proxy that speaks the Anthropic API:
//! ANTHROPIC_BASE_URL=https://gateway.example.com cargo run -p instructor-rs --example anthropic
//! ```

use futures_util::StreamExt;
use instructor::{ChatRequest, Client, Mode, Preset};

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[allow(dead_code)] // read through `Debug` only
struct UserDetails {
    name: String,
    age: u32,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), instructor::Error> {
    // Key from ANTHROPIC_API_KEY, base URL from ANTHROPIC_BASE_URL (default api.anthropic.com).
    let client = Client::builder().preset(Preset::Anthropic).mode(Mode::Tools).build()?;
    let request = |text: &str| {
        ChatRequest::new("claude-haiku-4-5")
            .system("You are a world class extractor")
            .user(format!("Extract the following entities: {text:?}"))
            .max_retries(2)
    };

    let user: UserDetails = client.chat().create(request("Jason is 20")).await?;
    println!("{user:?}");

    let mut users = std::pin::pin!(client.chat().create_iterable::<UserDetails>(request("Ann is 31, Bo is 42")));
    while let Some(user) = users.next().await {
        println!("{:?}", user?);
    }
    Ok(())
}
