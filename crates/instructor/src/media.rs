//! Images, PDFs and audio as input, mixed with text in a user message.
//!
//! A [`Media`] is built from a file, bytes, base64 or a URL; its type comes from the content's
//! magic bytes, not from a file name. Bytes are base64-encoded once, when the value is built,
//! and kept as a `data:` URL shared by every request that carries it (re-asks, retries), so a
//! call costs one encoding pass and no copy of the media beyond the request body.
//!
//! ```
//! use instructor::{ChatRequest, Image, parts};
//!
//! // A 1×1 PNG.
//! let png = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0];
//! let receipt = Image::from_bytes(png.to_vec()).unwrap();
//! let request = ChatRequest::new("gpt-4o-mini").user(parts!["Extract the total of this receipt", receipt]);
//! assert_eq!(request.messages()[0].media.len(), 1);
//! ```

use std::fmt;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::error::{Error, ProviderError, ProviderErrorKind};

/// What a piece of media is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MediaKind {
    /// PNG, JPEG, GIF, WebP, HEIC.
    Image,
    /// A PDF document.
    Pdf,
    /// WAV, MP3, FLAC, OGG, AAC/M4A.
    Audio,
}

impl MediaKind {
    /// `image`, `pdf`, `audio`.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Pdf => "pdf",
            MediaKind::Audio => "audio",
        }
    }
}

impl fmt::Display for MediaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An image, PDF or audio clip for a user message: inline content (a `data:` URL, base64
/// encoded once), or a URL the provider or the library fetches.
#[derive(Clone, PartialEq)]
pub struct Media {
    kind: MediaKind,
    media_type: String,
    source: Source,
    detail: Option<String>,
    filename: Option<String>,
}

#[derive(Clone, PartialEq)]
enum Source {
    /// `data:{media_type};base64,{data}`, with where the base64 starts. An `Arc<String>`, not
    /// `Arc<str>`: the base64 is written once, into this very buffer.
    Inline { data_url: Arc<String>, start: usize, bytes: usize },
    /// A URL.
    Url(String),
}

impl fmt::Debug for Media {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Media");
        d.field("kind", &self.kind).field("media_type", &self.media_type);
        match &self.source {
            Source::Inline { bytes, .. } => d.field("bytes", bytes),
            Source::Url(url) => d.field("url", url),
        };
        d.finish_non_exhaustive()
    }
}

/// The media type of `bytes`, from their first bytes.
///
/// ```
/// use instructor::{MediaKind, sniff};
/// assert_eq!(sniff(b"%PDF-1.7\n..."), Some((MediaKind::Pdf, "application/pdf")));
/// assert_eq!(sniff(b"\xFF\xD8\xFF\xE0rest"), Some((MediaKind::Image, "image/jpeg")));
/// assert_eq!(sniff(b"plain text"), None);
/// ```
pub fn sniff(bytes: &[u8]) -> Option<(MediaKind, &'static str)> {
    let at = |offset: usize, magic: &[u8]| bytes.get(offset..offset + magic.len()) == Some(magic);
    Some(match () {
        _ if at(0, b"\x89PNG\r\n\x1a\n") => (MediaKind::Image, "image/png"),
        _ if at(0, b"\xFF\xD8\xFF") => (MediaKind::Image, "image/jpeg"),
        _ if at(0, b"GIF87a") || at(0, b"GIF89a") => (MediaKind::Image, "image/gif"),
        _ if at(0, b"RIFF") && at(8, b"WEBP") => (MediaKind::Image, "image/webp"),
        _ if at(4, b"ftypheic") || at(4, b"ftypheix") || at(4, b"ftypmif1") => (MediaKind::Image, "image/heic"),
        _ if at(0, b"%PDF-") => (MediaKind::Pdf, "application/pdf"),
        _ if at(0, b"RIFF") && at(8, b"WAVE") => (MediaKind::Audio, "audio/wav"),
        _ if at(0, b"ID3") || at(0, b"\xFF\xFB") || at(0, b"\xFF\xF3") || at(0, b"\xFF\xF2") => {
            (MediaKind::Audio, "audio/mp3")
        }
        _ if at(0, b"fLaC") => (MediaKind::Audio, "audio/flac"),
        _ if at(0, b"OggS") => (MediaKind::Audio, "audio/ogg"),
        _ if at(4, b"ftypM4A") => (MediaKind::Audio, "audio/mp4"),
        _ if at(0, b"\xFF\xF1") || at(0, b"\xFF\xF9") => (MediaKind::Audio, "audio/aac"),
        _ => return None,
    })
}

