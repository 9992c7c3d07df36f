//! The requests paysync sends to an S3-compatible store: get, conditional put, delete and
//! list of objects in one bucket, signed by `rusty-s3` (SigV4 presigned requests, the
//! conditional headers among the signed ones) and sent through paysync's own client
//! ([`crate::state::remote`]: no redirects, bounded bodies, no address in any message).
//!
//! Configuration, from variables read through the environment's mapping:
//! `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, optional `AWS_SESSION_TOKEN`,
//! `AWS_REGION` (or `AWS_DEFAULT_REGION`; default `us-east-1`), and `AWS_ENDPOINT_URL_S3`
//! or `AWS_ENDPOINT_URL` for a store other than AWS (then path-style addressing).

use std::time::Duration;

use reqwest::{Method, StatusCode, Url};
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};

use crate::state::error::StateError;
use crate::state::location::StateLocation;
use crate::state::remote::{self, read_body, transport, unexpected, variable};
use crate::variables::Variables;

pub const ENV_ACCESS_KEY_ID: &str = "AWS_ACCESS_KEY_ID";
pub const ENV_SECRET_ACCESS_KEY: &str = "AWS_SECRET_ACCESS_KEY";
pub const ENV_SESSION_TOKEN: &str = "AWS_SESSION_TOKEN";
pub const ENV_REGION: &str = "AWS_REGION";
pub const ENV_DEFAULT_REGION: &str = "AWS_DEFAULT_REGION";
pub const ENV_ENDPOINT_URL_S3: &str = "AWS_ENDPOINT_URL_S3";
pub const ENV_ENDPOINT_URL: &str = "AWS_ENDPOINT_URL";

/// The most pages a listing reads (1,000 keys each): a store that keeps sending pages
/// cannot keep paysync listing forever.
const MAX_LIST_PAGES: usize = 10_000;

/// How long a signed request stays valid.
const SIGNED_FOR: Duration = Duration::from_secs(15 * 60);

/// The objects of one bucket, as one credential set reaches them.
pub struct Store {
    state: StateLocation,
    bucket: Bucket,
    credentials: Credentials,
    client: reqwest::Client,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the credentials.
        write!(f, "Store({})", self.state)
    }
}

/// An object read.
pub struct Object {
    pub body: Vec<u8>,
    pub etag: String,
    /// How long ago it was last written, by the store's own clock (its `Date` minus the
    /// object's `Last-Modified`), when the store says both.
    pub age: Option<u64>,
}

/// The condition of a write.
#[derive(Debug, Clone, Copy)]
pub enum Condition<'a> {
    /// Only if there is no such object (`If-None-Match: *`).
    Create,
    /// Only over the object with this ETag (`If-Match`).
    Over(&'a str),
}

/// What a conditional write did.
#[derive(Debug, PartialEq, Eq)]
pub enum Written {
    /// Written; the new object's ETag.
    Done(String),
    /// The condition did not hold (412, or 409 for a concurrent conditional write, or
    /// 404 for `If-Match` on an object that is gone): nothing was written.
    Refused,
}

impl Store {
    /// The store of `bucket`, configured from `vars`; the credentials are registered
    /// with the scrubber.
    pub fn new(vars: &Variables, state: &StateLocation, bucket: &str) -> Result<Store, StateError> {
        let config = |message: String| StateError::StoreConfig {
            state: state.clone(),
            message,
        };
        let key_id = variable(vars, state, ENV_ACCESS_KEY_ID, true)?;
        let secret = variable(vars, state, ENV_SECRET_ACCESS_KEY, true)?;
        let token = variable(vars, state, ENV_SESSION_TOKEN, true)?;
        let (Some(key_id), Some(secret)) = (key_id, secret) else {
            return Err(config(format!(
                "no credentials: set {} and {} (and {} for temporary credentials)",
                vars.shown(ENV_ACCESS_KEY_ID),
                vars.shown(ENV_SECRET_ACCESS_KEY),
                vars.shown(ENV_SESSION_TOKEN)
            )));
        };
        let region = variable(vars, state, ENV_REGION, false)?
            .or(variable(vars, state, ENV_DEFAULT_REGION, false)?)
            .unwrap_or_else(|| "us-east-1".to_owned());
        let endpoint = match variable(vars, state, ENV_ENDPOINT_URL_S3, false)? {
            Some(url) => Some((url, ENV_ENDPOINT_URL_S3)),
            None => variable(vars, state, ENV_ENDPOINT_URL, false)?.map(|u| (u, ENV_ENDPOINT_URL)),
        };
        let (endpoint, style) = match endpoint {
            Some((text, var)) => {
                let url = crate::net::service_address(&text)
                    .map_err(|why| config(format!("{} {why}", vars.shown(var))))?;
                (url, UrlStyle::Path)
            }
            None => {
                let url = Url::parse(&format!("https://s3.{region}.amazonaws.com"))
                    .map_err(|_| config(format!("{} is not a region", vars.shown(ENV_REGION))))?;
                (url, UrlStyle::VirtualHost)
            }
        };
        let bucket = Bucket::new(endpoint, style, bucket.to_owned(), region)
            .map_err(|e| config(format!("cannot address the bucket: {e}")))?;
        let credentials = match token {
            Some(token) => Credentials::new_with_token(key_id, secret, token),
            None => Credentials::new(key_id, secret),
        };
        Ok(Store {
            state: state.clone(),
            bucket,
            credentials,
            client: remote::http_client(state)?,
        })
    }

