//! The object planner's rules, table by table.

use super::*;
use crate::model::objects::{DesiredHandler, DesiredPaySystem};
use serde_json::json;

fn handler(code: &str, name: &str) -> DesiredHandler {
    let serde_json::Value::Object(settings) = json!({
        "CODES": {"KEY": {"NAME": "Key"}},
        "IFRAME_DATA": {"ACTION_URI": "https://pay.example"},
    }) else {
        unreachable!()
    };
    DesiredHandler {
        code: code.into(),
        origin: Origin::default(),
        name: name.into(),
        sort: None,
        settings,
        codes: Default::default(),
        delete: false,
    }
}

fn pay_system(xml_id: &str, registry: &str) -> DesiredPaySystem {
    DesiredPaySystem {
        xml_id: xml_id.into(),
        origin: Origin::default(),
        name: "Card".into(),
        handler: "acme".into(),
        person_type: PersonTypeRef::Id(1),
        registry_type: registry.into(),
        registry_at: Origin::default(),
        active: Some(true),
        new_window: None,
        description: None,
        logo: None,
        delete: false,
    }
}

fn desired(handlers: Vec<DesiredHandler>, pay_systems: Vec<DesiredPaySystem>) -> DesiredObjects {
    DesiredObjects {
        handlers: handlers.into_iter().map(|h| (h.code.clone(), h)).collect(),
        pay_systems: pay_systems
            .into_iter()
            .map(|p| (p.xml_id.clone(), p))
            .collect(),
    }
}

fn none(_: u64) -> usize {
    0
}

fn actions(plans: &[ObjectPlan]) -> Vec<(String, ObjectAction, Option<u64>)> {
    plans.iter().map(|p| (p.name(), p.action, p.id)).collect()
}

#[test]
fn offline_without_a_record_everything_is_created_with_every_field() {
    let plans = compute(
        &desired(
            vec![handler("acme", "Acme")],
            vec![pay_system("card", "ORDER")],
        ),
        &RecordedObjects::default(),
        None,
        &none,
        &|_| true,
    )
    .unwrap();
    assert_eq!(
        actions(&plans),
        [
            ("handler acme".into(), ObjectAction::Create, None),
            ("pay system xmlId:card".into(), ObjectAction::Create, None)
        ]
    );
    let fields: Vec<&str> = plans[1].changes.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "ACTIVE",
            "BX_REST_HANDLER",
            "ENTITY_REGISTRY_TYPE",
            "NAME",
            "PERSON_TYPE_ID"
        ]
    );
    assert!(
        plans[0]
            .changes
            .iter()
            .all(|c| c.before.is_none() && c.after.is_some())
    );
}

#[test]
fn connected_an_object_found_by_identity_but_not_recorded_is_adopted_never_created() {
    let wanted = desired(vec![handler("acme", "Acme")], vec![]);
    let mut live = LiveObjects::default();
    let mut fields = wanted.handlers["acme"].fields();
    fields.insert("NAME".into(), "Old name".into());
    live.handlers
        .insert("acme".into(), LiveObject { id: 7, fields });
    let plans = compute(
        &wanted,
        &RecordedObjects::default(),
        Some(&live),
        &none,
        &|_| true,
    )
    .unwrap();
    assert_eq!(
        actions(&plans),
        [("handler acme".into(), ObjectAction::Adopt, Some(7))]
    );
    assert_eq!(
        plans[0].changes,
        [FieldChange {
            field: "NAME".into(),
            before: Some("Old name".into()),
            after: Some("Acme".into())
        }]
    );
}

#[test]
fn connected_recorded_and_equal_is_no_change_and_a_portal_only_settings_key_is_removed() {
    let wanted = desired(vec![handler("acme", "Acme")], vec![]);
    let fields = wanted.handlers["acme"].fields();
    let mut recorded = RecordedObjects::default();
    recorded.handlers.insert(
        "acme".into(),
        RecordedObject {
            id: 7,
            fields: fields.clone(),
            manifest: None,
            deleted: false,
        },
    );
    let mut live = LiveObjects::default();
    live.handlers.insert(
        "acme".into(),
        LiveObject {
            id: 7,
            fields: fields.clone(),
        },
    );
    assert_eq!(
        compute(&wanted, &recorded, Some(&live), &none, &|_| true).unwrap(),
        []
    );
    let mut extra = fields;
    extra.insert("SETTINGS.CODES.OLD.NAME".into(), "Old".into());
    live.handlers.insert(
        "acme".into(),
        LiveObject {
            id: 7,
            fields: extra,
        },
    );
    let plans = compute(&wanted, &recorded, Some(&live), &none, &|_| true).unwrap();
    assert_eq!(
        actions(&plans),
        [("handler acme".into(), ObjectAction::Update, Some(7))]
    );
    assert_eq!(
        plans[0].changes,
        [FieldChange {
            field: "SETTINGS.CODES.OLD.NAME".into(),
            before: Some("Old".into()),
            after: None
        }]
    );
}