/// What `sniff` recognises, for messages.
const KNOWN: &str = "PNG, JPEG, GIF, WebP, HEIC, PDF, WAV, MP3, FLAC, OGG, M4A or AAC";

fn unknown(what: &str) -> Error {
    Error::Media(format!(
        "{what} is not a supported image, PDF or audio file (expected {KNOWN}, read by its first bytes)"
    ))
}

impl Media {
    /// Media from bytes; what it is comes from its first bytes.
    pub fn from_bytes(bytes: impl AsRef<[u8]>) -> Result<Media, Error> {
        let bytes = bytes.as_ref();
        let (kind, media_type) = sniff(bytes).ok_or_else(|| unknown("the content"))?;
        Ok(Media::encoded(kind, media_type, bytes))
    }

    /// Media from a file; what it is comes from its content, not its name.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Media, Error> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| Error::Media(format!("cannot read {}: {e}", path.display())))?;
        let (kind, media_type) = sniff(&bytes).ok_or_else(|| unknown(&path.display().to_string()))?;
        let mut media = Media::encoded(kind, media_type, &bytes);
        media.filename = path.file_name().map(|n| n.to_string_lossy().into_owned());
        Ok(media)
    }

    /// Media from base64 (standard alphabet; a `data:` URL is accepted too). Only its start is
    /// decoded, to tell what it is; the text is kept as it came.
    pub fn from_base64(text: &str) -> Result<Media, Error> {
        let payload = match text.strip_prefix("data:") {
            Some(rest) => rest
                .split_once(";base64,")
                .map(|(_, data)| data)
                .ok_or_else(|| Error::Media("a data: URL must be base64 (`data:<type>;base64,<data>`)".to_owned()))?,
            None => text,
        };
        let payload = payload.trim();
        let head_len = payload.len().min(64) / 4 * 4;
        let head = STANDARD
            .decode(&payload[..head_len])
            .map_err(|e| Error::Media(format!("the base64 text does not decode: {e}")))?;
        let (kind, media_type) = sniff(&head).ok_or_else(|| unknown("the base64 content"))?;
        // Checked in full: a payload that does not decode would be the provider's 400 later.
        let padding = payload.bytes().rev().take_while(|b| *b == b'=').count();
        if payload.len() % 4 != 0
            || payload.bytes().any(|b| !(b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'='))
        {
            return Err(Error::Media("the base64 text is not valid standard base64".to_owned()));
        }
        let size = payload.len() / 4 * 3 - padding;
        Ok(Media::inline(kind, media_type, payload, size))
    }

    /// Media at a URL, of a kind you name (it is not fetched now). Providers that fetch URLs
    /// themselves get the URL; for the others the library fetches it (with a timeout and a size
    /// cap) when the request is sent.
    pub fn from_url(kind: MediaKind, url: impl Into<String>) -> Result<Media, Error> {
        let url = url.into();
        let parsed = reqwest::Url::parse(&url).map_err(|e| Error::Media(format!("bad media URL `{url}`: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Error::Media(format!("a media URL must be http or https, got `{url}`")));
        }
        let media_type = media_type_of_url(kind, parsed.path()).to_owned();
        Ok(Media { kind, media_type, source: Source::Url(url), detail: None, filename: None })
    }

    /// `bytes` base64-encoded once, straight into the `data:` URL that holds them.
    fn encoded(kind: MediaKind, media_type: &str, bytes: &[u8]) -> Media {
        let mut data_url = String::with_capacity(bytes.len().div_ceil(3) * 4 + media_type.len() + 13);
        data_url.push_str("data:");
        data_url.push_str(media_type);
        data_url.push_str(";base64,");
        let start = data_url.len();
        STANDARD.encode_string(bytes, &mut data_url);
        Media::with_data_url(kind, media_type, data_url, start, bytes.len())
    }

    fn inline(kind: MediaKind, media_type: &str, base64: &str, bytes: usize) -> Media {
        let mut data_url = String::with_capacity(base64.len() + media_type.len() + 13);
        data_url.push_str("data:");
        data_url.push_str(media_type);
        data_url.push_str(";base64,");
        let start = data_url.len();
        data_url.push_str(base64);
        Media::with_data_url(kind, media_type, data_url, start, bytes)
    }

    fn with_data_url(kind: MediaKind, media_type: &str, data_url: String, start: usize, bytes: usize) -> Media {
        Media {
            kind,
            media_type: media_type.to_owned(),
            source: Source::Inline { data_url: Arc::new(data_url), start, bytes },
            detail: None,
            filename: None,
        }
    }

    /// Image detail for the APIs that take it (`low`, `high`, `auto`).
    pub fn detail(mut self, detail: impl Into<String>) -> Media {
        self.detail = Some(detail.into());
        self
    }

    /// The file name sent with documents (default: the file's own name, else `document.pdf`).
    pub fn filename(mut self, name: impl Into<String>) -> Media {
        self.filename = Some(name.into());
        self
    }

    /// What it is.
    pub fn kind(&self) -> MediaKind {
        self.kind
    }

    /// Its media type (`image/png`, `application/pdf`, `audio/wav`, ...).
    pub fn media_type(&self) -> &str {
        &self.media_type
    }

    /// Its size in bytes, when inline.
    pub fn size(&self) -> Option<usize> {
        match &self.source {
            Source::Inline { bytes, .. } => Some(*bytes),
            Source::Url(_) => None,
        }
    }

    /// Its URL, when it is one.
    pub fn url(&self) -> Option<&str> {
        match &self.source {
            Source::Url(url) => Some(url),
            Source::Inline { .. } => None,
        }
    }

    /// Its `data:` URL, when inline.
    pub fn data_url(&self) -> Option<&str> {
        match &self.source {
            Source::Inline { data_url, .. } => Some(data_url),
            Source::Url(_) => None,
        }
    }

    /// Its `data:` URL, when inline, or its URL, shared.
    pub(crate) fn shared_url(&self) -> SharedStr {
        match &self.source {
            Source::Inline { data_url, .. } => SharedStr { text: Arc::clone(data_url), start: 0 },
            Source::Url(url) => SharedStr::new(url.clone()),
        }
    }

    /// Its base64 content, when inline (shared: a slice of the `data:` URL, no copy).
    pub fn base64(&self) -> Option<SharedStr> {
        match &self.source {
            Source::Inline { data_url, start, .. } => Some(SharedStr { text: Arc::clone(data_url), start: *start }),
            Source::Url(_) => None,
        }
    }

    /// The detail asked for, if any.
    pub fn image_detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }

    /// The file name to send with a document.
    pub fn file_name(&self) -> &str {
        self.filename.as_deref().unwrap_or(match self.kind {
            MediaKind::Pdf => "document.pdf",
            MediaKind::Image => "image",
            MediaKind::Audio => "audio",
        })
    }

    /// The audio format the chat-completions API names (`wav`, `mp3`, ...).
    pub fn audio_format(&self) -> &str {
        self.media_type.rsplit('/').next().unwrap_or("wav")
    }

    /// The same media, fetched and inlined (for providers that do not fetch URLs themselves).
    pub(crate) async fn fetched(&self, fetcher: &Fetcher) -> Result<Media, ProviderError> {
        let Source::Url(url) = &self.source else { return Ok(self.clone()) };
        if let Some(media) = fetcher.remembered(url) {
            return Ok(media);
        }
        let bytes = fetcher.get(url).await?;
        let (kind, media_type) = sniff(&bytes).ok_or_else(|| {
            ProviderError::new(ProviderErrorKind::Media, format!("{url} is not a supported image, PDF or audio file"))
        })?;
        if kind != self.kind {
            return Err(ProviderError::new(
                ProviderErrorKind::Media,
                format!("{url} was given as {} but holds {kind} ({media_type})", self.kind),
            ));
        }
        let mut media = Media::encoded(kind, media_type, &bytes);
        media.detail.clone_from(&self.detail);
        media.filename =
            self.filename.clone().or_else(|| url.rsplit('/').next().filter(|n| !n.is_empty()).map(str::to_owned));
        fetcher.remember(url, &media);
        Ok(media)
    }
}

