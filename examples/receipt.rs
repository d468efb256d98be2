//! A receipt, photographed or scanned, into a typed value: the file travels beside the text in
//! one user message, in the shape the provider wants (here OpenAI's Responses API, where an image
//! is an `input_image` item and a PDF an `input_file`). The kind comes from the file's bytes, not
//! its name.
//!
//! ```sh
//! OPENAI_API_KEY=sk-... cargo run -p instructor-rs --example receipt -- receipt.jpg
//! ```

use instructor::{ChatRequest, Client, Media, Mode, Preset, parts};

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[allow(dead_code)] // read through `Debug` only
struct Receipt {
    merchant: String,
    items: Vec<LineItem>,
    total: f64,
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[allow(dead_code)]
struct LineItem {
    name: String,
    price: f64,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), instructor::Error> {
    let path = std::env::args().nth(1).unwrap_or_else(|| "receipt.png".to_owned());
    // An image or a PDF: a JPEG named `.png` is still sent as a JPEG.
    let receipt = Media::from_path(&path)?;

    // Key from OPENAI_API_KEY, base URL from OPENAI_BASE_URL.
    let client = Client::builder().preset(Preset::OpenAiResponses).mode(Mode::StructuredOutputs).build()?;
    let receipt: Receipt = client
        .chat()
        .create(
            ChatRequest::new("gpt-4o-mini")
                .system("You are a world class extractor")
                .user(parts!["Extract the merchant, the line items and the total of this receipt.", receipt])
                .max_retries(1),
        )
        .await?;
    println!("{receipt:?}");
    Ok(())
}
