//! `instructor model`: fetch and list local models for the embedded engine.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use instructor_engine::store;

use crate::Failure;

#[derive(Debug, Args)]
pub(crate) struct ModelArgs {
    #[command(subcommand)]
    command: ModelCommand,
}

#[derive(Debug, Subcommand)]
enum ModelCommand {
    /// Download the default model (SmolLM2-135M-Instruct, Q4_1) into the cache and verify it.
    Pull {
        /// Fetch OWNER/REPO/FILE from the Hugging Face hub instead.
        #[arg(long, value_name = "OWNER/REPO/FILE")]
        hf: Option<String>,
        /// Download again even if the model is cached.
        #[arg(long)]
        force: bool,
    },
    /// List cached models.
    List,
}

pub(crate) async fn run(args: ModelArgs) -> Result<(), Failure> {
    match args.command {
        ModelCommand::Pull { hf: Some(repo_file), .. } => {
            let path = store::pull_hf(&repo_file).await.map_err(|e| Failure::provider(e.to_string()))?;
            println!("{}", path.display());
        }
        ModelCommand::Pull { hf: None, force } => {
            let path = store::pull_default(&Bar::new(), force).await.map_err(|e| Failure::provider(e.to_string()))?;
            println!("{}", path.display());
        }
        ModelCommand::List => {
            let models = store::list().map_err(|e| Failure::usage(format!("cannot read the model cache: {e}")))?;
            if models.is_empty() {
                eprintln!("no models in {}; run `instructor model pull`", store::model_dir().display());
            }
            for m in models {
                println!("{}\t{:.1} MB", m.path.display(), m.size as f64 / 1e6);
            }
        }
    }
    Ok(())
}

/// The default model's path, pulling it first (with a note on stderr) when it is not cached.
pub(crate) async fn default_model() -> Result<PathBuf, Failure> {
    let path = store::default_model_path();
    if path.exists() {
        return Ok(path);
    }
    eprintln!(
        "instructor: no API key configured; fetching the embedded model {} (once, {:.0} MB)",
        store::DEFAULT_MODEL.file_name,
        store::DEFAULT_MODEL.size as f64 / 1e6
    );
    store::ensure_default(&Bar::new()).await.map_err(|e| Failure::provider(e.to_string()))
}

/// A progress bar on stderr when it is a terminal; silence otherwise.
struct Bar(Option<indicatif::ProgressBar>);

impl Bar {
    fn new() -> Self {
        Bar(std::io::stderr().is_terminal().then(indicatif::ProgressBar::hidden))
    }
}

impl store::Progress for Bar {
    fn start(&self, what: &str, total: Option<u64>) {
        let Some(bar) = &self.0 else { return };
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        bar.set_length(total.unwrap_or(0));
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(what.to_owned());
    }

    fn advance(&self, done: u64) {
        if let Some(bar) = &self.0 {
            bar.set_position(done);
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}
