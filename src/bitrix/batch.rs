//! `batch`: up to 50 calls in one request (bitrix24-api.md §8), and the policy for the
//! sub-calls the portal refuses for its execution-time budget: they are sent again, alone,
//! once the budget allows.

use std::collections::BTreeSet;
use std::time::Duration;

use super::client::{Client, lock};
use super::envelope::{BatchEntry, BatchOutcome, parse_batch_result};
use super::error::{ClientError, human};
use super::request::{MAX_BATCH, METHOD_BATCH, Request, batch_request};
use super::stats::bump;
use super::transport::check_method;

/// The portal's execution-time budget is summed over a sliding 10-minute window
/// (bitrix24-api.md §9.2).
const OPERATING_WINDOW: Duration = Duration::from_secs(600);

impl Client {
    /// Runs up to [`MAX_BATCH`] calls in one `batch` request, in the order given, and
    /// reports each one's fate by key. With `halt`, the portal stops at the first failing
    /// sub-call and the rest are [`BatchEntry::NotRun`]. No commands, no request.
    ///
    /// The batch as a whole is retried like any call; a sub-call's error (including
    /// `OPERATION_TIME_LIMIT`) is that entry's result and is not retried here — the
    /// caller decides (apply reports it; a re-run sends it again). A sub-call refused
    /// with `OPERATION_TIME_LIMIT` does make the next request carrying its method pause
    /// first ([`super::operating`]).
    pub async fn batch(
        &self,
        commands: &[(String, Request)],
        halt: bool,
    ) -> Result<BatchOutcome, ClientError> {
        if commands.is_empty() {
            return Ok(BatchOutcome::default());
        }
        if commands.len() > MAX_BATCH {
            return Err(ClientError::BatchTooLarge {
                count: commands.len(),
            });
        }
        let mut keys = BTreeSet::new();
        for (key, request) in commands {
            if !keys.insert(key.as_str()) {
                return Err(ClientError::DuplicateBatchKey { key: key.clone() });
            }
            check_method(&request.method)?;
        }
        let methods: Vec<String> = std::iter::once(METHOD_BATCH.to_owned())
            .chain(commands.iter().map(|(_, r)| r.method.to_ascii_lowercase()))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut outcome = self.send_batch(commands, halt, &methods).await?;
        // Sub-calls the portal refused for its time budget (OPERATION_TIME_LIMIT inside
        // the batch) are sent again, alone, once the budget allows: `execute` pauses for
        // the method marked exhausted by `note_exhausted_sub_calls`. Re-sending is safe
        // because `settings.get` reads and `settings.update` is an idempotent upsert
        // (bitrix24-api.md §5.10). A batch reports no per-method `operating_reset_at`, so
        // the wait is the default one each round; the budget is a 10-minute sliding window
        // (§9.2), so rounds go on for at most that window plus one round.
        let started = self.clock.now();
        let give_up_after = OPERATING_WINDOW + self.retry.operating_default_wait;
        for attempt in 2.. {
            if self.clock.now().saturating_sub(started) > give_up_after
                || self.cancel.is_cancelled()
            {
                break;
            }
            let refused: Vec<(String, Request)> = commands
                .iter()
                .filter(|(key, _)| {
                    matches!(outcome.entries.get(key), Some(BatchEntry::Failed(e)) if e.code == "OPERATION_TIME_LIMIT")
                })
                .cloned()
                .collect();
            if refused.is_empty() {
                break;
            }
            tracing::warn!(
                commands = refused.len(),
                attempt,
                "re-sending batch commands the portal refused for its time budget"
            );
            let again = self.send_batch(&refused, halt, &methods).await?;
            outcome.entries.extend(again.entries);
        }
        Ok(outcome)
    }

    /// One batch request (with the call-level retry of `execute`) and its parsed outcome.
    async fn send_batch(
        &self,
        commands: &[(String, Request)],
        halt: bool,
        methods: &[String],
    ) -> Result<BatchOutcome, ClientError> {
        let (result, _) = self
            .execute(&batch_request(commands, halt), methods)
            .await?;
        let keys: Vec<String> = commands.iter().map(|(key, _)| key.clone()).collect();
        let outcome = parse_batch_result(&keys, &result).map_err(|e| ClientError::Decode {
            method: METHOD_BATCH.into(),
            detail: e.to_string(),
        })?;
        self.note_exhausted_sub_calls(commands, &outcome);
        Ok(outcome)
    }