/// A guess from a URL's extension, for APIs that want a type with a URL; refined when fetched.
fn media_type_of_url(kind: MediaKind, path: &str) -> &'static str {
    let ext = path.rsplit('.').next().unwrap_or_default().to_ascii_lowercase();
    match (kind, ext.as_str()) {
        (MediaKind::Image, "png") => "image/png",
        (MediaKind::Image, "gif") => "image/gif",
        (MediaKind::Image, "webp") => "image/webp",
        (MediaKind::Image, _) => "image/jpeg",
        (MediaKind::Pdf, _) => "application/pdf",
        (MediaKind::Audio, "mp3") => "audio/mp3",
        (MediaKind::Audio, "flac") => "audio/flac",
        (MediaKind::Audio, "ogg") => "audio/ogg",
        (MediaKind::Audio, _) => "audio/wav",
    }
}

/// A string shared with the value it came from (base64 content: a slice of its media's `data:`
/// URL), cheap to clone; serialises as a string.
#[derive(Clone, PartialEq, Eq)]
pub struct SharedStr {
    text: Arc<String>,
    start: usize,
}

impl SharedStr {
    /// Shares `text` (from a request read off the wire).
    pub fn new(text: impl Into<String>) -> SharedStr {
        SharedStr { text: Arc::new(text.into()), start: 0 }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.text[self.start..]
    }
}

