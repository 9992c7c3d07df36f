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

/// The demo portal with a given webhook code (for canary tests).
pub fn with_webhook_code(code: &str) -> Seed {
    let mut seed = Seed::demo();
    seed.webhook.secret = code.to_owned();
    seed
}
