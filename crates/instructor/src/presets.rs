//! Known providers: which API they speak, where they live, which variable holds their key, and
//! the mode that works best with them.

use std::fmt;
use std::str::FromStr;

use crate::modes::Mode;
use crate::providers::Api;

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
/// let (preset, model) = Preset::split_model("anthropic/claude-haiku-4-5").unwrap();
/// assert_eq!((preset, model, preset.api()), (Preset::Anthropic, "claude-haiku-4-5", instructor::Api::Anthropic));
/// assert_eq!(Preset::split_model("google/gemini-2.5-flash").unwrap().0, Preset::Gemini);
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
    /// Anthropic's Messages API (Claude), natively
    Anthropic,
    /// Google's Gemini API, natively
    Gemini,
    /// OpenAI's Responses API
    OpenAiResponses,
}

struct Info {
    preset: Preset,
    name: &'static str,
    api: Api,
    base_url: &'static str,
    /// Where the key may be, first match wins.
    key_envs: &'static [&'static str],
    /// Where a base-URL override may be, first match wins.
    base_url_envs: &'static [&'static str],
    mode: Mode,
    key_required: bool,
    model: Option<&'static str>,
}

const PRESETS: [Info; 15] = [
    Info {
        preset: Preset::OpenAi,
        name: "openai",
        base_url: "https://api.openai.com/v1",
        api: Api::ChatCompletions,
        key_envs: &["OPENAI_API_KEY"],
        base_url_envs: &["OPENAI_BASE_URL"],
        mode: Mode::Tools,
        key_required: true,
        model: Some("gpt-4o-mini"),
    },
    Info {
        preset: Preset::Anyscale,
        name: "anyscale",
        base_url: "https://api.endpoints.anyscale.com/v1",
        api: Api::ChatCompletions,
        key_envs: &["ANYSCALE_API_KEY"],
        base_url_envs: &["ANYSCALE_BASE_URL"],
        mode: Mode::JsonSchema,
        key_required: true,
        model: Some("mistralai/Mixtral-8x7B-Instruct-v0.1"),
    },
    Info {
        preset: Preset::Together,
        name: "together",
        base_url: "https://api.together.xyz/v1",
        api: Api::ChatCompletions,
        key_envs: &["TOGETHER_API_KEY"],
        base_url_envs: &["TOGETHER_BASE_URL"],
        mode: Mode::JsonSchema,
        key_required: true,
        model: Some("mistralai/Mixtral-8x7B-Instruct-v0.1"),
    },
    Info {
        preset: Preset::Groq,
        name: "groq",
        base_url: "https://api.groq.com/openai/v1",
        api: Api::ChatCompletions,
        key_envs: &["GROQ_API_KEY"],
        base_url_envs: &["GROQ_BASE_URL"],
        mode: Mode::Tools,
        key_required: true,
        model: Some("llama-3.1-8b-instant"),
    },
    Info {
        preset: Preset::Fireworks,
        name: "fireworks",
        base_url: "https://api.fireworks.ai/inference/v1",
        api: Api::ChatCompletions,
        key_envs: &["FIREWORKS_API_KEY"],
        base_url_envs: &["FIREWORKS_BASE_URL"],
        mode: Mode::JsonSchema,
        key_required: true,
        model: Some("accounts/fireworks/models/llama-v3p1-8b-instruct"),
    },
    Info {
        preset: Preset::Mistral,
        name: "mistral",
        base_url: "https://api.mistral.ai/v1",
        api: Api::ChatCompletions,
        key_envs: &["MISTRAL_API_KEY"],
        base_url_envs: &["MISTRAL_BASE_URL"],
        mode: Mode::Tools,
        key_required: true,
        model: Some("mistral-small-latest"),
    },
    Info {
        preset: Preset::DeepSeek,
        name: "deepseek",
        base_url: "https://api.deepseek.com/v1",
        api: Api::ChatCompletions,
        key_envs: &["DEEPSEEK_API_KEY"],
        base_url_envs: &["DEEPSEEK_BASE_URL"],
        mode: Mode::Tools,
        key_required: true,
        model: Some("deepseek-chat"),
    },
    Info {
        preset: Preset::OpenRouter,
        name: "openrouter",
        base_url: "https://openrouter.ai/api/v1",
        api: Api::ChatCompletions,
        key_envs: &["OPENROUTER_API_KEY"],
        base_url_envs: &["OPENROUTER_BASE_URL"],
        mode: Mode::Tools,
        key_required: true,
        model: Some("openai/gpt-4o-mini"),
    },
    Info {
        preset: Preset::Ollama,
        name: "ollama",
        base_url: "http://localhost:11434/v1",
        api: Api::ChatCompletions,
        key_envs: &["OLLAMA_API_KEY"],
        base_url_envs: &["OLLAMA_BASE_URL"],
        mode: Mode::StructuredOutputs,
        key_required: false,
        model: None,
    },
    Info {
        preset: Preset::Vllm,
        name: "vllm",
        base_url: "http://localhost:8000/v1",
        api: Api::ChatCompletions,
        key_envs: &["VLLM_API_KEY"],
        base_url_envs: &["VLLM_BASE_URL"],
        mode: Mode::StructuredOutputs,
        key_required: false,
        model: None,
    },
    Info {
        preset: Preset::LlamaCpp,
        name: "llamacpp",
        base_url: "http://localhost:8080/v1",
        api: Api::ChatCompletions,
        key_envs: &["LLAMACPP_API_KEY"],
        base_url_envs: &["LLAMACPP_BASE_URL"],
        mode: Mode::JsonSchema,
        key_required: false,
        model: Some("default"),
    },
    Info {
        preset: Preset::LmStudio,
        name: "lmstudio",
        base_url: "http://localhost:1234/v1",
        api: Api::ChatCompletions,
        key_envs: &["LMSTUDIO_API_KEY"],
        base_url_envs: &["LMSTUDIO_BASE_URL"],
        mode: Mode::StructuredOutputs,
        key_required: false,
        model: None,
    },
    Info {
        preset: Preset::Anthropic,
        name: "anthropic",
        api: Api::Anthropic,
        base_url: "https://api.anthropic.com",
        key_envs: &["ANTHROPIC_API_KEY"],
        base_url_envs: &["ANTHROPIC_BASE_URL"],
        mode: Mode::Tools,
        key_required: true,
        model: Some("claude-haiku-4-5"),
    },
    Info {
        preset: Preset::Gemini,
        name: "gemini",
        api: Api::Gemini,
        base_url: "https://generativelanguage.googleapis.com",
        // The official SDK's order.
        key_envs: &["GOOGLE_API_KEY", "GEMINI_API_KEY"],
        base_url_envs: &["GOOGLE_GEMINI_BASE_URL", "GEMINI_BASE_URL"],
        mode: Mode::StructuredOutputs,
        key_required: true,
        model: Some("gemini-2.5-flash"),
    },
    Info {
        preset: Preset::OpenAiResponses,
        name: "openai-responses",
        api: Api::Responses,
        base_url: "https://api.openai.com/v1",
        key_envs: &["OPENAI_API_KEY"],
        base_url_envs: &["OPENAI_BASE_URL"],
        mode: Mode::StructuredOutputs,
        key_required: true,
        model: Some("gpt-4o-mini"),
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

    /// The API the provider speaks.
    pub fn api(self) -> Api {
        self.info().api
    }

    /// The service an API belongs to: OpenAI for chat completions and Responses.
    pub fn for_api(api: Api) -> Preset {
        match api {
            Api::ChatCompletions => Preset::OpenAi,
            Api::Responses => Preset::OpenAiResponses,
            Api::Anthropic => Preset::Anthropic,
            Api::Gemini => Preset::Gemini,
        }
    }

    /// The API's base URL (ending in `/v1` for OpenAI-style APIs; Anthropic's and Gemini's are
    /// the bare host, as their SDKs take them).
    pub fn base_url(self) -> &'static str {
        self.info().base_url
    }

    /// The environment variable that holds the key (the first one looked at).
    pub fn api_key_env(self) -> &'static str {
        self.info().key_envs[0]
    }

    /// Every environment variable that may hold the key, in the order they are looked at
    /// (Gemini: `GOOGLE_API_KEY`, then `GEMINI_API_KEY`, as the official SDK reads them).
    pub fn api_key_envs(self) -> &'static [&'static str] {
        self.info().key_envs
    }

    /// The environment variable that overrides the base URL (`ANYSCALE_BASE_URL`,
    /// `ANTHROPIC_BASE_URL`, ...).
    pub fn base_url_env(self) -> &'static str {
        self.info().base_url_envs[0]
    }

    /// Every environment variable that may override the base URL, in order.
    pub fn base_url_envs(self) -> &'static [&'static str] {
        self.info().base_url_envs
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
    /// (`together/mistralai/Mixtral-8x7B-Instruct-v0.1`). `google/...` means Gemini.
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
        let wanted = match wanted.as_str() {
            "google" => "gemini".to_owned(),
            "claude" => "anthropic".to_owned(),
            "responses" => "openairesponses".to_owned(),
            _ => wanted,
        };
        PRESETS.iter().find(|i| i.name.replace('-', "") == wanted).map(|i| i.preset).ok_or_else(|| {
            let names: Vec<_> = PRESETS.iter().map(|i| i.name).collect();
            format!("unknown provider `{s}` (known: {})", names.join(", "))
        })
    }
}
