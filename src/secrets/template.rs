//! How `import` writes the reference of a secret it finds (`--secret-ref-template`): a
//! reference of any source with placeholders — `{paySystem}`, `{personType}`, `{code}`
//! and, under `--env`, `{env}` — filled per setting, e.g.
//! `sops:secrets/{env}.enc.yaml#{paySystem}.{code}`. Every reference it makes is checked
//! by the one grammar before anything is written.

use std::path::Path;

use super::reference::SecretRef;

/// The template without `--secret-ref-template`: one environment variable per setting.
pub const DEFAULT_TEMPLATE: &str = "env:PAYSYNC_PS{paySystem}_PT{personType}_{code}";

/// A checked template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefTemplate {
    text: String,
    environment: Option<String>,
}

const PLACEHOLDERS: [&str; 4] = ["paySystem", "personType", "code", "env"];

impl RefTemplate {
    /// `text`, its placeholders known and `{env}` only with an environment; a sample
    /// reference it makes must be valid.
    pub fn new(text: &str, environment: Option<&str>) -> Result<RefTemplate, String> {
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            let close = rest[open..]
                .find('}')
                .ok_or_else(|| format!("{text:?}: a `{{` is not closed"))?;
            let name = &rest[open + 1..open + close];
            if !PLACEHOLDERS.contains(&name) {
                return Err(format!(
                    "{text:?}: unknown placeholder {{{name}}} (known: {{paySystem}}, \
                     {{personType}}, {{code}}, {{env}})"
                ));
            }
            if name == "env" && environment.is_none() {
                return Err(format!("{text:?}: {{env}} needs an environment (--env)"));
            }
            rest = &rest[open + close + 1..];
        }
        let template = RefTemplate {
            text: text.to_owned(),
            environment: environment.map(str::to_owned),
        };
        let sample = template.render(1, 1, "CODE");
        SecretRef::parse(&sample, Path::new("")).map_err(|e| format!("{text:?}: {e}"))?;
        Ok(template)
    }

    /// The reference for `code` of the target `pay_system`/`person_type`, as a manifest
    /// writes it.
    pub fn render(&self, pay_system: u64, person_type: u64, code: &str) -> String {
        self.text
            .replace("{paySystem}", &pay_system.to_string())
            .replace("{personType}", &person_type.to_string())
            .replace("{code}", code)
            .replace("{env}", self.environment.as_deref().unwrap_or_default())
    }
}

impl Default for RefTemplate {
    fn default() -> RefTemplate {
        RefTemplate {
            text: DEFAULT_TEMPLATE.to_owned(),
            environment: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_make_references_of_any_source_and_are_checked() {
        assert_eq!(
            RefTemplate::default().render(11, 1, "KEY"),
            "env:PAYSYNC_PS11_PT1_KEY"
        );
        let sops = RefTemplate::new(
            "sops:secrets/{env}.enc.yaml#{paySystem}.{code}",
            Some("prod"),
        )
        .unwrap();
        assert_eq!(
            sops.render(11, 1, "KEY"),
            "sops:secrets/prod.enc.yaml#11.KEY"
        );
        assert!(RefTemplate::new("sops:x.yaml#{env}", None).is_err());
        assert!(RefTemplate::new("env:{nope}", None).is_err());
        assert!(RefTemplate::new("plain-{code}", None).is_err());
    }
}
