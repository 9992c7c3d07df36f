//! The plan for handlers and pay systems (issue 24): what the manifests declare against
//! what the state recorded and, when connected, what the portal holds. Pure, like the
//! settings planner.
//!
//! # Rules
//! - Not on the portal (or, offline, not recorded): **create**. Apply looks the object up
//!   by its identity first, so one made meanwhile is adopted rather than made twice.
//! - On the portal but not recorded (made by hand, or a kill after the portal's answer):
//!   **adopt**, with the fields that differ written.
//! - Recorded, fields differ: **update**, field by field. A handler's `SETTINGS` is sent
//!   whole, and compared whole: a key the portal holds and the manifest does not is
//!   shown as removed.
//! - Gone from the manifests: **no longer managed**, forgotten in the state, left on
//!   the portal. Only an explicit `delete: true` deletes (shown under "Needs attention").
//! - A field the portal fixes at creation (`ENTITY_REGISTRY_TYPE`) that differs is a
//!   plan error naming the field, never a silent replacement.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::manifest::{Code, Diagnostic};
use crate::model::objects::{
    DesiredObjects, Fields, IMMUTABLE_PAY_SYSTEM_FIELDS, LOGO_FIELD, ObjectKind, PERSON_TYPE_FIELD,
};
use crate::model::{Location, Origin, PersonTypeRef};
use crate::state::{RecordedObject, RecordedObjects};

/// What apply does with one object.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ObjectAction {
    /// Not on the portal: created (after a lookup by identity).
    Create,
    /// On the portal, not recorded: adopted, and its differing fields written.
    Adopt,
    /// Recorded, with fields that differ: written.
    Update,
    /// `delete: true`: deleted from the portal.
    Delete,
    /// Recorded, gone from the manifests: forgotten in the state, left on the portal.
    Forget,
}

impl ObjectAction {
    /// Whether apply sends a write for it.
    pub fn writes(self) -> bool {
        !matches!(self, ObjectAction::Forget)
    }
}

/// One field's change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FieldChange {
    /// The portal's field path: `NAME`, `SETTINGS.CODES.PAYMENT_ID.NAME`.
    pub field: String,
    /// The value replaced (recorded or live); absent for a new field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    /// The value written; absent for a field removed (a handler's settings key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

/// The plan for one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ObjectPlan {
    pub kind: ObjectKind,
    /// The handler's `CODE` or the pay system's `XML_ID`.
    pub identity: String,
    pub action: ObjectAction,
    /// Its ID on the portal, when known (recorded or found).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// `file:line` of its manifest document.
    #[serde(rename = "manifest", default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub at: Option<Location>,
    /// The fields written (all of them for a create), sorted by field.
    pub changes: Vec<FieldChange>,
    /// What a reviewer must know: what a delete affects, why an object is created
    /// again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// What apply sends for a create, adoption or update: the portal's fields, whole (a
    /// handler's `SETTINGS` included; a pay system's logo as base64). Kept by a saved
    /// plan, not shown in the plan document.
    #[serde(skip)]
    pub send: Option<Map<String, Value>>,
    /// A pay system's payer type as declared (`1`, `xmlId:fiz`): resolved at apply.
    #[serde(skip)]
    pub person_type: Option<String>,
}

impl ObjectPlan {
    /// `handler acmepay`, `pay system xmlId:acme_card`.
    pub fn name(&self) -> String {
        self.kind.name(&self.identity)
    }
}

/// One object as the portal returned it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveObject {
    pub id: u64,
    /// Its fields, compared like the declared ones.
    pub fields: Fields,
}

/// The portal's handlers and pay systems, by identity, as read for planning.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LiveObjects {
    pub handlers: BTreeMap<String, LiveObject>,
    /// By `XML_ID`: every pay system with it (more than one is an error).
    pub pay_systems: BTreeMap<String, Vec<LiveObject>>,
    /// Payer type references (`xmlId:fiz`, `code:fiz`) → ID, as the portal resolves them.
    pub person_types: BTreeMap<String, u64>,
}

impl LiveObjects {
    /// The objects of `kind` with `identity` the portal holds (a pay system's `XML_ID`
    /// may be shared; a handler's `CODE` is unique).
    pub fn all(&self, kind: ObjectKind, identity: &str) -> &[LiveObject] {
        match kind {
            ObjectKind::Handler => self
                .handlers
                .get(identity)
                .map_or(&[], std::slice::from_ref),
            ObjectKind::PaySystem => self.pay_systems.get(identity).map_or(&[], Vec::as_slice),
        }
    }
}