impl fmt::Debug for SharedStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.as_str();
        if text.len() <= 64 { write!(f, "{text:?}") } else { write!(f, "SharedStr({} bytes)", text.len()) }
    }
}

impl serde::Serialize for SharedStr {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for SharedStr {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(SharedStr::new)
    }
}

macro_rules! kind_of_media {
    ($name:ident, $kind:expr, $what:literal) => {
        #[doc = concat!("Media that must be ", $what, ": a [`Media`] whose kind is checked when built.")]
        #[derive(Debug, Clone, PartialEq)]
        pub struct $name(pub Media);

        impl $name {
            fn checked(media: Media) -> Result<$name, Error> {
                if media.kind() == $kind {
                    Ok($name(media))
                } else {
                    Err(Error::Media(format!(
                        concat!("expected ", $what, ", got {} ({})"),
                        media.kind(),
                        media.media_type()
                    )))
                }
            }

            #[doc = concat!("Reads ", $what, " from a file (its type from its content).")]
            pub fn from_path(path: impl AsRef<Path>) -> Result<$name, Error> {
                Media::from_path(path).and_then($name::checked)
            }

            #[doc = concat!(stringify!($name), " from bytes.")]
            pub fn from_bytes(bytes: impl AsRef<[u8]>) -> Result<$name, Error> {
                Media::from_bytes(bytes).and_then($name::checked)
            }

            #[doc = concat!(stringify!($name), " from base64 (or a `data:` URL).")]
            pub fn from_base64(text: &str) -> Result<$name, Error> {
                Media::from_base64(text).and_then($name::checked)
            }

            #[doc = concat!(stringify!($name), " at a URL.")]
            pub fn from_url(url: impl Into<String>) -> Result<$name, Error> {
                Media::from_url($kind, url).map($name)
            }
        }

        impl From<$name> for Media {
            fn from(m: $name) -> Media {
                m.0
            }
        }

        impl From<$name> for Part {
            fn from(m: $name) -> Part {
                Part::Media(m.0)
            }
        }
    };
}

kind_of_media!(Image, MediaKind::Image, "an image");
kind_of_media!(Pdf, MediaKind::Pdf, "a PDF");
kind_of_media!(Audio, MediaKind::Audio, "audio");

/// A piece of a user message: text or media. See [`parts!`](crate::parts).
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    /// Text.
    Text(String),
    /// An image, PDF or audio clip.
    Media(Media),
}

impl From<&str> for Part {
    fn from(text: &str) -> Part {
        Part::Text(text.to_owned())
    }
}

impl From<String> for Part {
    fn from(text: String) -> Part {
        Part::Text(text)
    }
}

impl From<&String> for Part {
    fn from(text: &String) -> Part {
        Part::Text(text.clone())
    }
}

impl From<Media> for Part {
    fn from(media: Media) -> Part {
        Part::Media(media)
    }
}

/// The content of a user message: text, or parts mixing text and media. Kept as the message
/// will hold it (the text parts joined by newlines, the media in order), so plain text costs
/// no list.
#[derive(Debug, Clone, PartialEq)]
pub struct Content {
    text: Option<String>,
    media: Vec<Media>,
}

