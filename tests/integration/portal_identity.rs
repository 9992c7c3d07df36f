//! Which portal is written to: a redirect to another origin is never followed with
//! credentials or settings, and `paysync state move-portal` re-points the state (issue
//! 7.4, 7.5); the same portal written differently is not foreign; a saved plan made for
//! another portal is refused before anything is sent (issue 18 §2).

use std::io::Read;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use paysync_emulator::{EmulatorHandle, Fault, Seed};

use crate::support::{World, manifest};

/// A listener on 127.0.0.1 that counts every byte anyone sends it.
fn byte_counter() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let seen = Arc::clone(&seen);
            std::thread::spawn(move || {
                let mut stream = stream;
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    seen.fetch_add(n, Ordering::SeqCst);
                }
            });
        }
    });
    (address, count)
}

/// Regression (issue 7.4): a 302 or 307 to another port or host used to be followed,
/// re-sending the settings (and, with OAuth, the token) there.
#[test]
fn a_redirect_to_another_address_is_not_followed_and_move_portal_resumes() {
    let w = World::applied();
    let state = w.read("paysync.state.json");
    w.set_mode("TEST");

    // 307 to a listener that counts bytes: nothing reaches it.
    let (counter, received) = byte_counter();
    w.portal.inject(Fault::redirect(307, &counter).times(1));
    let out = w.run(&["apply", "--auto-approve", "m.yaml"]);
    out.expect_code(1);
    assert!(
        out.stderr
            .contains(&format!("a redirect to another address, {counter}")),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains(&format!("paysync state move-portal {counter}")),
        "{}",
        out.stderr
    );
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        received.load(Ordering::SeqCst),
        0,
        "bytes reached the other listener"
    );
    assert_eq!(w.read("paysync.state.json"), state, "nothing recorded");

    // 302 to another portal: it receives nothing either.
    let new = EmulatorHandle::start(Seed::demo()).unwrap();
    w.portal.inject(Fault::moved(&new.base_url()));
    let out = w.run(&["apply", "--auto-approve", "m.yaml"]);
    out.expect_code(1);
    assert!(out.stderr.contains(&new.base_url()), "{}", out.stderr);
    assert!(new.requests().is_empty(), "{:?}", new.requests());
    assert_eq!(w.read("paysync.state.json"), state, "nothing recorded");
    assert!(!out.stderr.contains("demo-webhook-code"), "{}", out.stderr);

    // The user points the credentials at the new address: the state is refused as
    // foreign, with the way out named.
    let at_new = |args: &[&str]| w.cmd().portal(&new).args(args).run();
    let out = at_new(&["apply", "--auto-approve", "m.yaml"]);
    out.expect_code(1);
    assert!(
        out.stderr.contains(&format!(
            "run `paysync state move-portal {}`",
            new.base_url()
        )),
        "{}",
        out.stderr
    );
    assert!(new.requests().is_empty());

    // Credentials and the requested address must agree.
    let out = at_new(&["state", "move-portal", &counter]);
    out.expect_code(1);
    assert!(out.stderr.contains("point at"), "{}", out.stderr);

    let out = at_new(&["state", "move-portal", &new.base_url()]);
    out.expect_code(0);
    assert!(
        out.stdout.contains("Moved the state file"),
        "{}",
        out.stdout
    );
    let moved: serde_json::Value = serde_json::from_str(&w.read("paysync.state.json")).unwrap();
    let before: serde_json::Value = serde_json::from_str(&state).unwrap();
    assert_eq!(moved["portal"], new.base_url());
    assert_eq!(
        moved["serial"].as_u64().unwrap(),
        before["serial"].as_u64().unwrap() + 1
    );
    // Only a read was sent to check the portal answers.
    assert!(new.requests().iter().all(|r| r.method != "batch"));
    // Again: nothing to do.
    at_new(&["state", "move-portal", &new.base_url()]).expect_code(0);

    // The next apply runs against the new portal.
    at_new(&["apply", "--auto-approve", "m.yaml"]).expect_code(0);
    assert_eq!(
        new.setting(11, 1, "PS_WORK_MODE_IFRAME")
            .and_then(|(_, v)| v)
            .as_deref(),
        Some("TEST")
    );
}

/// Portal identity compares scheme, lower-cased host and effective port.
#[test]
fn the_same_portal_written_differently_is_not_foreign() {
    let w = World::applied();
    let text = w.read("paysync.state.json");
    let port = w.portal.addr().port();
    let written = text.replace(
        &format!("\"http://127.0.0.1:{port}\""),
        &format!("\"HTTP://127.0.0.1:{port}/\""),
    );
    assert_ne!(written, text);
    std::fs::write(w.path("paysync.state.json"), written).unwrap();
    w.run(&["plan", "--refresh", "m.yaml"]).expect_code(0);
}

/// `state move-portal` refuses an address it would not send credentials to.
#[test]
fn move_portal_needs_a_state_file_and_a_safe_address() {
    let w = World::new();
    let out = w.run(&["state", "move-portal", &w.portal.base_url()]);
    out.expect_code(1);
    assert!(
        out.stderr.contains("there is no state file"),
        "{}",
        out.stderr
    );
    let out = w.run(&["state", "move-portal", "http://portal.example.com"]);
    out.expect_code(1);
    assert!(out.stderr.contains("must use https"), "{}", out.stderr);
    assert!(w.requests().is_empty());
}

#[test]
fn a_saved_plan_for_another_portal_is_refused_before_anything_is_sent() {
    let w = World::new();
    w.write(
        "m/acme.yaml",
        &manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "TEST")]),
    );
    // Planned against this portal with --refresh, and no state yet.
    w.run(&["plan", "--refresh", "--out", "p.json", "m"])
        .expect_code(0);
    let other = EmulatorHandle::start(Seed::demo()).unwrap();
    let out = w
        .cmd()
        .env("PAYSYNC_WEBHOOK_URL", other.webhook_url())
        .args(["apply", "--plan", "p.json"])
        .run();
    out.expect_code(1);
    assert!(
        out.stderr.contains(&format!(
            "saved plan p.json was made for the portal {}, but the credentials \
             (PAYSYNC_WEBHOOK_URL) point at {}",
            w.portal.base_url(),
            other.base_url()
        )),
        "{}",
        out.stderr
    );
    assert!(
        other.requests().is_empty(),
        "a request reached the other portal"
    );
    assert!(!w.path("paysync.state.json").exists());
    // Against its own portal it applies.
    w.run(&["apply", "--plan", "p.json"]).expect_code(0);
}
