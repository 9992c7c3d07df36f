//! Applies the handlers and pay systems of a plan (issue 24).
//!
//! # Expected flow
//! 1. [`before_settings`], before any setting is written: the portal's handlers and pay
//!    systems are read once; then, handlers first, each object to create, adopt or
//!    update is **looked up by its identity** (`CODE`, `XML_ID`): found, it is adopted
//!    (and updated where it differs); not found, it is created. Each object confirmed is
//!    recorded in the state at once (saved), with its ID.
//! 2. Objects gone from the manifests are forgotten in the state (left on the portal).
//! 3. Everything written is read back (one batch): a field the portal did not keep is
//!    reported and left out of the record, so the next plan shows it again.
//! 4. [`after_settings`], once the settings are written: the explicit deletes, pay
//!    systems before handlers; a deleted pay system's recorded targets are forgotten.
//!
//! # Guarantees
//! - Never two objects for one identity: a create whose answer was lost is not sent
//!   again ([`Client::call_create`]); the object is looked up instead, and a re-run
//!   after a kill adopts what the portal holds.
//! - The state never records an object the portal did not confirm.
//! - The first refusal stops the run, naming the object and its manifest; what was
//!   confirmed before it stays recorded.

use serde_json::{Map, Value, json};

use crate::bitrix::{Client, ClientError, Request};
use crate::live::read_objects;
use crate::model::objects::{Fields, ObjectKind, PERSON_TYPE_FIELD, sent_fields};
use crate::plan::Plan;
use crate::plan::objects::{LiveObject, LiveObjects, ObjectAction, ObjectPlan, unheld};
use crate::state::StateError;
use crate::state::{LastApplied, RecordedObject, StateBackend};

/// Why the handlers and pay systems could not all be written.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// The portal refused a write (or its answer was lost and the object is not
    /// there): named, with its manifest.
    #[error("{object}{}: {error}{}", at.as_ref().map(|a| format!(" ({a})")).unwrap_or_default(), hint(error))]
    Refused {
        object: String,
        at: Option<String>,
        /// Boxed: the error is large, and this enum travels in every `Result` of apply.
        error: Box<ClientError>,
    },
    /// The portal's handlers and pay systems could not be read.
    #[error(transparent)]
    Read(Box<ClientError>),
    /// A pay system's payer type is not on this portal.
    #[error("{object} ({at}): no payer type {person_type} on this portal")]
    UnknownPersonType {
        object: String,
        at: String,
        person_type: String,
    },
    #[error(transparent)]
    State(Box<StateError>),
}

impl From<ClientError> for ObjectError {
    fn from(error: ClientError) -> ObjectError {
        ObjectError::Read(Box::new(error))
    }
}

impl From<StateError> for ObjectError {
    fn from(error: StateError) -> ObjectError {
        ObjectError::State(Box::new(error))
    }
}

/// One handler or pay system apply wrote (or adopted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectDone {
    pub kind: ObjectKind,
    /// The handler's CODE or the pay system's XML_ID.
    pub identity: String,
    pub action: ObjectAction,
    /// Its ID on the portal.
    pub id: u64,
}

impl ObjectDone {
    fn of(o: &ObjectPlan, action: ObjectAction, id: u64) -> ObjectDone {
        ObjectDone {
            kind: o.kind,
            identity: o.identity.clone(),
            action,
            id,
        }
    }

    /// `handler acmepay`, `pay system xmlId:acme_card`.
    pub fn name(&self) -> String {
        self.kind.name(&self.identity)
    }
}

/// What became of the plan's objects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectsReport {
    /// Objects written (or adopted as they are), in order.
    pub done: Vec<ObjectDone>,
    /// Objects forgotten in the state.
    pub forgotten: Vec<String>,
    /// Fields the portal did not keep, per object (`handler acme: DESCRIPTION`).
    pub not_kept: Vec<(String, Vec<String>)>,
    /// Objects a write was sent for (an adoption of an object that already matches
    /// sends none).
    pub written: usize,
}

const HANDLER_ADD: &str = "sale.paysystem.handler.add";
const HANDLER_UPDATE: &str = "sale.paysystem.handler.update";
const HANDLER_DELETE: &str = "sale.paysystem.handler.delete";
const PAY_SYSTEM_ADD: &str = "sale.paysystem.add";
const PAY_SYSTEM_UPDATE: &str = "sale.paysystem.update";
const PAY_SYSTEM_DELETE: &str = "sale.paysystem.delete";