    /// The state this store keeps.
    pub fn location(&self) -> &StateLocation {
        &self.state
    }

    fn fail(&self, message: String) -> StateError {
        StateError::Store {
            state: self.state.clone(),
            message,
        }
    }

    async fn send(
        &self,
        method: Method,
        url: Url,
        headers: &[(&'static str, String)],
        body: Option<Vec<u8>>,
        doing: &str,
    ) -> Result<reqwest::Response, StateError> {
        let mut request = self.client.request(method, url);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_LENGTH, body.len())
                .body(body);
        }
        request
            .send()
            .await
            .map_err(|e| transport(&self.state, doing, e))
    }

    /// Reads `key` (at most `limit` bytes); `None` when there is no such object.
    pub async fn get(
        &self,
        key: &str,
        limit: u64,
        doing: &str,
    ) -> Result<Option<Object>, StateError> {
        let action = self.bucket.get_object(Some(&self.credentials), key);
        let url = action.sign(SIGNED_FOR);
        let response = self.send(Method::GET, url, &[], None, doing).await?;
        match response.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => return Ok(None),
            _ => return Err(unexpected(&self.state, doing, response).await),
        }
        let headers = response.headers().clone();
        let etag = etag(&headers)
            .ok_or_else(|| self.fail(format!("cannot {doing}: the store's answer has no ETag")))?;
        let age = match (
            remote::header_time(&headers, "date"),
            remote::header_time(&headers, "last-modified"),
        ) {
            (Some(now), Some(modified)) => Some(now.saturating_sub(modified)),
            _ => None,
        };
        let body = read_body(&self.state, doing, response, limit).await?;
        Ok(Some(Object { body, etag, age }))
    }

    /// Writes `body` to `key` if `condition` holds.
    pub async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        condition: Condition<'_>,
        doing: &str,
    ) -> Result<Written, StateError> {
        let (name, value) = match condition {
            Condition::Create => ("if-none-match", "*".to_owned()),
            Condition::Over(etag) => ("if-match", etag.to_owned()),
        };
        let mut action = self.bucket.put_object(Some(&self.credentials), key);
        action.headers_mut().insert(name, value.clone());
        let url = action.sign(SIGNED_FOR);
        let response = self
            .send(Method::PUT, url, &[(name, value)], Some(body), doing)
            .await?;
        match response.status() {
            s if s.is_success() => etag(response.headers()).map(Written::Done).ok_or_else(|| {
                self.fail(format!("cannot {doing}: the store's answer has no ETag"))
            }),
            StatusCode::PRECONDITION_FAILED | StatusCode::CONFLICT => Ok(Written::Refused),
            StatusCode::NOT_FOUND if matches!(condition, Condition::Over(_)) => {
                Ok(Written::Refused)
            }
            _ => Err(unexpected(&self.state, doing, response).await),
        }
    }

    /// Removes `key` (only while its ETag is `if_match`, when given). `Refused` when it
    /// changed meanwhile; a missing object counts as removed.
    pub async fn delete(
        &self,
        key: &str,
        if_match: Option<&str>,
        doing: &str,
    ) -> Result<Written, StateError> {
        let mut action = self.bucket.delete_object(Some(&self.credentials), key);
        let mut headers = Vec::new();
        if let Some(etag) = if_match {
            action.headers_mut().insert("if-match", etag.to_owned());
            headers.push(("if-match", etag.to_owned()));
        }
        let url = action.sign(SIGNED_FOR);
        let response = self
            .send(Method::DELETE, url, &headers, None, doing)
            .await?;
        match response.status() {
            s if s.is_success() || s == StatusCode::NOT_FOUND => Ok(Written::Done(String::new())),
            StatusCode::PRECONDITION_FAILED | StatusCode::CONFLICT => Ok(Written::Refused),
            _ => Err(unexpected(&self.state, doing, response).await),
        }
    }

    /// The keys under `prefix`, in the store's (lexical) order, every page.
    pub async fn list(&self, prefix: &str, doing: &str) -> Result<Vec<String>, StateError> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_LIST_PAGES {
            let mut action = self.bucket.list_objects_v2(Some(&self.credentials));
            action.with_prefix(prefix);
            if let Some(t) = &token {
                action.with_continuation_token(t.clone());
            }
            let url = action.sign(SIGNED_FOR);
            let response = self.send(Method::GET, url, &[], None, doing).await?;
            if !response.status().is_success() {
                return Err(unexpected(&self.state, doing, response).await);
            }
            let body = read_body(&self.state, doing, response, 16 << 20).await?;
            let text = String::from_utf8_lossy(&body);
            let page = rusty_s3::actions::ListObjectsV2::parse_response(&text).map_err(|_| {
                self.fail(format!(
                    "cannot {doing}: the store's listing is not S3's XML"
                ))
            })?;
            keys.extend(page.contents.into_iter().map(|c| c.key));
            match page.next_continuation_token {
                Some(next) if Some(&next) != token.as_ref() => token = Some(next),
                _ => return Ok(keys),
            }
        }
        Err(self.fail(format!(
            "cannot {doing}: the store listed more than {MAX_LIST_PAGES} pages of objects"
        )))
    }
}

fn etag(headers: &reqwest::header::HeaderMap) -> Option<String> {
    let value = headers.get(reqwest::header::ETAG)?.to_str().ok()?;
    let value = value.trim();
    (!value.is_empty() && value.len() <= 200).then(|| value.to_owned())
}