impl From<&str> for Content {
    fn from(text: &str) -> Content {
        Content::from(text.to_owned())
    }
}

impl From<String> for Content {
    fn from(text: String) -> Content {
        Content { text: Some(text), media: Vec::new() }
    }
}

impl From<&String> for Content {
    fn from(text: &String) -> Content {
        Content::from(text.clone())
    }
}

impl From<Vec<Part>> for Content {
    fn from(parts: Vec<Part>) -> Content {
        let mut content = Content { text: None, media: Vec::new() };
        for part in parts {
            match part {
                Part::Text(t) => match &mut content.text {
                    Some(all) => {
                        all.push('\n');
                        all.push_str(&t);
                    }
                    None => content.text = Some(t),
                },
                Part::Media(m) => content.media.push(m),
            }
        }
        content
    }
}

macro_rules! content_of_media {
    ($($t:ty),*) => {$(
        impl From<$t> for Content {
            fn from(media: $t) -> Content {
                Content { text: None, media: vec![Media::from(media)] }
            }
        }
    )*};
}

content_of_media!(Media, Image, Pdf, Audio);

impl Content {
    /// The text parts, joined by newlines, and the media in order.
    pub(crate) fn split(self) -> (Option<String>, Vec<Media>) {
        (self.text, self.media)
    }
}

/// Text and media for one user message, in order.
///
/// ```
/// # fn run(image: instructor::Image) {
/// let request = instructor::ChatRequest::new("gpt-4o-mini").user(instructor::parts!["What is this?", image]);
/// # let _ = request; }
/// ```
#[macro_export]
macro_rules! parts {
    ($($part:expr),* $(,)?) => {
        ::std::vec![$($crate::Part::from($part)),*]
    };
}

/// Fetches media URLs for providers that must inline them: its own HTTP client (never the
/// provider's, which carries the API key), a timeout, and a size cap.
#[derive(Debug, Clone)]
pub(crate) struct Fetcher {
    /// Built on the first fetch: most programs never fetch, and building an HTTP client reads
    /// the system's root certificates (about half of what building a `Client` costs).
    http: Arc<OnceLock<reqwest::Client>>,
    timeout: Duration,
    max_bytes: usize,
    /// What the last few URLs held, so that re-asks and retries do not fetch them again.
    recent: Arc<std::sync::Mutex<std::collections::VecDeque<(String, Media)>>>,
}

/// URLs remembered per client.
const RECENT_FETCHES: usize = 8;

impl Fetcher {
    pub(crate) fn new(timeout: Duration, max_bytes: usize) -> Fetcher {
        Fetcher { http: Arc::default(), timeout, max_bytes, recent: Arc::default() }
    }

    fn remembered(&self, url: &str) -> Option<Media> {
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        recent.iter().find(|(u, _)| u == url).map(|(_, m)| m.clone())
    }

    fn remember(&self, url: &str, media: &Media) {
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() >= RECENT_FETCHES {
            recent.pop_front();
        }
        recent.push_back((url.to_owned(), media.clone()));
    }

    async fn get(&self, url: &str) -> Result<bytes::Bytes, ProviderError> {
        let failed = |why: String| ProviderError::new(ProviderErrorKind::Media, format!("cannot fetch {url}: {why}"));
        let http = self.http.get_or_init(|| {
            reqwest::Client::builder()
                .user_agent(concat!("instructor-rs/", env!("CARGO_PKG_VERSION")))
                .build()
                .unwrap_or_default()
        });
        let mut response =
            http.get(url).timeout(self.timeout).send().await.map_err(|e| failed(e.to_string()).with_source(e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(failed(format!("HTTP {}", status.as_u16())).with_status(status.as_u16(), None));
        }
        crate::http::read_limited(&mut response, self.max_bytes, self.timeout).await.map_err(|e| {
            if e.kind() == ProviderErrorKind::BodyTooLarge {
                failed(format!("larger than the {}-byte cap for fetched media", self.max_bytes))
            } else {
                failed(e.to_string())
            }
        })
    }
}

/// The default cap on one fetched or inline media item where the provider documents none.
pub const DEFAULT_MAX_MEDIA_BYTES: usize = 20 << 20;

const MB: usize = 1 << 20;

/// What one API does with media: which kinds it reads, which URLs it fetches itself, and its
/// documented limits (`None`: none documented; the client's cap applies).
#[derive(Debug)]
pub(crate) struct Rules {
    pub api: &'static str,
    /// Kinds read, and the media types of each (empty: any the library knows).
    pub images: Option<&'static [&'static str]>,
    pub pdfs: bool,
    pub audio: Option<&'static [&'static str]>,
    /// Kinds whose URLs the API fetches itself; others are fetched and inlined.
    pub fetches: &'static [MediaKind],
    pub max_image_bytes: Option<usize>,
    pub max_pdf_bytes: Option<usize>,
    pub max_images: Option<usize>,
    pub max_request_bytes: Option<usize>,
}

