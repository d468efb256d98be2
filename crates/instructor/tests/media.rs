//! Images, PDFs and audio as input, against the loopback server: each API's own shape for each
//! kind (checked against the OpenAPI specs and the official SDKs' types), base64 that round-trips
//! byte for byte, types read from content, limits and unsupported kinds refused before anything
//! is sent, URLs passed through or fetched, and re-asks that keep the media where it was.
//!
//! The media files are real ones, made by `tests/data/media/make.py`.

mod common;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::*;
use futures_util::StreamExt;
use instructor::{
    Api, Audio, ChatRequest, Client, Image, Media, MediaKind, Mode, PartialEvent, Pdf, RetryPolicy, parts,
};
use instructor_testserver::{sdk, spec};
use serde_json::{Value, json};

const PNG: &[u8] = include_bytes!("data/media/receipt.png");
const JPEG: &[u8] = include_bytes!("data/media/receipt.jpg");
const PDF: &[u8] = include_bytes!("data/media/receipt.pdf");
const WAV: &[u8] = include_bytes!("data/media/tone.wav");

fn client_for(server: &TestServer, api: Api, mode: Mode) -> Client {
    let base = match api {
        Api::Anthropic | Api::Gemini => server.origin(),
        _ => server.url(),
    };
    Client::builder()
        .api(api)
        .base_url(base)
        .api_key("sk-test-secret-key")
        .mode(mode)
        .retry_policy(RetryPolicy::default().max_retries(0).timeout(Duration::from_secs(10)))
        .build()
        .expect("client")
}

fn decode(b64: &Value) -> Vec<u8> {
    STANDARD.decode(b64.as_str().expect("base64 text")).expect("valid base64")
}

fn data_url_bytes(url: &Value, media_type: &str) -> Vec<u8> {
    let url = url.as_str().expect("a data URL");
    let prefix = format!("data:{media_type};base64,");
    assert!(url.starts_with(&prefix), "{}", &url[..url.len().min(60)]);
    STANDARD.decode(&url[prefix.len()..]).expect("valid base64")
}