/// Steps 1–3 of the module docs.
///
/// What was done goes into `report` as it is done, so that a caller whose run stops
/// half-way (an error, a signal) still says what reached the portal. After SIGINT or
/// SIGTERM no further object is sent ([`crate::interrupt::received`]): the caller sees
/// the signal and stops.
pub async fn before_settings(
    client: &Client,
    plan: &Plan,
    state: &mut LastApplied,
    store: &dyn StateBackend,
    report: &mut ObjectsReport,
) -> Result<(), ObjectError> {
    let writes: Vec<&ObjectPlan> = plan
        .objects
        .iter()
        .filter(|o| {
            matches!(
                o.action,
                ObjectAction::Create | ObjectAction::Adopt | ObjectAction::Update
            )
        })
        .collect();
    let forgets: Vec<&ObjectPlan> = plan
        .objects
        .iter()
        .filter(|o| o.action == ObjectAction::Forget)
        .collect();
    if writes.is_empty() && forgets.is_empty() {
        return Ok(());
    }
    for o in &forgets {
        state.objects.of_mut(o.kind).remove(&o.identity);
        report.forgotten.push(o.name());
    }
    if writes.is_empty() {
        store.save(state)?;
        return Ok(());
    }
    let portable = writes.iter().any(|o| {
        o.person_type
            .as_deref()
            .is_some_and(|p| p.parse::<u64>().is_err())
    });
    let mut live = read_objects(client, portable).await?;
    let mut written: Vec<(&ObjectPlan, u64, Fields)> = Vec::new();
    for o in writes {
        if crate::interrupt::received().is_some() {
            break;
        }
        let (id, action, fields, sent) = write(client, o, &mut live).await?;
        report.written += usize::from(sent);
        state.objects.of_mut(o.kind).insert(
            o.identity.clone(),
            RecordedObject {
                id,
                fields: fields.clone(),
                manifest: o.at.as_ref().map(|at| at.file.display().to_string()),
                deleted: false,
            },
        );
        store.save(state)?;
        tracing::info!(object = %o.name(), id, "{}", done_word(action));
        report.done.push(ObjectDone::of(o, action, id));
        if sent {
            written.push((o, id, fields));
        }
    }
    // Stopped by a signal: nothing more is sent, not even the read-back (the next plan
    // with --refresh compares them).
    if written.is_empty() || crate::interrupt::received().is_some() {
        return Ok(());
    }
    // Read back: what the portal kept.
    let now = read_objects(client, false).await?;
    let mut changed = false;
    for (o, id, fields) in written {
        let held = find(&now, o.kind, &o.identity).filter(|l| l.id == id);
        let Some(held) = held else {
            report
                .not_kept
                .push((o.name(), vec!["(not found on the portal)".to_owned()]));
            state.objects.of_mut(o.kind).remove(&o.identity);
            changed = true;
            continue;
        };
        let lost = not_kept(o.kind, &fields, &held.fields);
        if !lost.is_empty() {
            if let Some(record) = state.objects.of_mut(o.kind).get_mut(&o.identity) {
                for field in &lost {
                    record.fields.remove(field);
                }
            }
            tracing::warn!(
                object = %o.name(),
                "the portal did not keep {}: planned again",
                lost.join(", ")
            );
            report.not_kept.push((o.name(), lost));
            changed = true;
        }
    }
    if changed {
        store.save(state)?;
    }
    Ok(())
}

