//! Where paysync's variables are read from: under their own names (`PAYSYNC_WEBHOOK_URL`,
//! ...), or, under an environment of the project file (`--env`), **only** through that
//! environment's `credentials` mapping.
//!
//! The rule that keeps environments apart (SPEC §8): under an environment, a paysync
//! variable the environment does not map is not read at all, under any name. One CI job
//! may hold the test portal's webhook under `TEST_WEBHOOK_URL` and production's OAuth
//! pair under paysync's own names; `--env test` with `TEST_WEBHOOK_URL` empty must find
//! no credentials, never production's. An environment that wants paysync's own name maps
//! it explicitly (`PAYSYNC_WEBHOOK_URL: PAYSYNC_WEBHOOK_URL`).
//!
//! Messages name the variable actually read ([`Variables::shown`]): `TEST_WEBHOOK_URL`,
//! never `PAYSYNC_WEBHOOK_URL`, under `--env test`. This module reads the process
//! environment and nothing else; it never shows a value.

use std::collections::BTreeMap;
use std::sync::Arc;

/// Where paysync's variables are read from. Cheap to clone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Variables {
    /// `None`: no environment, each variable under its own name.
    environment: Option<Arc<Mapping>>,
}

#[derive(Debug, PartialEq, Eq)]
struct Mapping {
    name: String,
    /// paysync's variable → the variable holding it in this environment.
    names: BTreeMap<String, String>,
}

/// Why a variable could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var} is not valid UTF-8")]
pub struct NotUnicode {
    /// The variable read (as [`Variables::shown`] names it).
    pub var: String,
}

impl Variables {
    /// No environment: every variable under its own name.
    pub fn own() -> Variables {
        Variables::default()
    }

    /// The environment `name`, reading only what `names` maps (paysync's variable → the
    /// variable holding it).
    pub fn of_environment(name: &str, names: &BTreeMap<String, String>) -> Variables {
        Variables {
            environment: Some(Arc::new(Mapping {
                name: name.to_owned(),
                names: names.clone(),
            })),
        }
    }

    /// The environment whose mapping is used, if any.
    pub fn environment(&self) -> Option<&str> {
        self.environment.as_deref().map(|m| m.name.as_str())
    }

    /// The variable read for paysync's `var`: `var` itself without an environment, the
    /// mapped one under an environment, `None` when the environment does not map it
    /// (then it is not read at all).
    pub fn name<'a>(&'a self, var: &'a str) -> Option<&'a str> {
        match &self.environment {
            None => Some(var),
            Some(mapping) => mapping.names.get(var).map(String::as_str),
        }
    }

    /// How a message names paysync's `var`: the variable read (`TEST_WEBHOOK_URL`), or,
    /// when the environment does not map it, what to add to the project file.
    pub fn shown(&self, var: &str) -> String {
        match (&self.environment, self.name(var)) {
            (_, Some(name)) => name.to_owned(),
            (Some(mapping), None) => format!(
                "{var} (not mapped by environment {}: add it to its `credentials` in the project \
                 file)",
                mapping.name
            ),
            (None, None) => var.to_owned(),
        }
    }

    /// The value of paysync's `var`, read from [`Variables::name`]; unset, empty (or only
    /// blanks) and unmapped are all `None`: CI systems turn a missing secret into an
    /// empty variable.
    pub fn read(&self, var: &str) -> Result<Option<String>, NotUnicode> {
        self.read_with(var, |name| std::env::var(name))
    }

    /// [`Variables::read`] over any lookup of the process environment (tests).
    pub fn read_with(
        &self,
        var: &str,
        lookup: impl Fn(&str) -> Result<String, std::env::VarError>,
    ) -> Result<Option<String>, NotUnicode> {
        let Some(name) = self.name(var) else {
            return Ok(None);
        };
        match lookup(name) {
            Ok(value) if value.trim().is_empty() => Ok(None),
            Ok(value) => Ok(Some(value)),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(NotUnicode {
                var: name.to_owned(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Result<String, std::env::VarError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| {
            vars.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .ok_or(std::env::VarError::NotPresent)
        }
    }

    #[test]
    fn an_environment_reads_only_what_it_maps() {
        let env = lookup(&[
            ("PAYSYNC_WEBHOOK_URL", "prod"),
            ("PAYSYNC_PORTAL_URL", "prod"),
            ("TEST_WEBHOOK_URL", ""),
        ]);
        let names = BTreeMap::from([(
            "PAYSYNC_WEBHOOK_URL".to_owned(),
            "TEST_WEBHOOK_URL".to_owned(),
        )]);
        let test = Variables::of_environment("test", &names);
        // Mapped and empty: not set; never paysync's own name instead.
        assert_eq!(test.read_with("PAYSYNC_WEBHOOK_URL", &env), Ok(None));
        // Not mapped: not read at all.
        assert_eq!(test.read_with("PAYSYNC_PORTAL_URL", &env), Ok(None));
        assert_eq!(test.shown("PAYSYNC_WEBHOOK_URL"), "TEST_WEBHOOK_URL");
        assert!(
            test.shown("PAYSYNC_PORTAL_URL")
                .starts_with("PAYSYNC_PORTAL_URL (not mapped by environment test")
        );
        let own = Variables::own();
        assert_eq!(
            own.read_with("PAYSYNC_PORTAL_URL", &env),
            Ok(Some("prod".to_owned()))
        );
        assert_eq!(own.shown("PAYSYNC_PORTAL_URL"), "PAYSYNC_PORTAL_URL");
        // Mapped explicitly to paysync's own name: read there.
        let names = BTreeMap::from([(
            "PAYSYNC_WEBHOOK_URL".to_owned(),
            "PAYSYNC_WEBHOOK_URL".to_owned(),
        )]);
        let explicit = Variables::of_environment("prod", &names);
        assert_eq!(
            explicit.read_with("PAYSYNC_WEBHOOK_URL", &env),
            Ok(Some("prod".to_owned()))
        );
    }
}