/// What the settings targets recorded for a pay system would lose on its delete: the
/// recorded targets of pay system `id`, for the delete's note.
pub type Affected<'a> = &'a dyn Fn(u64) -> usize;

/// Plans the objects. `live`: the portal's (connected), else offline. `affected(id)`:
/// how many recorded settings targets a pay system has; `in_scope(record)`: whether a
/// recorded object no longer declared was declared in a file read (else it is left
/// alone). A changed fixed field, or an
/// `XML_ID` several pay systems share, is a located error.
pub fn compute(
    desired: &DesiredObjects,
    recorded: &RecordedObjects,
    live: Option<&LiveObjects>,
    affected: Affected<'_>,
    in_scope: &dyn Fn(&RecordedObject) -> bool,
) -> Result<Vec<ObjectPlan>, Vec<Diagnostic>> {
    let mut plans = Vec::new();
    let mut problems = Vec::new();
    for (code, handler) in &desired.handlers {
        let base = match live {
            Some(live) => Base::Live(live.handlers.get(code)),
            None => Base::Recorded,
        };
        let mut plan = one(
            ObjectKind::Handler,
            code,
            &handler.origin,
            handler.delete,
            handler.fields(),
            recorded.handlers.get(code).and_then(RecordedObject::held),
            recorded.handlers.get(code).is_some_and(|r| r.deleted),
            base,
        );
        if let Some(plan) = plan.as_mut().filter(|p| sends(p.action)) {
            plan.send = Some(handler.request_fields());
        }
        plans.extend(plan);
    }
    for (xml_id, pay_system) in &desired.pay_systems {
        let (base, person_type) = match live {
            Some(live) => {
                let found = live
                    .pay_systems
                    .get(xml_id)
                    .map(Vec::as_slice)
                    .unwrap_or(&[]);
                if found.len() > 1 {
                    let ids: Vec<String> = found.iter().map(|p| p.id.to_string()).collect();
                    problems.push(
                        Diagnostic::new(
                            Code::UnknownReference,
                            pay_system.origin.clone(),
                            format!(
                                "pay systems {} all have XML_ID {xml_id:?}: paysync cannot tell which one this is",
                                ids.join(", ")
                            ),
                        )
                        .help("give the others another XML_ID on the portal"),
                    );
                    continue;
                }
                let person_type = match &pay_system.person_type {
                    PersonTypeRef::Id(id) => Some(*id),
                    other => {
                        let text = crate::model::objects::person_type_text(other);
                        match live.person_types.get(&text) {
                            Some(id) => Some(*id),
                            None => {
                                problems.push(crate::manifest::unknown_reference(
                                    pay_system.origin.clone(),
                                    format!(
                                        "{}: no payer type {text} on this portal",
                                        ObjectKind::PaySystem.name(xml_id)
                                    ),
                                ));
                                continue;
                            }
                        }
                    }
                };
                (Base::Live(found.first()), person_type)
            }
            // Offline, a payer type named portably cannot be resolved: the recorded ID
            // stands for it (`--refresh` and apply compare it on the portal).
            None => (
                Base::Recorded,
                match &pay_system.person_type {
                    PersonTypeRef::Id(id) => Some(*id),
                    _ => recorded
                        .pay_systems
                        .get(xml_id)
                        .and_then(|r| r.fields.get(PERSON_TYPE_FIELD)?.parse().ok()),
                },
            ),
        };
        // Its handler: declared here, or on the portal already.
        if let Some(live) = live
            && !pay_system.delete
            && !desired.handlers.contains_key(&pay_system.handler)
            && !live.handlers.contains_key(&pay_system.handler)
        {
            problems.push(
                Diagnostic::new(
                    Code::UnknownReference,
                    pay_system.origin.clone(),
                    format!(
                        "{}: its handler {} is neither declared in the manifests nor on this portal",
                        ObjectKind::PaySystem.name(xml_id),
                        pay_system.handler
                    ),
                )
                .help("declare the handler (`kind: PaySystemHandler`), or check the handler's code"),
            );
        }
        let mut wanted = pay_system.fields(person_type);
        if pay_system.delete {
            wanted.clear();
        }
        let record = recorded
            .pay_systems
            .get(xml_id)
            .and_then(RecordedObject::held);
        let tombstone = recorded.pay_systems.get(xml_id).is_some_and(|r| r.deleted);
        // Fixed at creation: a difference is an error, not a replacement.
        let before = match &base {
            Base::Live(found) => found.map(|l| &l.fields),
            Base::Recorded => record.map(|r| &r.fields),
        };
        if !pay_system.delete
            && let Some(before) = before
        {
            for field in IMMUTABLE_PAY_SYSTEM_FIELDS {
                if let (Some(was), Some(want)) = (before.get(*field), wanted.get(*field))
                    && was != want
                    && !was.is_empty()
                {
                    problems.push(immutable(&pay_system.registry_at, xml_id, field, was, want));
                }
            }
        }
        let mut plan = one(
            ObjectKind::PaySystem,
            xml_id,
            &pay_system.origin,
            pay_system.delete,
            wanted,
            record,
            tombstone,
            base,
        );
        if let Some(plan) = plan.as_mut().filter(|p| sends(p.action)) {
            plan.send = Some(pay_system.request_fields(0, true));
            plan.person_type = Some(crate::model::objects::person_type_text(
                &pay_system.person_type,
            ));
        }
        if let Some(plan) = &mut plan
            && plan.action == ObjectAction::Delete
            && let Some(id) = plan.id
        {
            let targets = affected(id);
            plan.note = Some(format!(
                "deletes pay system {id} and, with it, its settings on the portal{}",
                if targets > 0 {
                    format!(
                        " ({} recorded in the state {} forgotten)",
                        crate::wording::plural(targets, "target"),
                        if targets == 1 { "is" } else { "are" }
                    )
                } else {
                    String::new()
                }
            ));
        }
        plans.extend(plan);
    }
    // Recorded, no longer declared: forgotten, left on the portal.
    for (kind, records, declared) in [
        (
            ObjectKind::Handler,
            &recorded.handlers,
            desired.handlers.keys().collect::<Vec<_>>(),
        ),
        (
            ObjectKind::PaySystem,
            &recorded.pay_systems,
            desired.pay_systems.keys().collect::<Vec<_>>(),
        ),
    ] {
        for (identity, record) in records {
            // An object of a manifest file not read (a subset of the files) is left
            // alone, not forgotten.
            if !declared.contains(&identity) && !record.deleted && in_scope(record) {
                plans.push(ObjectPlan {
                    kind,
                    identity: identity.clone(),
                    action: ObjectAction::Forget,
                    id: Some(record.id),
                    at: None,
                    changes: Vec::new(),
                    note: None,
                    send: None,
                    person_type: None,
                });
            }
        }
    }
    plans.sort_by(|a, b| (a.kind, &a.identity).cmp(&(b.kind, &b.identity)));
    if problems.is_empty() {
        Ok(plans)
    } else {
        Err(problems)
    }
}