    /// Remembers sub-calls refused with `OPERATION_TIME_LIMIT` inside a batch.
    fn note_exhausted_sub_calls(&self, commands: &[(String, Request)], outcome: &BatchOutcome) {
        let until = self.clock.unix_now() + self.retry.operating_default_wait.as_secs_f64();
        for (key, request) in commands {
            if let Some(BatchEntry::Failed(error)) = outcome.entries.get(key)
                && error.code == "OPERATION_TIME_LIMIT"
            {
                bump(&self.counters.operating_limited);
                lock(&self.operating).mark_exhausted(&request.method, until);
                tracing::warn!(
                    method = %request.method,
                    key = %key,
                    "{}: time budget used up inside the batch (OPERATION_TIME_LIMIT); the next \
                     request with it waits {} first",
                    request.method,
                    human(self.retry.operating_default_wait),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::bitrix::envelope::BatchEntry;
    use crate::bitrix::testserver::{FakeServer, Reply, scripted, secs, update, webhook_client};
    use crate::bitrix::{Credentials, RetryConfig};
    use crate::model::Target;

    #[tokio::test]
    async fn local_mistakes_fail_before_any_request() {
        let credentials = Credentials::from_webhook_url("http://127.0.0.1:1/rest/1/code/").unwrap();
        let client = Client::new(credentials)
            .unwrap()
            .with_retry(RetryConfig::none());
        let r = Request::settings_get(Target {
            pay_system: 1,
            person_type: 0,
        });
        let too_many: Vec<(String, Request)> = (0..=MAX_BATCH)
            .map(|i| (format!("k{i}"), r.clone()))
            .collect();
        assert!(matches!(
            client.batch(&too_many, false).await,
            Err(ClientError::BatchTooLarge { count: 51 })
        ));
        let duplicate = vec![("a".to_owned(), r.clone()), ("a".to_owned(), r.clone())];
        assert!(matches!(
            client.batch(&duplicate, false).await,
            Err(ClientError::DuplicateBatchKey { .. })
        ));
        let bad = vec![("a".to_owned(), Request::new("../x", json!({})))];
        assert!(matches!(
            client.batch(&bad, false).await,
            Err(ClientError::InvalidMethod { .. })
        ));
        assert!(client.batch(&[], true).await.unwrap().entries.is_empty());
        assert!(
            crate::live::read_settings(&client, &[])
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn a_batch_of_writes_is_resent_after_a_lost_answer() {
        let server = FakeServer::start(scripted(vec![
            Reply::hang_up(),
            Reply::result(json!({"result": {"a": true}})),
        ]))
        .await;
        let (client, _clock) = webhook_client(&server);
        let write = update(1, 0, "CODE", "v");
        let outcome = client
            .batch(&[("a".to_owned(), write)], false)
            .await
            .unwrap();
        assert_eq!(outcome.entries["a"], BatchEntry::Ok(json!(true)));
        let seen = server.seen();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].body, seen[1].body);
        assert!(seen[0].target.ends_with("/CANARYCODE123/batch"));
    }

    #[tokio::test]
    async fn a_sub_call_refused_for_time_is_sent_again_after_the_wait() {
        let server = FakeServer::start(scripted(vec![
            Reply::result(json!({
                "result": [],
                "result_error": {"a": {"error": "OPERATION_TIME_LIMIT", "error_description": ""}}
            })),
            Reply::result(json!({"result": {"a": {"X": {"TYPE": "VALUE", "VALUE": "1"}}}})),
        ]))
        .await;
        let (client, clock) = webhook_client(&server);
        let commands = vec![(
            "a".to_owned(),
            Request::settings_get(Target {
                pay_system: 1,
                person_type: 0,
            }),
        )];
        let outcome = client.batch(&commands, false).await.unwrap();
        assert!(matches!(outcome.entries["a"], BatchEntry::Ok(_)));
        // The re-send waited for the method's budget (the default wait, plus a second).
        assert_eq!(clock.sleeps(), vec![secs(61)]);
        assert_eq!(client.stats().operating_limited, 1);
        assert_eq!(client.stats().requests, 2);
    }
}