/// OpenAI's chat completions (and compatible servers): images by URL or inline (PNG, JPEG,
/// GIF, WebP; 20 MB each, 500 per request, per OpenAI's vision guide), PDFs inline as `file`
/// (32 MB in all, per its file-inputs guide), audio inline as `input_audio` (WAV or MP3 only).
pub(crate) const CHAT: Rules = Rules {
    api: "chat completions",
    images: Some(&["image/png", "image/jpeg", "image/gif", "image/webp"]),
    pdfs: true,
    audio: Some(&["audio/wav", "audio/mp3"]),
    fetches: &[MediaKind::Image],
    max_image_bytes: Some(20 * MB),
    max_pdf_bytes: Some(32 * MB),
    max_images: Some(500),
    max_request_bytes: None,
};

/// OpenAI's Responses API: `input_image` and `input_file` (by URL or inline), no audio input.
pub(crate) const RESPONSES: Rules = Rules {
    api: "Responses",
    images: Some(&["image/png", "image/jpeg", "image/gif", "image/webp"]),
    pdfs: true,
    audio: None,
    fetches: &[MediaKind::Image, MediaKind::Pdf],
    max_image_bytes: Some(20 * MB),
    max_pdf_bytes: Some(32 * MB),
    max_images: Some(500),
    max_request_bytes: None,
};

/// Anthropic's Messages API: `image` blocks (JPEG, PNG, GIF, WebP; 5 MB each, 100 per request)
/// and `document` blocks (PDF), by URL or inline, within a 32 MB request; no audio (per
/// Anthropic's vision and PDF-support guides).
pub(crate) const ANTHROPIC: Rules = Rules {
    api: "Anthropic",
    images: Some(&["image/png", "image/jpeg", "image/gif", "image/webp"]),
    pdfs: true,
    audio: None,
    fetches: &[MediaKind::Image, MediaKind::Pdf],
    max_image_bytes: Some(5 * MB),
    max_pdf_bytes: Some(32 * MB),
    max_images: Some(100),
    max_request_bytes: Some(32 * MB),
};

/// Gemini: `inlineData` or `fileData` for images (PNG, JPEG, WebP, HEIC), PDFs (50 MB) and
/// audio (WAV, MP3, AAC, OGG, FLAC), within 100 MB of inline data (Google's file-input guide).
pub(crate) const GEMINI: Rules = Rules {
    api: "Gemini",
    images: Some(&["image/png", "image/jpeg", "image/webp", "image/heic"]),
    pdfs: true,
    audio: Some(&["audio/wav", "audio/mp3", "audio/aac", "audio/ogg", "audio/flac", "audio/mp4"]),
    fetches: &[MediaKind::Image, MediaKind::Pdf, MediaKind::Audio],
    max_image_bytes: None,
    max_pdf_bytes: Some(50 * MB),
    max_images: None,
    max_request_bytes: Some(100 * MB),
};

/// How a provider treats media: the fetcher for URLs it must inline, and the cap on one item
/// where the API documents no limit.
#[derive(Debug, Clone)]
pub(crate) struct MediaPolicy {
    pub fetcher: Fetcher,
    pub cap: usize,
}

impl Default for MediaPolicy {
    fn default() -> Self {
        MediaPolicy {
            fetcher: Fetcher::new(Duration::from_secs(30), DEFAULT_MAX_MEDIA_BYTES),
            cap: DEFAULT_MAX_MEDIA_BYTES,
        }
    }
}