/// Step 4 of the module docs: the explicit deletes, pay systems first.
pub async fn after_settings(
    client: &Client,
    plan: &Plan,
    state: &mut LastApplied,
    store: &dyn StateBackend,
    report: &mut ObjectsReport,
) -> Result<(), ObjectError> {
    let mut deletes: Vec<&ObjectPlan> = plan
        .objects
        .iter()
        .filter(|o| o.action == ObjectAction::Delete)
        .collect();
    if deletes.is_empty() {
        return Ok(());
    }
    // Pay systems before handlers: a handler in use cannot be deleted.
    deletes.sort_by_key(|o| o.kind != ObjectKind::PaySystem);
    let live = read_objects(client, false).await?;
    for o in deletes {
        if crate::interrupt::received().is_some() {
            break;
        }
        let Some(id) = find(&live, o.kind, &o.identity).map(|l| l.id) else {
            // Already gone: nothing to delete; remembered as deleted.
            let id = o.id.unwrap_or_default();
            tombstone(state, o, id);
            store.save(state)?;
            report.forgotten.push(o.name());
            continue;
        };
        let method = match o.kind {
            ObjectKind::Handler => HANDLER_DELETE,
            ObjectKind::PaySystem => PAY_SYSTEM_DELETE,
        };
        if let Err(error) = client
            .call(&Request::new(method, json!({ "ID": id })))
            .await
        {
            // A retry after a lost answer finds it gone ("not found"): if the portal no
            // longer holds it, the delete happened.
            let now = read_objects(client, false).await?;
            if find(&now, o.kind, &o.identity).is_some_and(|l| l.id == id) {
                return Err(refused(o, error));
            }
        }
        tombstone(state, o, id);
        if o.kind == ObjectKind::PaySystem {
            // Its settings went with it.
            state.targets.retain(|t, _| t.pay_system != id);
            state.records.retain(|t, _| t.pay_system != id);
        }
        store.save(state)?;
        tracing::info!(object = %o.name(), id, "deleted");
        report
            .done
            .push(ObjectDone::of(o, ObjectAction::Delete, id));
        report.written += 1;
    }
    Ok(())
}

/// Remembers `o` as deleted (its declaration of the delete then plans nothing more).
fn tombstone(state: &mut LastApplied, o: &ObjectPlan, id: u64) {
    state.objects.of_mut(o.kind).insert(
        o.identity.clone(),
        RecordedObject {
            id,
            fields: Fields::new(),
            manifest: o.at.as_ref().map(|at| at.file.display().to_string()),
            deleted: true,
        },
    );
}

/// Writes one object: adopted when the portal holds it (updated where it differs),
/// else created. Returns its ID, what was done and the fields to record.
async fn write(
    client: &Client,
    o: &ObjectPlan,
    live: &mut LiveObjects,
) -> Result<(u64, ObjectAction, Fields, bool), ObjectError> {
    let mut send = o.send.clone().unwrap_or_default();
    if o.kind == ObjectKind::PaySystem {
        let person_type = person_type(o, live)?;
        send.insert(PERSON_TYPE_FIELD.into(), person_type.into());
    }
    let fields = sent_fields(o.kind, &send);
    if let Some(found) = find(live, o.kind, &o.identity).cloned() {
        let sent = update(client, o, found.id, &send, &fields, &found.fields).await?;
        let action = if o.action == ObjectAction::Update {
            ObjectAction::Update
        } else {
            ObjectAction::Adopt
        };
        return Ok((found.id, action, fields, sent));
    }
    let (method, params) = match o.kind {
        ObjectKind::Handler => {
            let mut params = send.clone();
            params.insert("CODE".into(), o.identity.clone().into());
            (HANDLER_ADD, Value::Object(params))
        }
        ObjectKind::PaySystem => (PAY_SYSTEM_ADD, Value::Object(send.clone())),
    };
    match client.call_create(&Request::new(method, params)).await {
        Ok(result) => {
            let id = new_id(&result).ok_or_else(|| {
                refused(
                    o,
                    ClientError::Decode {
                        method: method.to_owned(),
                        detail: "the answer is not the new object's ID".into(),
                    },
                )
            })?;
            remember(live, o, id, &fields);
            Ok((id, ObjectAction::Create, fields, true))
        }
        // The answer may have been lost after the portal made it, or someone made it
        // meanwhile (a handler's CODE is unique): look it up, adopt it if it is there.
        Err(error) if error.may_have_reached_portal() || already_exists(&error) => {
            *live = read_objects(client, false).await?;
            match find(live, o.kind, &o.identity).cloned() {
                Some(found) => {
                    update(client, o, found.id, &send, &fields, &found.fields).await?;
                    Ok((found.id, ObjectAction::Adopt, fields, true))
                }
                None => Err(refused(o, error)),
            }
        }
        Err(error) => Err(refused(o, error)),
    }
}

