//! What the state records of the handlers and pay systems paysync created or adopted
//! (issue 24): per object, its ID on this portal and the fields as last applied (the
//! fields the portal confirmed keeping). One state is one environment's, so each
//! environment records its own IDs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::objects::{Fields, ObjectKind};

/// The handlers (by `CODE`) and pay systems (by `XML_ID`) the state records.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecordedObjects {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub handlers: BTreeMap<String, RecordedObject>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pay_systems: BTreeMap<String, RecordedObject>,
}

/// One recorded object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecordedObject {
    /// Its ID on this portal.
    pub id: u64,
    /// The fields as last applied (and kept by the portal), by path.
    pub fields: Fields,
    /// The manifest file that declares it (as read), so that planning a subset of the
    /// files forgets only objects of the files read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<String>,
    /// Deleted by paysync (`delete: true`): remembered, so that the declaration of the
    /// delete plans nothing more once it is done (it is not a record of an object).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
}

impl RecordedObject {
    /// The record of an object the portal holds: `None` for a deleted one's.
    pub fn held(&self) -> Option<&RecordedObject> {
        (!self.deleted).then_some(self)
    }
}

impl RecordedObjects {
    pub fn is_empty(&self) -> bool {
        self.handlers.is_empty() && self.pay_systems.is_empty()
    }

    /// The records of `kind`.
    pub fn of(&self, kind: ObjectKind) -> &BTreeMap<String, RecordedObject> {
        match kind {
            ObjectKind::Handler => &self.handlers,
            ObjectKind::PaySystem => &self.pay_systems,
        }
    }

    /// The objects the portal holds as far as the state knows, handlers first: every
    /// record but those of deleted objects, with its kind and identity.
    pub fn held(&self) -> impl Iterator<Item = (ObjectKind, &String, &RecordedObject)> {
        [ObjectKind::Handler, ObjectKind::PaySystem]
            .into_iter()
            .flat_map(move |kind| {
                self.of(kind)
                    .iter()
                    .filter(|(_, record)| !record.deleted)
                    .map(move |(identity, record)| (kind, identity, record))
            })
    }

    /// The records of `kind`, to change.
    pub fn of_mut(&mut self, kind: ObjectKind) -> &mut BTreeMap<String, RecordedObject> {
        match kind {
            ObjectKind::Handler => &mut self.handlers,
            ObjectKind::PaySystem => &mut self.pay_systems,
        }
    }
}
