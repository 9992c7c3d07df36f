//! Emulator seeds built for particular tests.

use paysync_emulator::{PaySystemSeed, Seed};

/// The demo portal plus `n` AcmePay pay systems with IDs 100, 101, ….
pub fn many_pay_systems(n: u64) -> Seed {
    let mut seed = Seed::demo();
    let template = seed
        .pay_systems
        .iter()
        .find(|p| p.id == 11)
        .expect("demo has pay system 11")
        .clone();
    for id in 100..100 + n {
        seed.pay_systems.push(PaySystemSeed {
            id,
            name: format!("AcmePay {id}"),
            xml_id: Some(format!("acme_{id}")),
            ..template.clone()
        });
    }
    seed
}

/// A world on [`many_pay_systems`]`(n)` whose `m/all.yaml` declares each of the `n`
/// pay systems × payer type 1 with `PS_WORK_MODE_IFRAME` = `mode`: `n / 50` batches
/// and one more for the rest.
pub fn many_targets(n: u64, mode: &str) -> crate::support::World {
    let w = crate::support::World::with_seed(many_pay_systems(n));
    declare_many(&w, n, mode);
    w
}

/// Rewrites the `m/all.yaml` of [`many_targets`] with `mode`.
pub fn declare_many(w: &crate::support::World, n: u64, mode: &str) {
    let docs: Vec<String> = (100..100 + n)
        .map(|ps| crate::support::manifest(ps, 1, &[("PS_WORK_MODE_IFRAME", mode)]))
        .collect();
    w.write("m/all.yaml", &docs.join("---\n"));
}

/// The demo portal with a given webhook code (for canary tests).
pub fn with_webhook_code(code: &str) -> Seed {
    let mut seed = Seed::demo();
    seed.webhook.secret = code.to_owned();
    seed
}

/// Three settings in two targets (`m/a.yaml`, `m/b.yaml`), against a portal whose
/// webhook code is `code`.
pub fn two_targets(code: &str) -> crate::support::World {
    let w = crate::support::World::with_seed(with_webhook_code(code));
    w.write(
        "m/a.yaml",
        &crate::support::manifest(
            11,
            1,
            &[
                ("PS_WORK_MODE_IFRAME", "REGULAR"),
                ("REST_SERVICE_ID_IFRAME", "00412"),
            ],
        ),
    );
    w.write(
        "m/b.yaml",
        &crate::support::manifest(12, 0, &[("PS_WORK_MODE_IFRAME", "TEST")]),
    );
    w
}