/// Updates an object where the portal's fields differ from `fields` (a handler's whole
/// `SETTINGS` is sent; a pay system's declared fields, its handler and payer type);
/// whether an update was sent.
async fn update(
    client: &Client,
    o: &ObjectPlan,
    id: u64,
    send: &Map<String, Value>,
    fields: &Fields,
    held: &Fields,
) -> Result<bool, ObjectError> {
    if not_kept(o.kind, fields, held).is_empty() {
        return Ok(false);
    }
    let (method, mut params) = match o.kind {
        ObjectKind::Handler => (HANDLER_UPDATE, send.clone()),
        ObjectKind::PaySystem => (PAY_SYSTEM_UPDATE, send.clone()),
    };
    // Fixed at creation: never sent on update.
    params.remove("ENTITY_REGISTRY_TYPE");
    client
        .call(&Request::new(method, json!({ "ID": id, "FIELDS": params })))
        .await
        .map_err(|error| refused(o, error))?;
    Ok(true)
}

/// The fields of `fields` the portal does not hold as sent ([`unheld`]).
fn not_kept(kind: ObjectKind, fields: &Fields, held: &Fields) -> Vec<String> {
    unheld(kind, fields, held)
        .into_iter()
        .map(|change| change.field)
        .collect()
}

/// The object of `kind` with `identity` the portal holds (one pay system per `XML_ID`:
/// the first, the planner refused several).
fn find<'a>(live: &'a LiveObjects, kind: ObjectKind, identity: &str) -> Option<&'a LiveObject> {
    live.all(kind, identity).first()
}

fn remember(live: &mut LiveObjects, o: &ObjectPlan, id: u64, fields: &Fields) {
    let object = LiveObject {
        id,
        fields: fields.clone(),
    };
    match o.kind {
        ObjectKind::Handler => {
            live.handlers.insert(o.identity.clone(), object);
        }
        ObjectKind::PaySystem => {
            live.pay_systems.insert(o.identity.clone(), vec![object]);
        }
    }
}

/// A pay system's payer type ID: as declared, or resolved on the portal.
fn person_type(o: &ObjectPlan, live: &LiveObjects) -> Result<u64, ObjectError> {
    let declared = o.person_type.clone().unwrap_or_default();
    if let Ok(id) = declared.parse() {
        return Ok(id);
    }
    live.person_types
        .get(&declared)
        .copied()
        .ok_or_else(|| ObjectError::UnknownPersonType {
            object: o.name(),
            at: o.at.as_ref().map(ToString::to_string).unwrap_or_default(),
            person_type: declared,
        })
}

/// The new object's ID in an `add` answer (a number, or a decimal string).
fn new_id(result: &Value) -> Option<u64> {
    match result {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|id| *id > 0)
}

fn already_exists(error: &ClientError) -> bool {
    error
        .portal_error()
        .is_some_and(|e| e.code == "ERROR_HANDLER_ALREADY_EXIST")
}

/// The portal refused (or could not be asked about) `o`: the error names it and its
/// manifest.
fn refused(o: &ObjectPlan, error: ClientError) -> ObjectError {
    ObjectError::Refused {
        object: o.name(),
        at: o.at.as_ref().map(ToString::to_string),
        error: Box::new(error),
    }
}

fn done_word(action: ObjectAction) -> &'static str {
    match action {
        ObjectAction::Create => "created",
        ObjectAction::Adopt => "adopted",
        ObjectAction::Update => "updated",
        ObjectAction::Delete => "deleted",
        ObjectAction::Forget => "forgotten",
    }
}

/// What to check when the portal refuses a handler or pay system write.
fn hint(error: &ClientError) -> &'static str {
    match error.portal_error().map(|e| e.code.as_str()) {
        Some("ACCESS_DENIED") => {
            " — it belongs to another application's REST handler, or is a built-in pay system \
             (cash, bank transfer): paysync manages only the handlers and pay systems these \
             credentials may write"
        }
        Some("ERROR_PERSON_TYPE_NOT_FOUND") => {
            " — the payer type does not exist, or belongs to another registry type than the \
             pay system's registryType"
        }
        Some("ERROR_HANDLER_NOT_FOUND") => " — no REST handler with this code on the portal",
        _ => "",
    }
}