#[test]
fn a_changed_registry_type_is_an_error_naming_the_field_never_a_replacement() {
    let wanted = desired(vec![], vec![pay_system("card", "ORDER")]);
    let mut recorded = RecordedObjects::default();
    let mut fields = pay_system("card", "CRM_INVOICE").fields(None);
    fields.insert("NAME".into(), "Card".into());
    recorded.pay_systems.insert(
        "card".into(),
        RecordedObject {
            id: 3,
            fields,
            manifest: None,
            deleted: false,
        },
    );
    let problems = compute(&wanted, &recorded, None, &none, &|_| true).unwrap_err();
    assert_eq!(problems.len(), 1);
    assert!(
        problems[0]
            .message
            .contains("ENTITY_REGISTRY_TYPE is CRM_INVOICE on the portal and ORDER"),
        "{}",
        problems[0].message
    );
}

#[test]
fn an_object_gone_from_the_manifests_is_forgotten_and_only_an_explicit_delete_deletes() {
    let mut recorded = RecordedObjects::default();
    recorded.handlers.insert(
        "old".into(),
        RecordedObject {
            id: 2,
            fields: Fields::new(),
            manifest: None,
            deleted: false,
        },
    );
    recorded.pay_systems.insert(
        "card".into(),
        RecordedObject {
            id: 3,
            fields: Fields::new(),
            manifest: None,
            deleted: false,
        },
    );
    let mut gone = pay_system("card", "ORDER");
    gone.delete = true;
    let affected = |id: u64| if id == 3 { 2 } else { 0 };
    let plans = compute(
        &desired(vec![], vec![gone]),
        &recorded,
        None,
        &affected,
        &|_| true,
    )
    .unwrap();
    assert_eq!(
        actions(&plans),
        [
            ("handler old".into(), ObjectAction::Forget, Some(2)),
            (
                "pay system xmlId:card".into(),
                ObjectAction::Delete,
                Some(3)
            )
        ]
    );
    assert!(
        plans[1]
            .note
            .as_deref()
            .unwrap()
            .contains("(2 targets recorded in the state are forgotten)")
    );
}

#[test]
fn an_xml_id_two_pay_systems_share_is_an_error() {
    let wanted = desired(vec![], vec![pay_system("card", "ORDER")]);
    let mut live = LiveObjects::default();
    let one = |id| LiveObject {
        id,
        fields: Fields::new(),
    };
    live.pay_systems.insert("card".into(), vec![one(3), one(4)]);
    let problems = compute(
        &wanted,
        &RecordedObjects::default(),
        Some(&live),
        &none,
        &|_| true,
    )
    .unwrap_err();
    assert!(
        problems[0]
            .message
            .contains("pay systems 3, 4 all have XML_ID"),
        "{}",
        problems[0].message
    );
}

#[test]
fn a_recorded_object_of_a_file_not_read_is_left_alone_not_forgotten() {
    let mut recorded = RecordedObjects::default();
    let record = |file: &str| RecordedObject {
        id: 2,
        fields: Fields::new(),
        manifest: Some(file.into()),
        deleted: false,
    };
    recorded.handlers.insert("read".into(), record("m/a.yaml"));
    recorded.handlers.insert("other".into(), record("m/b.yaml"));
    let in_scope = |r: &RecordedObject| r.manifest.as_deref() == Some("m/a.yaml");
    let plans = compute(&desired(vec![], vec![]), &recorded, None, &none, &in_scope).unwrap();
    assert_eq!(
        actions(&plans),
        [("handler read".into(), ObjectAction::Forget, Some(2))]
    );
}

#[test]
fn a_delete_already_done_plans_nothing_offline_and_again_only_if_the_portal_has_it() {
    let mut recorded = RecordedObjects::default();
    recorded.pay_systems.insert(
        "card".into(),
        RecordedObject {
            id: 3,
            fields: Fields::new(),
            manifest: None,
            deleted: true,
        },
    );
    let mut gone = pay_system("card", "ORDER");
    gone.delete = true;
    let wanted = desired(vec![], vec![gone]);
    let offline = compute(&wanted, &recorded, None, &none, &|_| true).unwrap();
    assert_eq!(offline, []);
    let live = LiveObjects::default();
    assert_eq!(
        compute(&wanted, &recorded, Some(&live), &none, &|_| true).unwrap(),
        []
    );
    // Made again by hand: deleted again.
    let mut again = LiveObjects::default();
    again.pay_systems.insert(
        "card".into(),
        vec![LiveObject {
            id: 9,
            fields: Fields::new(),
        }],
    );
    let plans = compute(&wanted, &recorded, Some(&again), &none, &|_| true).unwrap();
    assert_eq!(
        actions(&plans),
        [(
            "pay system xmlId:card".into(),
            ObjectAction::Delete,
            Some(9)
        )]
    );
    // Not in the manifests any more: the tombstone is not a "no longer managed" object.
    assert_eq!(
        compute(&desired(vec![], vec![]), &recorded, None, &none, &|_| true).unwrap(),
        []
    );
}
