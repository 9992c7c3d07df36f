//! The reads: the catalog (three list methods, batched, paged) and the live settings of
//! targets (`sale.paysystem.settings.get`, batched). Only reads; every answer is parsed
//! by [`super::parse`].

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::catalog::*;
use super::parse::*;
use crate::bitrix::envelope::{BatchEntry, PortalError, parse_settings};
use crate::bitrix::request::{
    MAX_BATCH, METHOD_BATCH, METHOD_HANDLER_LIST, METHOD_PAY_SYSTEM_LIST, METHOD_PERSON_TYPE_LIST,
    target_key,
};
use crate::bitrix::{Client, ClientError, Request};
use crate::model::{LiveSettings, Target};

/// Reads handlers, pay systems and (with `person_types`) every page of payer types.
pub async fn fetch(client: &Client, person_types: bool) -> Result<Catalog, ClientError> {
    Ok(fetch_with_reads(client, person_types, &[]).await?.0)
}

/// The settings read for each target: the settings, or why not.
pub type Reads = BTreeMap<Target, Result<LiveSettings, ReadError>>;

/// The catalog requests' keys in the first batch.
const CATALOG_KEYS: [&str; 3] = [
    "catalog_handlers",
    "catalog_pay_systems",
    "catalog_person_types",
];

/// [`fetch`], with the settings of the first of `targets` read in the same first batch
/// (`--refresh`: one request where there were four); returns which were read. A list
/// with more pages continues with its own requests.
pub async fn fetch_with_reads(
    client: &Client,
    person_types: bool,
    targets: &[Target],
) -> Result<(Catalog, Reads), ClientError> {
    tracing::info!("reading handlers and pay systems");
    let mut lists = vec![
        (CATALOG_KEYS[0], Request::handler_list()),
        (CATALOG_KEYS[1], Request::pay_system_list()),
    ];
    if person_types {
        lists.push((CATALOG_KEYS[2], Request::person_type_list(0)));
    }
    let first: Vec<Target> = targets
        .iter()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .take(MAX_BATCH - lists.len())
        .collect();
    let mut commands: Vec<(String, Request)> = lists
        .iter()
        .map(|(key, request)| ((*key).to_owned(), request.clone()))
        .collect();
    commands.extend(
        first
            .iter()
            .map(|t| (target_key(*t), Request::settings_get(*t))),
    );
    let outcome = client.batch(&commands, false).await?;
    // Each list: its first page from the batch, the rest (if any) page by page.
    let mut pages = BTreeMap::new();
    for (key, request) in &lists {
        let method = request.method.clone();
        let first_page = match outcome.entries.get(*key) {
            Some(BatchEntry::Ok(result)) => result.clone(),
            Some(BatchEntry::Failed(error)) => {
                return Err(ClientError::Portal {
                    method,
                    error: error.clone(),
                });
            }
            Some(BatchEntry::NotRun) | None => {
                return Err(decode(&method, "the batch gave no answer for it".into()));
            }
        };
        let mut all = vec![first_page];
        if let Some(next) = outcome.next.get(*key) {
            all.extend(read_pages(client, request.clone().from_start(*next)).await?);
        }
        pages.insert(*key, all);
    }
    let mut handlers = Vec::new();
    for page in &pages[CATALOG_KEYS[0]] {
        handlers.extend(parse_handlers(page).map_err(|d| decode(METHOD_HANDLER_LIST, d))?);
    }
    let mut pay_systems = BTreeMap::new();
    for page in &pages[CATALOG_KEYS[1]] {
        pay_systems.extend(parse_pay_systems(page).map_err(|d| decode(METHOD_PAY_SYSTEM_LIST, d))?);
    }
    let person_types = match pages.get(CATALOG_KEYS[2]) {
        Some(all) => {
            let mut types = BTreeMap::new();
            for page in all {
                types.extend(
                    parse_person_types(page).map_err(|d| decode(METHOD_PERSON_TYPE_LIST, d))?,
                );
            }
            Some(types)
        }
        None => None,
    };
    let mut reads = Reads::new();
    for target in first {
        let _span = target.span().entered();
        reads.insert(target, target_read(&outcome, target)?);
    }
    Ok((
        Catalog {
            handlers,
            pay_systems,
            person_types,
        },
        reads,
    ))
}

