//! The reference story: an Anyscale-style OpenAI-compatible endpoint in `JsonSchema` mode.
//!
//! ```sh
//! ANYSCALE_API_KEY=esecret_... cargo run -p instructor-rs --example anyscale
//! # any other compatible server:
//! ANYSCALE_BASE_URL=http://localhost:8080/v1 cargo run -p instructor-rs --example anyscale
//! ```

use instructor::{ChatRequest, Client, Mode, Preset};

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[allow(dead_code)] // read through `Debug` only
struct UserDetails {
    name: String,
    age: u32,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), instructor::Error> {
    // Base URL from ANYSCALE_BASE_URL (default: Anyscale's endpoint), key from ANYSCALE_API_KEY.
    let client = Client::builder().preset(Preset::Anyscale).mode(Mode::JsonSchema).build()?;

    let user: UserDetails = client
        .chat()
        .create(
            ChatRequest::new("mistralai/Mixtral-8x7B-Instruct-v0.1")
                .system("You are a world class extractor")
                .user(r#"Extract the following entities: "Jason is 20""#)
                .max_retries(2),
        )
        .await?;

    println!("{user:?}");
    Ok(())
}
