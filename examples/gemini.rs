//! The story on Gemini, through Google's own API: the reply constrained to the schema
//! (`responseJsonSchema`), with the tokens spent.
//!
//! ```sh
//! GEMINI_API_KEY=... cargo run -p instructor-rs --example gemini
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
    // Key from GOOGLE_API_KEY or GEMINI_API_KEY; base URL from GOOGLE_GEMINI_BASE_URL.
    let client = Client::builder().preset(Preset::Gemini).mode(Mode::StructuredOutputs).build()?;
    let done = client
        .chat()
        .create_with_completion::<UserDetails>(
            ChatRequest::new("gemini-2.5-flash")
                .system("You are a world class extractor")
                .user(r#"Extract the following entities: "Jason is 20""#),
        )
        .await?;
    println!("{:?}", done.value);
    println!("tokens: {} in, {} out", done.usage.prompt_tokens, done.usage.completion_tokens);
    Ok(())
}