impl Rules {
    /// Refuses, before anything is sent, media this API cannot take: a kind or type it does
    /// not read, an item or a request over its limits (or over `cap` where it documents none).
    pub(crate) fn check(&self, messages: &[crate::wire::Message], cap: usize) -> Result<(), Error> {
        let mut images = 0;
        let mut total = 0;
        for media in messages.iter().flat_map(|m| m.media.iter()) {
            let types = match media.kind() {
                MediaKind::Image => self.images,
                MediaKind::Pdf => self.pdfs.then_some(&[][..]),
                MediaKind::Audio => self.audio,
            };
            let Some(types) = types else {
                return Err(Error::Media(format!(
                    "the {} API does not take {} input; leave it out, or use a provider that reads it",
                    self.api,
                    media.kind()
                )));
            };
            // URLs the API fetches are typed once fetched; those the library fetches are checked then.
            if media.url().is_none() && !types.is_empty() && !types.contains(&media.media_type()) {
                return Err(Error::Media(format!(
                    "the {} API does not take {} {} (it takes {})",
                    self.api,
                    media.kind(),
                    media.media_type(),
                    types.join(", ")
                )));
            }
            images += usize::from(media.kind() == MediaKind::Image);
            let Some(size) = media.size() else { continue };
            total += size;
            let limit = match media.kind() {
                MediaKind::Image => self.max_image_bytes,
                MediaKind::Pdf => self.max_pdf_bytes,
                MediaKind::Audio => None,
            }
            .unwrap_or(cap);
            if size > limit {
                return Err(Error::Media(format!(
                    "{} {} is {size} bytes; the {} API takes at most {limit} (shrink or split it{})",
                    media.kind(),
                    media.file_name(),
                    self.api,
                    if media.kind() == MediaKind::Image { ", or pass a URL" } else { "" }
                )));
            }
        }
        if let Some(max) = self.max_images.filter(|max| images > *max) {
            return Err(Error::Media(format!("{images} images; the {} API takes at most {max} per request", self.api)));
        }
        if let Some(max) = self.max_request_bytes.filter(|max| total > *max) {
            return Err(Error::Media(format!(
                "{total} bytes of inline media; the {} API takes at most {max} per request (pass URLs, or fewer files)",
                self.api
            )));
        }
        Ok(())
    }

    /// The request with every media URL this API does not fetch itself fetched and inlined, or
    /// `None` when there is nothing to fetch. Fetching is rare, so its state is boxed only then:
    /// every other call's future stays small (it is itself boxed once per call).
    pub(crate) fn inline_urls<'a>(
        &'a self,
        request: &'a crate::wire::CompletionRequest,
        fetcher: &'a Fetcher,
    ) -> Option<futures_util::future::BoxFuture<'a, Result<crate::wire::CompletionRequest, ProviderError>>> {
        let needs = |m: &Media| m.url().is_some() && !self.fetches.contains(&m.kind());
        if !request.messages.iter().flat_map(|m| m.media.iter()).any(needs) {
            return None;
        }
        Some(Box::pin(async move {
            let mut owned = request.clone();
            for message in &mut owned.messages {
                for media in &mut message.media {
                    if needs(media) {
                        *media = media.fetched(fetcher).await?;
                    }
                }
            }
            Ok(owned)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\nrest of a png";

    #[test]
    fn base64_round_trips_and_shares_the_data_url() {
        let media = Media::from_bytes(PNG).expect("png");
        assert_eq!(media.media_type(), "image/png");
        let b64 = media.base64().expect("inline");
        assert_eq!(STANDARD.decode(b64.as_str()).expect("decodes"), PNG);
        assert_eq!(media.data_url().expect("inline"), format!("data:image/png;base64,{}", b64.as_str()));
        let again = Media::from_base64(b64.as_str()).expect("base64");
        assert_eq!(again.base64().expect("inline").as_str(), b64.as_str());
        assert_eq!(again.size(), Some(PNG.len()));
        let from_url = Media::from_base64(media.data_url().expect("inline")).expect("data url");
        assert_eq!(from_url.media_type(), "image/png");
    }

    #[test]
    fn kinds_are_checked() {
        assert!(Image::from_bytes(PNG).is_ok());
        let err = Pdf::from_bytes(PNG).expect_err("not a pdf");
        assert!(err.to_string().contains("expected a PDF, got image (image/png)"), "{err}");
        assert!(Media::from_bytes(b"hello").expect_err("unknown").to_string().contains("not a supported"));
        assert!(Media::from_base64("not base64!").is_err());
        assert!(Media::from_url(MediaKind::Image, "file:///etc/passwd").is_err());
    }
}
