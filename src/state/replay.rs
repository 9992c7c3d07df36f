//! What every backend does with the bytes of a whole state and with a stopped run's
//! records: parse a state ([`parse_state`]) and replay journal entries over it
//! ([`replay_entries`]) with the same rules whatever the store — a record is replayed only
//! over the state it follows (same lineage, same portal, the next serial); anything else
//! is an error naming where it is, never folded silently. No I/O here.

use super::error::StateError;
use super::format::{
    JournalEntry, LEGACY_STATE_FORMAT, LastApplied, STATE_FORMAT, StateFile, StateFileV1,
};
use super::location::StateLocation;
use super::whole::StateFileView;
use crate::json;

/// Why a journal entry cannot be replayed over the state.
#[derive(Debug)]
pub enum ReplayRefusal {
    /// There is no whole state for the record to follow.
    NoState,
    /// The entry is of another lineage.
    Lineage { entry: String, state: String },
    /// The entry records writes to another portal.
    Portal { entry: String, state: String },
    /// Entries between the state and this one are missing.
    Gap { entry: u64, state: u64 },
}

/// Replays `entries` (each with where it was found: a line number, an object name) over
/// `state` in order; entries already in the state are skipped. Returns how many were
/// replayed, or the first refusal with where its entry was.
pub fn replay_entries<W>(
    state: &mut Option<LastApplied>,
    entries: impl IntoIterator<Item = (W, JournalEntry)>,
) -> Result<usize, (W, ReplayRefusal)> {
    let mut replayed = 0;
    for (at, entry) in entries {
        // A journal only ever follows a whole state: the first confirmed request of a
        // new state is written as the state itself.
        let Some(current) = state.as_mut() else {
            return Err((at, ReplayRefusal::NoState));
        };
        if entry.lineage != current.lineage {
            return Err((
                at,
                ReplayRefusal::Lineage {
                    entry: entry.lineage,
                    state: current.lineage.clone(),
                },
            ));
        }
        if let (Some(journal), Some(recorded)) = (&entry.portal, &current.portal)
            && !crate::bitrix::same_portal(journal, recorded)
        {
            return Err((
                at,
                ReplayRefusal::Portal {
                    entry: crate::untrusted::portal_text(journal),
                    state: crate::untrusted::portal_text(recorded),
                },
            ));
        }
        if entry.serial > current.serial.saturating_add(1) {
            return Err((
                at,
                ReplayRefusal::Gap {
                    entry: entry.serial,
                    state: current.serial,
                },
            ));
        }
        if current.replay(entry) {
            replayed += 1;
        }
    }
    Ok(replayed)
}

/// Parses the bytes of a whole state kept at `location` (format 2, or format 1, read
/// and written as 2 by the next write).
pub fn parse_state(bytes: Vec<u8>, location: &StateLocation) -> Result<LastApplied, StateError> {
    if std::str::from_utf8(&bytes).is_err() {
        return Err(StateError::Parse {
            state: location.clone(),
            line: 1,
            column: 1,
            message: "not UTF-8 text".into(),
        });
    }
    parse_with(location, || Ok(serde_json::de::SliceRead::new(&bytes)))
}

/// [`parse_state`] of an open state file, read as it is parsed: its text is never held
/// whole (issue 22.2: 97 MB beside the manifests for a state of a million settings).
pub fn read_state(
    file: &std::fs::File,
    location: &StateLocation,
) -> Result<LastApplied, StateError> {
    parse_with(location, || json::from_start(file))
}

/// Parses a whole state from `source`, which gives the text from its start each time it
/// is called: a state of this format is read once, straight into its maps (issue 22.2:
/// a generic JSON tree of a 50 MB state took hundreds of MiB); anything else is read
/// again for its format first.
fn parse_with<'de, R: serde_json::de::Read<'de>>(
    location: &StateLocation,
    mut source: impl FnMut() -> std::io::Result<R>,
) -> Result<LastApplied, StateError> {
    let parse_error = |e: serde_json::Error| StateError::Parse {
        state: location.clone(),
        line: e.line(),
        column: e.column(),
        message: json::message(&e),
    };
    let read_error = |e: std::io::Error| StateError::Read {
        state: location.clone(),
        error: e.into(),
    };
    // The usual case in one pass: a state of this format, read straight into its maps.
    // Anything else (format 1, a newer format, a broken file) is read again for its
    // format, so that a newer state gets a clear message rather than a complaint about a
    // field it has.
    let first = json::one::<_, StateFile>(source().map_err(read_error)?);
    if let Ok(file) = &first
        && file.format == STATE_FORMAT
    {
        let state = LastApplied::from(first.expect("checked"));
        return checked(state, location);
    }
    #[derive(serde::Deserialize)]
    struct Format {
        format: Option<serde_json::Value>,
    }
    let format: Format = json::one(source().map_err(read_error)?).map_err(parse_error)?;
    let state = match format.format.as_ref().and_then(serde_json::Value::as_u64) {
        Some(f) if f == u64::from(STATE_FORMAT) => {
            return Err(parse_error(
                first
                    .err()
                    .expect("a state of this format that did not parse"),
            ));
        }
        Some(f) if f == u64::from(LEGACY_STATE_FORMAT) => {
            let file: StateFileV1 =
                json::one(source().map_err(read_error)?).map_err(parse_error)?;
            tracing::info!(
                state = %location,
                "state of format 1: read, and written as format {STATE_FORMAT} by the next apply"
            );
            LastApplied::from_v1(file)
        }
        Some(found) => {
            return Err(StateError::UnsupportedFormat {
                state: location.clone(),
                found,
            });
        }
        None => {
            return Err(StateError::Parse {
                state: location.clone(),
                line: 1,
                column: 1,
                message: "missing numeric `format`".into(),
            });
        }
    };
    checked(state, location)
}

/// `state`, if its fingerprint scheme is one paysync can use.
fn checked(state: LastApplied, location: &StateLocation) -> Result<LastApplied, StateError> {
    state
        .fingerprints
        .check()
        .map_err(|source| StateError::Scheme {
            state: location.clone(),
            error: source,
        })?;
    Ok(state)
}

/// The bytes of a whole state as every backend writes it (pretty JSON, a final newline),
/// so a state moved between backends stays byte-equal.
pub fn state_bytes(state: &LastApplied) -> Vec<u8> {
    let mut bytes = Vec::new();
    write_state(state, &mut bytes).expect("a state serialises to memory");
    bytes
}

/// Writes the bytes of [`state_bytes`] to `out` as they are made, from a borrowed view of
/// the state: neither a copy of the state nor the whole text is held (issue 22.2).
pub fn write_state(state: &LastApplied, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, out);
    serde_json::to_writer_pretty(&mut out, &StateFileView::new(state))?;
    out.write_all(b"\n")?;
    out.flush()
}
