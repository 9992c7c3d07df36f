//! `vault:MOUNT/PATH#FIELD`: a field of a KV version 2 secret in Vault or OpenBao.
//!
//! `GET $VAULT_ADDR/v1/MOUNT/data/PATH` with `X-Vault-Token: $VAULT_TOKEN` (and
//! `X-Vault-Namespace: $VAULT_NAMESPACE` when set), the field read from `data.data`. The
//! variables are read like credentials (under an environment, only through its mapping);
//! the token is a secret like the webhook code. One read per path per run; https except
//! to a loopback address; no redirect followed; the answer read within a bound. Every text
//! field of a secret read is registered with the scrubber.

use std::time::Duration;

use reqwest::StatusCode;

use super::command::blocking;
use crate::variables::Variables;

pub const ENV_ADDR: &str = "VAULT_ADDR";
pub const ENV_TOKEN: &str = "VAULT_TOKEN";
pub const ENV_NAMESPACE: &str = "VAULT_NAMESPACE";

/// The largest answer read, in bytes.
const MAX_ANSWER_BYTES: u64 = 1 << 20;

/// Why a `vault:` secret could not be read. Never carries a value or the token.
#[derive(Debug, Clone, thiserror::Error)]
#[error("secret vault:{reference}: {message}")]
pub struct VaultError {
    pub reference: String,
    pub message: String,
}

/// The fields of the KV v2 secret at `mount`/`path`.
pub(super) fn read(
    vars: &Variables,
    mount: &str,
    path: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, VaultError> {
    let fail = |message: String| VaultError {
        reference: format!("{mount}/{path}"),
        message,
    };
    let var = |name: &str| vars.read(name).map_err(|e| fail(e.to_string()));
    let (Some(addr), Some(token)) = (var(ENV_ADDR)?, var(ENV_TOKEN)?) else {
        return Err(fail(format!(
            "set {} and {}",
            vars.shown(ENV_ADDR),
            vars.shown(ENV_TOKEN)
        )));
    };
    crate::untrusted::remember_secret(&token);
    let namespace = var(ENV_NAMESPACE)?;
    let base = crate::net::service_address(&addr)
        .map_err(|why| fail(format!("{} {why}", vars.shown(ENV_ADDR))))?;
    let mut url = base.clone();
    {
        let mut segments = url
            .path_segments_mut()
            .map_err(|_| fail(format!("{} cannot take a path", vars.shown(ENV_ADDR))))?;
        segments.pop_if_empty().push("v1").push(mount).push("data");
        for part in path.split('/') {
            segments.push(part);
        }
    }
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(0)
        .build()
        .map_err(|e| fail(format!("cannot build an HTTP client: {}", e.without_url())))?;
    let answer = blocking(async {
        let mut request = client.get(url).header("X-Vault-Token", &token);
        if let Some(namespace) = &namespace {
            request = request.header("X-Vault-Namespace", namespace);
        }
        let response = request
            .send()
            .await
            .map_err(|e| format!("cannot reach {}: {}", vars.shown(ENV_ADDR), e.without_url()))?;
        let status = response.status();
        let body = crate::net::read_bounded(response, MAX_ANSWER_BYTES)
            .await
            .map_err(|_| {
                format!("the answer is larger than {MAX_ANSWER_BYTES} bytes or was cut")
            })?;
        Ok::<_, String>((status, body))
    })
    .map_err(|m| fail(crate::untrusted::scrub(&m).into_owned()))?;
    let (status, body) = answer;
    match status {
        StatusCode::OK => {}
        StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED => {
            return Err(fail(format!(
                "Vault answered {status}: the token in {} may not read this path (or has \
                 expired)",
                vars.shown(ENV_TOKEN)
            )));
        }
        StatusCode::NOT_FOUND => {
            return Err(fail(format!(
                "Vault answered {status}: no secret there (or a mount that is not KV version 2)"
            )));
        }
        other => return Err(fail(format!("Vault answered {other}"))),
    }
    let value: serde_json::Value =
        serde_json::from_slice(&body).map_err(|_| fail("Vault's answer is not JSON".to_owned()))?;
    let Some(serde_json::Value::Object(fields)) = value.get("data").and_then(|d| d.get("data"))
    else {
        return Err(fail(
            "Vault's answer has no `data.data` (is the mount KV version 2?)".to_owned(),
        ));
    };
    for field in fields.values() {
        if let serde_json::Value::String(s) = field {
            crate::untrusted::remember_secret(s);
        }
    }
    Ok(fields.clone())
}