/// Whether apply sends the object's fields for `action`.
fn sends(action: ObjectAction) -> bool {
    matches!(
        action,
        ObjectAction::Create | ObjectAction::Adopt | ObjectAction::Update
    )
}

/// What an object is compared with.
enum Base<'a> {
    /// Connected: what the portal holds (`None`: not there).
    Live(Option<&'a LiveObject>),
    /// Offline: the state's record.
    Recorded,
}

/// The plan for one declared object; `None` when nothing is to be done.
#[allow(clippy::too_many_arguments)]
fn one(
    kind: ObjectKind,
    identity: &str,
    origin: &Origin,
    delete: bool,
    wanted: Fields,
    record: Option<&RecordedObject>,
    deleted: bool,
    base: Base<'_>,
) -> Option<ObjectPlan> {
    let at = Some(Location::from(origin));
    let plan = |action, id, changes, note| {
        Some(ObjectPlan {
            kind,
            identity: identity.to_owned(),
            action,
            id,
            at: at.clone(),
            changes,
            note,
            send: None,
            person_type: None,
        })
    };
    match base {
        Base::Live(None) if delete => record.and_then(|r| {
            plan(
                ObjectAction::Forget,
                Some(r.id),
                Vec::new(),
                Some("already gone from the portal: forgotten in the state".to_owned()),
            )
        }),
        // Deleted by an earlier apply: done (offline; connected, the portal says).
        Base::Recorded if delete && deleted => None,
        Base::Recorded if delete => plan(
            ObjectAction::Delete,
            record.map(|r| r.id),
            Vec::new(),
            record
                .is_none()
                .then(|| "not recorded: looked up on the portal by identity at apply".to_owned()),
        ),
        Base::Live(Some(found)) if delete => {
            plan(ObjectAction::Delete, Some(found.id), Vec::new(), None)
        }
        Base::Live(None) => {
            let note = record.map(|r| {
                format!(
                    "recorded as {} {}, which is no longer on the portal: created again",
                    kind, r.id
                )
            });
            plan(ObjectAction::Create, None, diff(None, &wanted, kind), note)
        }
        Base::Recorded => match record {
            None => plan(
                ObjectAction::Create,
                None,
                diff(None, &wanted, kind),
                Some(format!(
                    "apply looks it up by its {} first: one already on the portal is adopted",
                    match kind {
                        ObjectKind::Handler => "CODE",
                        ObjectKind::PaySystem => "XML_ID",
                    }
                )),
            ),
            Some(r) => {
                let changes = diff(Some(&r.fields), &wanted, kind);
                (!changes.is_empty()).then_some(())?;
                plan(ObjectAction::Update, Some(r.id), changes, None)
            }
        },
        Base::Live(Some(found)) => {
            let mut live = found.fields.clone();
            // The portal does not return the logo: the recorded digest stands for it.
            if let Some(r) = record.filter(|r| r.id == found.id)
                && let Some(logo) = r.fields.get(LOGO_FIELD)
            {
                live.insert(LOGO_FIELD.into(), logo.clone());
            }
            let changes = diff(Some(&live), &wanted, kind);
            match record {
                Some(r) if r.id == found.id => {
                    (!changes.is_empty()).then_some(())?;
                    plan(ObjectAction::Update, Some(found.id), changes, None)
                }
                _ => plan(
                    ObjectAction::Adopt,
                    Some(found.id),
                    changes,
                    Some(format!(
                        "{kind} {} is on the portal already: adopted",
                        found.id
                    )),
                ),
            }
        }
    }
}

