//! The `paysync-emulator` binary: announces the webhook URL on stdout and serves it;
//! `--rate` and `--operating-limit`/`--operating-cost` turn the limits on.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::json;

#[tokio::test]
async fn the_binary_prints_an_export_line_and_serves() {
    let seed = concat!(env!("CARGO_MANIFEST_DIR"), "/seeds/demo.yaml");
    let mut child = Command::new(env!("CARGO_BIN_EXE_paysync-emulator"))
        .args(["--seed", seed, "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts");
    let mut line = String::new();
    let read = child
        .stdout
        .take()
        .map(|out| BufReader::new(out).read_line(&mut line));
    let url = line
        .trim()
        .strip_prefix("export PAYSYNC_WEBHOOK_URL=")
        .map(str::to_owned);
    let response = match &url {
        Some(url) => reqwest::Client::new()
            .post(format!("{url}scope"))
            .json(&json!({}))
            .send()
            .await
            .ok(),
        None => None,
    };
    let status = response.map(|r| r.status().as_u16());
    // Stop the child we started before asserting, so a failure never leaks a process.
    let _ = child.kill();
    let _ = child.wait();
    assert!(matches!(read, Some(Ok(_))), "{read:?}");
    let url = url.unwrap_or_else(|| panic!("unexpected first line: {line:?}"));
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/rest/1/demo-webhook-code/"),
        "{url}"
    );
    assert_eq!(status, Some(200));
}

#[test]
fn a_bad_seed_exits_with_code_2() {
    let status = Command::new(env!("CARGO_BIN_EXE_paysync-emulator"))
        .args([
            "--seed",
            "/nonexistent/seed.yaml",
            "--listen",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("binary runs");
    assert_eq!(status.code(), Some(2));
}

#[tokio::test]
async fn limit_flags_turn_the_bucket_and_operating_time_on() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_paysync-emulator"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--rate",
            "4/0",
            "--operating-limit",
            "10",
            "--operating-cost",
            "20",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts");
    let mut line = String::new();
    let read = child
        .stdout
        .take()
        .map(|out| BufReader::new(out).read_line(&mut line));
    let url = line
        .trim()
        .strip_prefix("export PAYSYNC_WEBHOOK_URL=")
        .map(str::to_owned);
    let mut seen = Vec::new();
    if let Some(url) = &url {
        let client = reqwest::Client::new();
        for _ in 0..5 {
            let response = client
                .post(format!("{url}scope"))
                .json(&json!({}))
                .send()
                .await;
            let Ok(response) = response else { break };
            let status = response.status().as_u16();
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            seen.push((status, body["time"]["operating"].clone()));
        }
    }
    // Stop the child we started before asserting, so a failure never leaks a process.
    let _ = child.kill();
    let _ = child.wait();
    assert!(matches!(read, Some(Ok(_))) && url.is_some(), "{line:?}");
    let statuses: Vec<u16> = seen.iter().map(|(s, _)| *s).collect();
    // 20 s is charged by the first call, which leaves the budget of 10 s spent; the
    // bucket (4, no drain) refuses the fifth request.
    assert_eq!(statuses, [200, 429, 429, 429, 503]);
    assert_eq!(seen[0].1, json!(20.0));
}

#[test]
fn a_bad_rate_is_a_usage_error() {
    let status = Command::new(env!("CARGO_BIN_EXE_paysync-emulator"))
        .args(["--rate", "fast", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("binary runs");
    assert_eq!(status.code(), Some(2));
}