/// What the batch `outcome` says of `target`'s `settings.get`.
fn target_read(
    outcome: &crate::bitrix::BatchOutcome,
    target: Target,
) -> Result<Result<LiveSettings, ReadError>, ClientError> {
    match outcome.entries.get(&target_key(target)) {
        // One answer of an unexpected shape makes that target unreadable, not the whole
        // read.
        Some(BatchEntry::Ok(result)) => {
            Ok(parse_settings(result).map_err(|e| ReadError::Unreadable(e.to_string())))
        }
        Some(BatchEntry::Failed(error)) => Ok(Err(ReadError::Refused(error.clone()))),
        Some(BatchEntry::NotRun) | None => Err(ClientError::Decode {
            method: METHOD_BATCH.into(),
            detail: format!("the portal reported neither a result nor an error for {target}"),
        }),
    }
}

/// At most this many pages of one list are read (of 50 rows: half a million rows).
const MAX_PAGES: usize = 10_000;

/// The `result` of every page of a list: `first`, then the same request from the
/// envelope's `next` while the portal gives one (bitrix24-api.md §7). A `next` that
/// does not move forward, or more than [`MAX_PAGES`] pages, is an error, not a loop.
pub(super) async fn read_pages(client: &Client, first: Request) -> Result<Vec<Value>, ClientError> {
    let method = first.method.clone();
    let mut pages = Vec::new();
    let mut request = first;
    let mut start = 0;
    while pages.len() < MAX_PAGES {
        let (result, page) = client.call_page(&request).await?;
        pages.push(result);
        match page.next {
            None => return Ok(pages),
            Some(next) if next > start => {
                start = next;
                request = request.from_start(next);
            }
            Some(next) => {
                return Err(decode(
                    &method,
                    format!("the answer's `next` ({next}) does not move past {start}"),
                ));
            }
        }
    }
    Err(decode(
        &method,
        format!("the list goes on for more than {MAX_PAGES} pages"),
    ))
}

pub(super) fn decode(method: &str, detail: String) -> ClientError {
    ClientError::Decode {
        method: method.to_owned(),
        detail,
    }
}

/// Reads the settings of each target with `sale.paysystem.settings.get`, batched at
/// most [`MAX_BATCH`] per HTTP request. A target the portal refused (`ACCESS_DENIED`
/// for a built-in pay system, `ERROR_CHECK_FAILURE` for an unknown one, ...) maps to
/// its error; a failure of a whole request is the `Err`. Duplicate targets are read
/// once. Up to [`Client::parallelism`] requests are in flight at once.
pub async fn read_settings(client: &Client, targets: &[Target]) -> Result<Reads, ClientError> {
    let targets: Vec<Target> = targets
        .iter()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    // Up to the client's parallelism in flight at once, each in the bucket's order; the
    // answers are kept by target, so what is read does not depend on which came first.
    // The first request that fails ends the read (the others are dropped).
    use futures_util::stream::{self, StreamExt, TryStreamExt};
    // Owned chunks: a future borrowing a chunk of `targets` would not be `Send` (the
    // closure would have to be general over its lifetime).
    let chunks: Vec<Vec<Target>> = targets.chunks(MAX_BATCH).map(<[Target]>::to_vec).collect();
    let reads = stream::iter(chunks)
        .map(|chunk| async move {
            let commands: Vec<(String, Request)> = chunk
                .iter()
                .map(|t| (target_key(*t), Request::settings_get(*t)))
                .collect();
            let outcome = client.batch(&commands, false).await?;
            let mut read = Vec::with_capacity(chunk.len());
            for target in chunk {
                let _span = target.span().entered();
                read.push((target, target_read(&outcome, target)?));
            }
            Ok::<_, ClientError>(read)
        })
        .buffer_unordered(client.parallelism());
    reads
        .try_fold(BTreeMap::new(), |mut all, read| async move {
            all.extend(read);
            Ok(all)
        })
        .await
}

/// Why one target's settings could not be read.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadError {
    /// The portal refused to read it (`ACCESS_DENIED`, `ERROR_CHECK_FAILURE`, ...).
    Refused(PortalError),
    /// The portal answered, in a shape paysync cannot read (a list where a value
    /// belongs, say): what was wrong, in words.
    Unreadable(String),
}

impl ReadError {
    /// Why, in words: the portal's code and description, or what was wrong.
    pub fn into_reason(self) -> String {
        match self {
            ReadError::Refused(e) => format!("{}: {}", e.code, e.description),
            ReadError::Unreadable(why) => why,
        }
    }
}