/// The changes from `before` to `wanted`: the one comparison of an object's fields, for
/// the plan, apply's read-back and drift. A handler is compared whole (a key only the
/// portal has is removed by the update); a pay system only in the fields declared.
pub fn diff(before: Option<&Fields>, wanted: &Fields, kind: ObjectKind) -> Vec<FieldChange> {
    let empty = Fields::new();
    let before = before.unwrap_or(&empty);
    let mut changes = Vec::new();
    for (field, want) in wanted {
        let was = before.get(field);
        if was != Some(want) {
            changes.push(FieldChange {
                field: field.clone(),
                before: was.cloned(),
                after: Some(want.clone()),
            });
        }
    }
    if kind == ObjectKind::Handler {
        for (field, was) in before {
            if field.starts_with("SETTINGS.") && !wanted.contains_key(field) {
                changes.push(FieldChange {
                    field: field.clone(),
                    before: Some(was.clone()),
                    after: None,
                });
            }
        }
        changes.sort_by(|a, b| a.field.cmp(&b.field));
    }
    changes
}

/// The fields of `wanted` the portal (`held`) does not hold as they are, as [`diff`]
/// finds them, but for the logo, which the portal does not return.
pub fn unheld(kind: ObjectKind, wanted: &Fields, held: &Fields) -> Vec<FieldChange> {
    let mut changes = diff(Some(held), wanted, kind);
    changes.retain(|c| c.field != LOGO_FIELD);
    changes
}

fn immutable(origin: &Origin, xml_id: &str, field: &str, was: &str, want: &str) -> Diagnostic {
    Diagnostic::new(
        Code::InvalidValue,
        origin.clone(),
        format!(
            "pay system xmlId:{xml_id}: {field} is {was} on the portal and {want} in the manifest; \
             the portal fixes {field} when the pay system is created"
        ),
    )
    .help(
        "paysync never replaces a pay system silently: keep the registry type, or declare \
         `delete: true` for this one and a new pay system with another xmlId",
    )
}

#[cfg(test)]
mod tests;
