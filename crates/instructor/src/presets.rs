//! Known OpenAI-compatible providers: where they live, which variable holds their key, and the
//! mode that works best with them.

use std::fmt;
use std::str::FromStr;

use crate::modes::Mode;

/// A known provider.
///
/// ```
/// use instructor::{Mode, Preset};
/// let p: Preset = "anyscale".parse().unwrap();
/// assert_eq!(p.base_url(), "https://api.endpoints.anyscale.com/v1");
/// assert_eq!(p.api_key_env(), "ANYSCALE_API_KEY");
/// assert_eq!(p.default_mode(), Mode::JsonSchema);
///
/// let (preset, model) = Preset::split_model("groq/llama-3.1-8b-instant").unwrap();
/// assert_eq!((preset, model), (Preset::Groq, "llama-3.1-8b-instant"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Preset {
    /// api.openai.com
    OpenAi,
    /// Anyscale Endpoints
    Anyscale,
    /// Together AI
    Together,
    /// Groq
    Groq,
    /// Fireworks AI
    Fireworks,
    /// Mistral AI
    Mistral,
    /// DeepSeek
    DeepSeek,
    /// OpenRouter
    OpenRouter,
    /// A local Ollama server
    Ollama,
    /// A local vLLM server
    Vllm,
    /// A local llama.cpp server
    LlamaCpp,
    /// A local LM Studio server
    LmStudio,
}

struct Info {
    preset: Preset,
    name: &'static str,
    base_url: &'static str,
    key_env: &'static str,
    mode: Mode,
    key_required: bool,
    model: Option<&'static str>,
}

const PRESETS: [Info; 12] = [
    Info {
        preset: Preset::OpenAi,
        name: "openai",
        base_url: "https://api.openai.com/v1",
        key_env: "OPENAI_API_KEY",
        mode: Mode::Tools,
        key_required: true,
        model: Some("gpt-4o-mini"),
    },
    Info {
        preset: Preset::Anyscale,
        name: "anyscale",
        base_url: "https://api.endpoints.anyscale.com/v1",
        key_env: "ANYSCALE_API_KEY",
        mode: Mode::JsonSchema,
        key_required: true,
        model: Some("mistralai/Mixtral-8x7B-Instruct-v0.1"),
    },
    Info {
        preset: Preset::Together,
        name: "together",
        base_url: "https://api.together.xyz/v1",
        key_env: "TOGETHER_API_KEY",
        mode: Mode::JsonSchema,
        key_required: true,
        model: Some("mistralai/Mixtral-8x7B-Instruct-v0.1"),
    },
    Info {
        preset: Preset::Groq,
        name: "groq",
        base_url: "https://api.groq.com/openai/v1",
        key_env: "GROQ_API_KEY",
        mode: Mode::Tools,
        key_required: true,
        model: Some("llama-3.1-8b-instant"),
    },
    Info {
        preset: Preset::Fireworks,
        name: "fireworks",
        base_url: "https://api.fireworks.ai/inference/v1",
        key_env: "FIREWORKS_API_KEY",
        mode: Mode::JsonSchema,
        key_required: true,
        model: Some("accounts/fireworks/models/llama-v3p1-8b-instruct"),
    },
    Info {
        preset: Preset::Mistral,
        name: "mistral",
        base_url: "https://api.mistral.ai/v1",
        key_env: "MISTRAL_API_KEY",
        mode: Mode::Tools,
        key_required: true,
        model: Some("mistral-small-latest"),
    },
    Info {
        preset: Preset::DeepSeek,
        name: "deepseek",
        base_url: "https://api.deepseek.com/v1",
        key_env: "DEEPSEEK_API_KEY",
        mode: Mode::Tools,
        key_required: true,
        model: Some("deepseek-chat"),
    },
    Info {
        preset: Preset::OpenRouter,
        name: "openrouter",
        base_url: "https://openrouter.ai/api/v1",
        key_env: "OPENROUTER_API_KEY",
        mode: Mode::Tools,
        key_required: true,
        model: Some("openai/gpt-4o-mini"),
    },
    Info {
        preset: Preset::Ollama,
        name: "ollama",
        base_url: "http://localhost:11434/v1",
        key_env: "OLLAMA_API_KEY",
        mode: Mode::StructuredOutputs,
        key_required: false,
        model: None,
    },
    Info {
        preset: Preset::Vllm,
        name: "vllm",
        base_url: "http://localhost:8000/v1",
        key_env: "VLLM_API_KEY",
        mode: Mode::StructuredOutputs,
        key_required: false,
        model: None,
    },
    Info {
        preset: Preset::LlamaCpp,
        name: "llamacpp",
        base_url: "http://localhost:8080/v1",
        key_env: "LLAMACPP_API_KEY",
        mode: Mode::JsonSchema,
        key_required: false,
        model: Some("default"),
    },
    Info {
        preset: Preset::LmStudio,
        name: "lmstudio",
        base_url: "http://localhost:1234/v1",
        key_env: "LMSTUDIO_API_KEY",
        mode: Mode::StructuredOutputs,
        key_required: false,
        model: None,
    },
];

impl Preset {
    fn info(self) -> &'static Info {
        PRESETS.iter().find(|i| i.preset == self).unwrap_or(&PRESETS[0])
    }

    /// Every preset.
    pub fn all() -> impl Iterator<Item = Preset> {
        PRESETS.iter().map(|i| i.preset)
    }

    /// The name used in `provider/model` strings and on the command line.
    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// The API's base URL (ending in `/v1`).
    pub fn base_url(self) -> &'static str {
        self.info().base_url
    }

    /// The environment variable that holds the key.
    pub fn api_key_env(self) -> &'static str {
        self.info().key_env
    }

    /// The environment variable that overrides the base URL (`ANYSCALE_BASE_URL`, ...).
    pub fn base_url_env(self) -> String {
        self.api_key_env().replace("_API_KEY", "_BASE_URL")
    }

    /// Whether the provider refuses requests without a key (local servers do not).
    pub fn requires_key(self) -> bool {
        self.info().key_required
    }

    /// A model to use when none is given (`None` for local servers, which serve whatever they loaded).
    pub fn default_model(self) -> Option<&'static str> {
        self.info().model
    }

    /// The mode that works best with this provider.
    pub fn default_mode(self) -> Mode {
        self.info().mode
    }

    /// Splits `"provider/model"`; the model may itself contain slashes
    /// (`together/mistralai/Mixtral-8x7B-Instruct-v0.1`).
    pub fn split_model(s: &str) -> Option<(Preset, &str)> {
        let (provider, model) = s.split_once('/')?;
        let preset = provider.parse().ok()?;
        (!model.is_empty()).then_some((preset, model))
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Preset {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let wanted = s.trim().to_ascii_lowercase().replace(['-', '_', '.'], "");
        PRESETS.iter().find(|i| i.name == wanted).map(|i| i.preset).ok_or_else(|| {
            let names: Vec<_> = PRESETS.iter().map(|i| i.name).collect();
            format!("unknown provider `{s}` (known: {})", names.join(", "))
        })
    }
}