fn request(content: Vec<instructor::Part>) -> ChatRequest {
    ChatRequest::new("test-model").system("You are a world class extractor").user(content)
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct Receipt {
    total: f64,
}

const TOTAL: &str = r#"{"total":5.75}"#;

#[tokio::test]
async fn every_kind_on_every_api_in_its_own_shape() {
    let image = || Image::from_bytes(PNG).expect("png").0.detail("high");
    let pdf = || Pdf::from_bytes(PDF).expect("pdf");
    let audio = || Audio::from_bytes(WAV).expect("wav");

    // Chat completions: image_url, file (file_data), input_audio.
    let server = TestServer::start();
    server.push(Reply::text(TOTAL));
    let r: Receipt = client_for(&server, Api::ChatCompletions, Mode::Json)
        .chat()
        .create(request(parts!["The receipt, scanned, and a voice note", image(), pdf(), audio()]))
        .await
        .expect("total");
    assert_eq!(r.total, 5.75);
    let body = &server.requests()[0].body;
    spec::assert_conforms("CreateChatCompletionRequest", body);
    let content = &body["messages"][1]["content"];
    assert_eq!(content[0]["type"], "image_url");
    assert_eq!(content[0]["image_url"]["detail"], "high");
    assert_eq!(data_url_bytes(&content[0]["image_url"]["url"], "image/png"), PNG);
    assert_eq!(content[1]["type"], "file");
    assert_eq!(content[1]["file"]["filename"], "document.pdf");
    assert_eq!(data_url_bytes(&content[1]["file"]["file_data"], "application/pdf"), PDF);
    assert_eq!(
        content[2],
        json!({"type": "input_audio", "input_audio": {"data": STANDARD.encode(WAV), "format": "wav"}})
    );
    assert_eq!(content[3], json!({"type": "text", "text": "The receipt, scanned, and a voice note"}));

    // Responses: input_image, input_file (no audio input in this API).
    let server = TestServer::start();
    server.push(Reply::responses_text(TOTAL));
    let _: Receipt = client_for(&server, Api::Responses, Mode::StructuredOutputs)
        .chat()
        .create(request(parts!["The receipt", image(), pdf()]))
        .await
        .expect("total");
    let body = &server.requests()[0].body;
    spec::assert_conforms_responses("CreateResponse", body);
    let content = &body["input"][0]["content"];
    assert_eq!((&content[0]["type"], &content[0]["detail"]), (&json!("input_image"), &json!("high")));
    assert_eq!(data_url_bytes(&content[0]["image_url"], "image/png"), PNG);
    assert_eq!(content[1]["type"], "input_file");
    assert_eq!(data_url_bytes(&content[1]["file_data"], "application/pdf"), PDF);
    assert_eq!(content[2], json!({"type": "input_text", "text": "The receipt"}));

    // Anthropic: image and document blocks with base64 sources.
    let server = TestServer::start();
    server.push(Reply::anthropic_text(TOTAL));
    let _: Receipt = client_for(&server, Api::Anthropic, Mode::Json)
        .chat()
        .create(request(parts!["The receipt", image(), pdf()]))
        .await
        .expect("total");
    let body = server.requests()[0].body.clone();
    let content = &body["messages"][0]["content"];
    assert_eq!(content[0]["type"], "image");
    assert_eq!(content[0]["source"]["media_type"], "image/png");
    assert_eq!(decode(&content[0]["source"]["data"]), PNG);
    assert_eq!(content[1]["type"], "document");
    assert_eq!(decode(&content[1]["source"]["data"]), PDF);
    assert_eq!(content[2], json!({"type": "text", "text": "The receipt"}));
    sdk::assert_valid_requests("anthropic", &[body]);

    // Gemini: inlineData parts for all three.
    let server = TestServer::start();
    server.push(Reply::gemini_text(TOTAL));
    let _: Receipt = client_for(&server, Api::Gemini, Mode::StructuredOutputs)
        .chat()
        .create(request(parts!["The receipt", image(), pdf(), audio()]))
        .await
        .expect("total");
    let body = server.requests()[0].body.clone();
    let parts = &body["contents"][0]["parts"];
    assert_eq!(parts[0]["inlineData"]["mimeType"], "image/png");
    assert_eq!(decode(&parts[0]["inlineData"]["data"]), PNG);
    assert_eq!(decode(&parts[1]["inlineData"]["data"]), PDF);
    assert_eq!(
        (&parts[2]["inlineData"]["mimeType"], decode(&parts[2]["inlineData"]["data"])),
        (&json!("audio/wav"), WAV.to_vec())
    );
    assert_eq!(parts[3], json!({"text": "The receipt"}));
    sdk::assert_valid_requests("gemini", &[body]);
}

#[tokio::test]
async fn a_kind_an_api_does_not_read_fails_before_sending() {
    for api in [Api::Anthropic, Api::Responses] {
        let server = TestServer::start();
        let err = client_for(&server, api, Mode::Tools)
            .chat()
            .create::<Receipt>(request(parts!["Transcribe", Audio::from_bytes(WAV).expect("wav")]))
            .await
            .expect_err("no audio");
        assert!(err.is_media(), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("audio") && text.contains(if api == Api::Anthropic { "Anthropic" } else { "Responses" }),
            "{text}"
        );
        assert_eq!(server.served(), 0);
    }
    // HEIC is an image chat completions do not take.
    let heic = [&b"\0\0\0\x18ftypheic"[..], &[0u8; 32]].concat();
    let server = TestServer::start();
    let err = client_for(&server, Api::ChatCompletions, Mode::Json)
        .chat()
        .create::<Receipt>(request(parts!["x", Media::from_bytes(&heic).expect("heic")]))
        .await
        .expect_err("heic");
    assert!(err.is_media() && err.to_string().contains("image/heic"), "{err}");
}

#[test]
fn types_come_from_content_not_names() {
    let dir = std::env::temp_dir().join(format!("instructor-media-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    // A JPEG named .png, a PDF without an extension, a text file.
    std::fs::write(dir.join("photo.png"), JPEG).expect("write");
    std::fs::write(dir.join("scan"), PDF).expect("write");
    std::fs::write(dir.join("notes.pdf"), b"just text").expect("write");
    let photo = Media::from_path(dir.join("photo.png")).expect("jpeg");
    assert_eq!((photo.kind(), photo.media_type()), (MediaKind::Image, "image/jpeg"));
    let scan = Media::from_path(dir.join("scan")).expect("pdf");
    assert_eq!((scan.kind(), scan.media_type(), scan.file_name()), (MediaKind::Pdf, "application/pdf", "scan"));
    let err = Media::from_path(dir.join("notes.pdf")).expect_err("not a pdf");
    assert!(err.is_media() && err.to_string().contains("notes.pdf"), "{err}");
    let err = Media::from_path(dir.join("missing.png")).expect_err("missing");
    assert!(err.is_media() && err.to_string().contains("missing.png"), "{err}");
    let err = Image::from_path(dir.join("scan")).expect_err("a pdf is no image");
    assert!(err.to_string().contains("expected an image"), "{err}");
    // Base64 and data URLs are read by their content too; base64 round-trips exactly.
    let b64 = STANDARD.encode(WAV);
    let audio = Audio::from_base64(&b64).expect("wav");
    assert_eq!(audio.0.base64().expect("inline").as_str(), b64);
    assert_eq!(audio.0.size(), Some(WAV.len()));
    assert_eq!(
        Media::from_base64(&format!("data:application/octet-stream;base64,{}", STANDARD.encode(PDF)))
            .expect("pdf")
            .media_type(),
        "application/pdf"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn limits_are_checked_before_sending() {
    // Anthropic takes images up to 5 MB.
    let big = [PNG, &vec![0u8; 6 << 20]].concat();
    let server = TestServer::start();
    let err = client_for(&server, Api::Anthropic, Mode::Tools)
        .chat()
        .create::<Receipt>(request(parts!["x", Image::from_bytes(&big).expect("png")]))
        .await
        .expect_err("too large");
    assert!(err.is_media() && err.to_string().contains("5242880"), "{err}");
    // Audio on chat completions has no documented limit: the client's cap applies.
    let client = Client::builder().base_url(server.url()).max_media_bytes(4096).build().expect("client");
    let err = client
        .chat()
        .create::<Receipt>(request(parts!["x", Audio::from_bytes(WAV).expect("wav")]))
        .await
        .expect_err("over the cap");
    assert!(err.is_media() && err.to_string().contains("4096"), "{err}");
    // More images than Anthropic takes in one request.
    let many: Vec<instructor::Part> = (0..101).map(|_| Image::from_bytes(PNG).expect("png").into()).collect();
    let err = client_for(&server, Api::Anthropic, Mode::Tools)
        .chat()
        .create::<Receipt>(request(many))
        .await
        .expect_err("101");
    assert!(err.to_string().contains("101 images"), "{err}");
    assert_eq!(server.served(), 0, "nothing was sent");
}

#[tokio::test]
async fn urls_are_passed_through_or_fetched_and_inlined() {
    let server = TestServer::start();
    let url = |name: &str| format!("{}/files/{name}", server.origin());

    // Chat completions fetch image URLs themselves, not PDFs: the library fetches the PDF
    // (without the API key) and inlines it.
    server.push(Reply::raw(200, PDF.to_vec()));
    server.push(Reply::text(TOTAL));
    let _: Receipt = client_for(&server, Api::ChatCompletions, Mode::Json)
        .chat()
        .create(request(parts![
            "x",
            Image::from_url(url("r.png")).expect("url"),
            Pdf::from_url(url("r.pdf")).expect("url")
        ]))
        .await
        .expect("total");
    let requests = server.requests();
    assert_eq!(requests[0].path, "/files/r.pdf");
    assert!(requests[0].header("authorization").is_none(), "the key never goes to a media host");
    let content = &requests[1].body["messages"][1]["content"];
    assert_eq!(content[0]["image_url"]["url"], url("r.png"));
    assert_eq!(content[1]["file"]["filename"], "r.pdf");
    assert_eq!(data_url_bytes(&content[1]["file"]["file_data"], "application/pdf"), PDF);

    // Anthropic fetches both itself.
    let server = TestServer::start();
    server.push(Reply::anthropic_text(TOTAL));
    let _: Receipt = client_for(&server, Api::Anthropic, Mode::Json)
        .chat()
        .create(request(parts!["x", Pdf::from_url("https://example.com/r.pdf").expect("url")]))
        .await
        .expect("total");
    let body = server.requests()[0].body.clone();
    assert_eq!(body["messages"][0]["content"][0]["source"], json!({"type": "url", "url": "https://example.com/r.pdf"}));
    sdk::assert_valid_requests("anthropic", &[body]);

    // A URL that 404s, one over the size cap, and one holding something else: typed errors.
    for (reply, expect) in [
        (Reply::raw(404, "not here"), "HTTP 404"),
        (Reply::raw(200, vec![b'%'; 64 << 10]), "cap"),
        (Reply::raw(200, PNG.to_vec()), "holds image"),
    ] {
        let server = TestServer::start();
        server.push(reply);
        let client = Client::builder().base_url(server.url()).max_media_bytes(32 << 10).build().expect("client");
        let err = client
            .chat()
            .create::<Receipt>(request(parts!["x", Pdf::from_url(format!("{}/r.pdf", server.origin())).expect("url")]))
            .await
            .expect_err("cannot inline");
        assert!(err.is_media() && err.to_string().contains(expect), "{expect}: {err}");
        assert_eq!(server.served(), 1, "only the fetch");
    }
}

#[tokio::test]
async fn reasks_keep_the_media_in_the_original_message_only() {
    let server = TestServer::start();
    server.push(Reply::text(r#"{"total":"about five"}"#));
    server.push(Reply::text(TOTAL));
    let out = client_for(&server, Api::ChatCompletions, Mode::Json)
        .chat()
        .create_with_completion::<Receipt>(request(parts!["x", Image::from_bytes(PNG).expect("png")]).max_retries(1))
        .await
        .expect("second reply");
    assert_eq!(out.attempts, 2);
    let bodies: Vec<Value> = server.requests().into_iter().map(|r| r.body).collect();
    let second = bodies[1]["messages"].as_array().expect("messages");
    assert_eq!(second[1], bodies[0]["messages"][1], "the media message is untouched");
    let images = bodies[1].to_string().matches(r#""type":"image_url""#).count();
    assert_eq!(images, 1, "the image is sent once, not per turn");
    assert!(second[2..].iter().all(|m| m["content"].is_string()), "the re-ask turn is text");
}

#[tokio::test]
async fn streaming_with_media() {
    let server = TestServer::start();
    server.push(Reply::anthropic_stream_text(TOTAL, 2));
    let client = client_for(&server, Api::Anthropic, Mode::Json);
    let mut stream = std::pin::pin!(
        client.chat().create_partial::<Receipt>(request(parts!["x", Image::from_bytes(JPEG).expect("jpeg")]))
    );
    let mut last = None;
    while let Some(event) = stream.next().await {
        last = Some(event.expect("streams"));
    }
    let Some(PartialEvent::Complete(done)) = last else { panic!("no final value") };
    assert_eq!(done.value.total, 5.75);
    let body = &server.requests()[0].body;
    assert_eq!(body["stream"], true);
    assert_eq!(body["messages"][0]["content"][0]["source"]["media_type"], "image/jpeg");
}
