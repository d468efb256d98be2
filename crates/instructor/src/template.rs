//! Message templating: `{{ name }}` placeholders filled from the request's context with
//! minijinja. No HTML escaping (prompts are not HTML), no file or network access (the
//! environment has no loader), and a fuel limit so a template cannot loop for ever.

use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde_json::Value;

use crate::error::Error;
use crate::wire::Message;

const FUEL: u64 = 100_000;

/// Renders every message's text with `context`.
pub(crate) fn render(messages: &mut [Message], context: &Value) -> Result<(), Error> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    let ctx = minijinja::Value::from(minijinja::value::Serde(context));
    for (i, message) in messages.iter_mut().enumerate() {
        let Some(text) = message.content.as_mut() else { continue };
        if !text.contains("{{") && !text.contains("{%") {
            continue;
        }
        let rendered =
            env.render_str(text, &ctx).map_err(|e| Error::request(format!("message {i} does not render: {e}")))?;
        *text = rendered;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_without_escaping() {
        let mut m = vec![Message::user("Extract from: {{ text }}"), Message::system("plain <b>")];
        render(&mut m, &json!({"text": "\"Jason\" <is> 20 & more"})).expect("renders");
        assert_eq!(m[0].content.as_deref(), Some("Extract from: \"Jason\" <is> 20 & more"));
        assert_eq!(m[1].content.as_deref(), Some("plain <b>"));
    }

    #[test]
    fn undefined_and_runaway_templates_fail() {
        let mut m = vec![Message::user("{{ missing }}")];
        assert!(render(&mut m, &json!({})).is_err());
        let mut m =
            vec![Message::user("{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}")];
        assert!(render(&mut m, &json!({})).is_err());
        let mut m = vec![Message::user("{% include 'x' %}")];
        assert!(render(&mut m, &json!({})).is_err());
    }
}
