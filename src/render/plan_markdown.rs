//! The plan as a pull-request comment (`--format markdown`), also appended to
//! `$GITHUB_STEP_SUMMARY` by `plan`. Review first: what needs attention is on top, always
//! visible; the details are folded, most serious target first.
//!
//! ```markdown
//! <!-- paysync-plan -->
//! ### paysync plan
//! <sub>paysync 0.4.0 · portal <code>example.bitrix24.ru</code> · compared with the last-applied state</sub>
//!
//! **Plan: 1 target to change, 2 settings (1 to add, 1 to change).**
//!
//! #### Needs attention (1)
//!
//! - **paySystem 11 / personType 1** <code>PAYMENT_ID</code>: value source changes: <code>PAYMENT:ACCOUNT_NUMBER</code> → <code>"0"</code> (<code>manifests/acme.yaml:7</code>)
//!
//! | | settings | targets |
//! |---|---:|---:|
//! | to change | 1 | 1 |
//!
//! <details><summary>paySystem 11 / personType 1: 1 needs attention, 1 to change (manifests/acme.yaml:4)</summary>
//!
//! ```diff
//! ! PAYMENT_ID: PAYMENT:ACCOUNT_NUMBER -> "0"
//! ```
//!
//! </details>
//! ```
//!
//! What it owns:
//!
//! - **Order**: the hidden [`MARKER`] (a CI step finds its own comment by it and edits it
//!   in place), a header line (paysync version, portal host — never credentials —,
//!   environment, commit and CI run from the CI's variables), the note on what was cut
//!   (when something was), the summary line, the "Needs attention" list (every change
//!   whose [`Risk`] needs attention, most serious first, each with its `file:line`; a
//!   secret rotated under one reference in several places is one item), the warnings, a
//!   table of counts (rows that are all zero left out), one fold per target, most
//!   serious first, with its counts in the title, then the secrets not checked, one line
//!   per reference in one fold: by value to a reviewer, so that hundreds of secrets not
//!   checked never push a change out (issue 23). Settings only recorded in the state
//!   (live already equals desired) are not shown, as in the text plan.
//! - **Size**: never more than [`GITHUB_COMMENT_LIMIT`] characters (Unicode scalar
//!   values, as GitHub counts them, not bytes). The attention list is kept whole (only a
//!   list that alone would pass the limit is cut); folds are left out from the least
//!   serious target on, and the note at the top says how many and where the whole plan is
//!   (the saved plan the CI run uploads; `paysync show plan.json`).
//! - **Escaping**: codes, values, names, file paths and secret references are user data.
//!   Outside code blocks they are written with HTML character references for every
//!   character that means something to Markdown or HTML (`|` cannot split a table cell,
//!   `</summary>` or `</details>` cannot close the fold, `@name` does not mention anyone).
//!   Inside the `diff` block every line starts with a diff marker and values are
//!   JSON-escaped (no raw newline), so no line can be a closing fence; the fence is also
//!   longer than any run of backticks in the block. Long values are cut to [`VALUE_CHARS`]
//!   characters.
//! - **Secrets**: only their reference (`(secret env:NAME, changed)`); the live value of a
//!   secret code is `(secret)`. Fingerprints are never shown.
//!
//! Changes are marked `!` rather than the text plan's `~`, because GitHub's `diff`
//! highlighting colours `+`, `-` and `!` lines and leaves `~` plain.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::plan::risk::Risk;
use crate::plan::{Action, Change, Plan, TargetPlan, Value};
use crate::render::target_label;
use crate::wording::plural;

use super::markdown_folds::{Comment, Fold, Setting, folds, rotation_item, unchecked_fold};
pub use super::markdown_values::VALUE_CHARS;
use super::markdown_values::{
    about_parts, clip, clipped, code, commit_part, left_out, secret_ref, text, value,
};
use super::plan_text::summary_line;
use super::secret_groups::{self, SecretGroup, renamed, secret_to_secret};

/// GitHub's limit on a comment body, in characters.
pub const GITHUB_COMMENT_LIMIT: usize = 65_535;
/// A hidden marker so a CI step can find and update its own comment: the first line of
/// the comment of a plan without an environment (see [`marker`]).
pub const MARKER: &str = "<!-- paysync-plan -->";
/// At most this many continuation comments follow the first; what does not fit in them
/// is left out, and the note says where the whole plan is.
pub const MAX_CONTINUATIONS: usize = 10;
/// Room kept below the limit for the note on what was cut.
const NOTE_RESERVE: usize = 1_000;
/// Room kept after the attention list for the warnings and the table.
const AFTER_ATTENTION: usize = 6_000;
/// At most this many warnings are listed.
const WARNINGS_SHOWN: usize = 20;

/// What was left out to keep within the limit.
#[derive(Default)]
struct LeftOut {
    attention: usize,
    /// The targets whose fold is in a continuation comment, named as the note names them.
    moved: Vec<String>,
    /// Targets whose fold was not written, or written in part.
    targets: usize,
    shown_targets: usize,
    unchecked: usize,
}

/// The first line of the comment of a plan (`part` 1) or of one of its continuations
/// (2, 3, …): `<!-- paysync-plan -->`, with the environment when there is one
/// (`<!-- paysync-plan env:prod part:2 -->`), so that each environment's comments are
/// found and edited in place, apart from the others'.
pub fn marker(environment: Option<&str>, part: usize) -> String {
    super::markdown_values::marker("plan", environment, part)
}

/// Renders the plan as GitHub-flavoured Markdown of at most [`GITHUB_COMMENT_LIMIT`]
/// characters: the first comment of [`render_parts`].
pub fn render(plan: &Plan) -> String {
    render_parts(plan).swap_remove(0)
}

/// The plan as pull-request comments of at most [`GITHUB_COMMENT_LIMIT`] characters each:
/// the first, then the folds that did not fit in it, in order, in at most
/// [`MAX_CONTINUATIONS`] more (Atlantis splits a long plan the same way). The first says
/// which targets' details follow.
pub fn render_parts(plan: &Plan) -> Vec<String> {
    let environment = plan.about.environment.as_deref();
    let mut head = Comment::default();
    head.push(&marker(environment, 1));
    head.push("\n### paysync plan\n");
    head.push(&header_line(plan));
    head.push("\n\n");

    let mut body = Comment::default();
    body.push("**");
    body.push(&summary_line(&plan.summary()));
    body.push("**\n\n");
    let budget = GITHUB_COMMENT_LIMIT - head.chars - NOTE_RESERVE;
    let mut left = LeftOut::default();

    // Needs attention: always visible, whole unless it alone would pass the limit. A
    // secret rotated under one reference in several places is one item.
    let rotations: Vec<SecretGroup<'_>> = secret_groups::rotations(plan)
        .into_iter()
        .filter(|g| g.uses.len() > 1)
        .collect();
    let grouped: BTreeMap<Setting<'_>, usize> = rotations
        .iter()
        .enumerate()
        .flat_map(|(i, g)| {
            g.uses
                .iter()
                .map(move |(t, c)| ((t.target, c.code.as_str()), i))
        })
        .collect();
    let mut listed = vec![false; rotations.len()];
    // An explicit delete of a handler or pay system first: the most a plan can do.
    let deletes = plan
        .objects
        .iter()
        .filter(|o| o.action == crate::plan::objects::ObjectAction::Delete)
        .map(delete_item);
    let attention: Vec<String> = deletes
        .chain(plan.attention_by_risk().into_iter().filter_map(|(t, c)| {
            match grouped.get(&(t.target, c.code.as_str())) {
                Some(&i) if listed[i] => None,
                Some(&i) => {
                    listed[i] = true;
                    Some(rotation_item(plan, &rotations[i]))
                }
                None => Some(attention_item(plan, t, c)),
            }
        }))
        .collect();
    if !attention.is_empty() {
        body.push(&format!("#### Needs attention ({})\n\n", attention.len()));
        let end = budget.saturating_sub(AFTER_ATTENTION);
        for (i, item) in attention.iter().enumerate() {
            if !body.fits(item.chars().count() + 200, end) {
                left.attention = attention.len() - i;
                body.push(&format!(
                    "- … and {} that need attention, left out to stay within the limit\n",
                    plural(left.attention, "more change")
                ));
                break;
            }
            body.push(item);
        }
        body.push("\n");
    }

    if !plan.warnings.is_empty() {
        body.push("> [!WARNING]\n");
        for w in plan.warnings.iter().take(WARNINGS_SHOWN) {
            let (shown, more) = clip(w);
            body.push(&format!("> - {}{}\n", text(shown), left_out(more)));
        }
        if plan.warnings.len() > WARNINGS_SHOWN {
            body.push(&format!(
                "> - … and {}\n",
                plural(plan.warnings.len() - WARNINGS_SHOWN, "more warning")
            ));
        }
        body.push("\n");
    }

    body.push(&counts_table(plan));
    // By value to a reviewer: the diffs of what changes, then the secrets not checked.
    let (count, folds) = folds(plan, &grouped);
    left.shown_targets = count;
    let mut rest = folds.peekable();
    let mut placed = 0;
    while rest.next_if(|f| f.push_whole(&mut body, budget)).is_some() {
        placed += 1;
    }
    let mut parts = Vec::new();
    if rest.peek().is_none() {
        left.unchecked = unchecked_fold(plan, &mut body, budget);
    } else {
        parts = continuations(plan, &mut rest, count - placed, &mut left);
    }

    if left.attention + left.targets + left.unchecked + left.moved.len() > 0 {
        head.push(&truncation_note(plan, &left, parts.len()));
    }
    head.push(&body.text);
    debug_assert!(
        head.chars <= GITHUB_COMMENT_LIMIT,
        "{} > {GITHUB_COMMENT_LIMIT}",
        head.chars
    );
    parts.insert(0, head.text);
    parts
}

/// The continuation comments: the folds that did not fit in the first (`rest`, `left_over`
/// of them), in order, then the secrets not checked. A fold larger than a whole comment is
/// cut between two lines.
fn continuations(
    plan: &Plan,
    rest: &mut std::iter::Peekable<impl Iterator<Item = Fold>>,
    left_over: usize,
    left: &mut LeftOut,
) -> Vec<String> {
    let environment = plan.about.environment.as_deref();
    let mut parts: Vec<Comment> = Vec::new();
    let mut taken = 0;
    let mut unchecked_done = !plan
        .targets
        .iter()
        .any(|t| t.changes.iter().any(|c| c.action == Action::Unchecked));
    while parts.len() < MAX_CONTINUATIONS && (rest.peek().is_some() || !unchecked_done) {
        let n = parts.len() + 2;
        let mut part = Comment::default();
        part.push(&marker(environment, n));
        part.push(&format!(
            "\n### paysync plan, continued ({n})\n<sub>the details that did not fit in the first comment</sub>\n\n"
        ));
        let budget = GITHUB_COMMENT_LIMIT - NOTE_RESERVE;
        let first = taken;
        while let Some(fold) = rest.next_if(|f| f.push_whole(&mut part, budget)) {
            left.moved.push(fold.label);
            taken += 1;
        }
        if taken == first
            && let Some(fold) = rest.next()
        {
            // Not even alone in a comment: as much of it as fits.
            if fold.push_cut(&mut part, budget) {
                left.targets += 1;
                left.moved.push(fold.label);
            }
            taken += 1;
        }
        if rest.peek().is_none() && !unchecked_done {
            let before = part.chars;
            left.unchecked = unchecked_fold(plan, &mut part, budget);
            // Placed (or cut), unless nothing of it fitted after the folds.
            unchecked_done = part.chars > before || taken == first;
        }
        parts.push(part);
    }
    left.targets += left_over - taken;
    parts.into_iter().map(|p| p.text).collect()
}

/// `<sub>paysync 0.4.0 · portal <code>host</code> · … </sub>`
fn header_line(plan: &Plan) -> String {
    let about = &plan.about;
    let mut parts = about_parts(about);
    parts.extend(commit_part(about));
    if let Some(url) = about.run_url.as_deref().filter(|u| plain_url(u)) {
        parts.push(format!("[CI run]({url})"));
    }
    parts.push(
        if plan.refreshed {
            "compared with the last-applied state and the live portal"
        } else {
            "compared with the last-applied state (changes made outside paysync: `--refresh`)"
        }
        .to_owned(),
    );
    format!("<sub>{}</sub>", parts.join(" · "))
}

/// Whether `url` can be a Markdown link as it is: http(s), and no character that would
/// end or change the link.
fn plain_url(url: &str) -> bool {
    (url.starts_with("https://") || url.starts_with("http://"))
        && url.len() <= 500
        && url
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~:/?#=&%+".contains(c))
}

/// The attention item of a handler or pay system to delete: what it affects.
fn delete_item(o: &crate::plan::objects::ObjectPlan) -> String {
    let mut item = format!(
        "- **{}** deleted from the portal (<code>delete: true</code>)",
        text(&o.name())
    );
    if let Some(note) = &o.note {
        let _ = write!(item, ": {}", text(note));
    }
    if let Some(at) = &o.at {
        let _ = write!(item, " (<code>{}</code>)", text(&at.to_string()));
    }
    item.push('\n');
    item
}

/// One item of the attention list: target, code, what happens, `file:line`.
fn attention_item(plan: &Plan, t: &TargetPlan, c: &Change) -> String {
    let risk = c.risk();
    let mut item = format!(
        "- **{}** <code>{}</code>: {}",
        text(&target_label(&t.target, &plan.names)),
        text(&code(c)),
        risk.reason()
    );
    match risk {
        Risk::EmptySecret | Risk::Forget => {
            if let Some(secret) = c.after.as_ref().filter(|_| risk == Risk::EmptySecret) {
                let _ = write!(item, " (<code>{}</code>)", text(&secret_ref(Some(secret))));
            } else if let Some(before) = &c.before {
                let _ = write!(
                    item,
                    "; last applied <code>{}</code>",
                    text(&value(Some(before)))
                );
            }
        }
        _ if secret_to_secret(c) => {
            if let Some(old) = renamed(c) {
                let _ = write!(item, ": <code>{}</code> →", text(&clipped(&old)));
            } else {
                item.push(':');
            }
            let _ = write!(
                item,
                " <code>{}</code>",
                text(&secret_ref(c.after.as_ref()))
            );
        }
        _ => {
            let _ = write!(
                item,
                ": <code>{}</code> → <code>{}</code>",
                text(&value(c.before.as_deref())),
                text(&value(c.after.as_ref()))
            );
        }
    }
    match t.location(c) {
        Some(at) => {
            let _ = write!(item, " (<code>{}</code>)", text(&at.to_string()));
        }
        None => item.push_str(" (no longer declared in the manifests)"),
    }
    item.push('\n');
    item
}

/// Settings and targets per kind of change; rows that are all zero are left out (and the
/// whole table when every row is).
fn counts_table(plan: &Plan) -> String {
    type Counts = fn(&Change) -> bool;
    let kinds: [(&str, Counts); 5] = [
        ("to add", |c| c.action == Action::Add),
        ("to change", |c| {
            matches!(c.action, Action::Update | Action::Drift)
        }),
        ("of which secrets", |c| {
            matches!(c.action, Action::Update | Action::Drift)
                && matches!(c.after, Some(Value::Secret { .. }))
        }),
        ("of which changed outside paysync", |c| {
            c.action == Action::Drift
        }),
        ("no longer managed", |c| c.action == Action::Forget),
    ];
    let mut rows = String::new();
    for (label, counts) in kinds {
        let mut settings = 0;
        let mut targets = 0;
        for t in &plan.targets {
            let n = t.changes.iter().filter(|c| counts(c)).count();
            settings += n;
            targets += usize::from(n > 0);
        }
        if settings > 0 {
            let _ = writeln!(rows, "| {label} | {settings} | {targets} |");
        }
    }
    if rows.is_empty() {
        return rows;
    }
    format!("| | settings | targets |\n|---|---:|---:|\n{rows}\n")
}

/// Targets named by the note on what follows in continuation comments, at most.
/// Characters the names of the targets that follow may take in the note: the note must
/// stay within [`NOTE_RESERVE`] whatever the names (a name is portal text of any length).
const MOVED_NAMES_CHARS: usize = 400;

/// The note at the top when something is in continuation comments (which targets) or
/// was left out (what, and where the whole plan is).
fn truncation_note(plan: &Plan, left: &LeftOut, continuations: usize) -> String {
    let mut note = String::from("> [!NOTE]\n");
    if !left.moved.is_empty() {
        // The first targets, as many as fit; the continuation comments name them all.
        let mut named = String::new();
        let mut count = 0;
        for label in &left.moved {
            let more = label.chars().count() + 2;
            if count > 0 && named.chars().count() + more > MOVED_NAMES_CHARS {
                break;
            }
            if count > 0 {
                named.push_str(", ");
            }
            named.push_str(label);
            count += 1;
        }
        if named.chars().count() > MOVED_NAMES_CHARS {
            // One name longer than the room: cut, never inside a character reference
            // (`&#95;`), which would show half of it.
            let mut cut: String = named.chars().take(MOVED_NAMES_CHARS).collect();
            if let Some(amp) = cut.rfind('&')
                && !cut[amp..].contains(';')
            {
                cut.truncate(amp);
            }
            named = format!("{cut}…");
        }
        let more = left.moved.len() - count;
        let more = if more > 0 {
            format!(", and {more} more")
        } else {
            String::new()
        };
        let next = if continuations == 1 {
            "the next comment".to_owned()
        } else {
            format!("the next {continuations} comments")
        };
        let _ = writeln!(
            note,
            "> The details of {} of {} are in {next}: {named}{more}.",
            left.moved.len(),
            plural(left.shown_targets, "target"),
        );
    }
    let mut what = Vec::new();
    if left.targets > 0 {
        what.push(format!(
            "the details of {} of {}",
            left.targets,
            plural(left.shown_targets, "target")
        ));
    }
    if left.unchecked > 0 {
        what.push(format!(
            "{} not checked",
            plural(left.unchecked, "secret reference")
        ));
    }
    if left.attention > 0 {
        what.push(plural(left.attention, "change that needs attention"));
    }
    if what.is_empty() {
        return format!("{note}\n");
    }
    let whole = match plan.about.run_url.as_deref().filter(|u| plain_url(u)) {
        Some(url) => format!(
            "the saved plan uploaded by [the CI run]({url}) (read it with `paysync show plan.json`)"
        ),
        None => "the saved plan (`paysync plan --out plan.json`, then `paysync show plan.json`)"
            .to_owned(),
    };
    let attention = if left.attention == 0 {
        " Every change that needs attention is listed."
    } else {
        ""
    };
    let _ = write!(
        note,
        "> Cut to GitHub's 65,535-character comment limit: {} left out.{attention} \
         The whole plan: {whole}.\n\n",
        what.join(", ")
    );
    note
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::{Fingerprinter, cheap_scheme};
    use crate::model::Location;
    use crate::model::SOURCE_VALUE;
    use crate::model::Target;
    use crate::plan::TargetPlan;
    use crate::secrets::{Redacted, SecretRef};

    /// The comment with the version in the header written as `[version]`.
    fn r(plan: &Plan) -> String {
        render(plan).replace(env!("CARGO_PKG_VERSION"), "[version]")
    }

    fn plain(value: &str) -> Value {
        Value::Plain {
            source: SOURCE_VALUE.into(),
            value: value.into(),
        }
    }

    fn secret(name: &str, value: Option<&str>) -> Value {
        Value::Secret {
            source: SOURCE_VALUE.into(),
            secret: Box::new(SecretRef::Env { name: name.into() }),
            fingerprint: value.and_then(|v| {
                Fingerprinter::new(cheap_scheme(), None, None)
                    .fingerprint(&Redacted::new(v.to_owned()))
            }),
            empty: false,
        }
    }

    fn target(ps: u64, pt: u64, manifest: Option<&str>, changes: Vec<Change>) -> TargetPlan {
        TargetPlan {
            target: Target {
                pay_system: ps,
                person_type: pt,
            },
            manifest: manifest.and_then(Location::parse),
            reference: None,
            changes,
        }
    }

    fn small_plan() -> Plan {
        Plan {
            about: Default::default(),
            names: Default::default(),
            warnings: Vec::new(),
            unresolved: Vec::new(),
            objects: Vec::new(),
            refreshed: false,
            targets: vec![target(
                11,
                1,
                Some("manifests/acme.yaml:4"),
                vec![
                    Change::new(
                        "PAYMENT_ID",
                        Action::Add,
                        None,
                        Some(Value::Plain {
                            source: "PAYMENT".into(),
                            value: "ACCOUNT_NUMBER".into(),
                        }),
                    ),
                    Change::new(
                        "PS_WORK_MODE_IFRAME",
                        Action::Update,
                        Some(plain("TEST")),
                        Some(plain("REGULAR")),
                    ),
                    Change::new("OLD_CODE", Action::Forget, Some(plain("x")), None),
                ],
            )],
        }
    }

    #[test]
    fn a_small_plan() {
        insta::assert_snapshot!(r(&small_plan()));
    }

    #[test]
    fn warnings_are_shown_escaped_even_without_changes() {
        let plan = Plan {
            warnings: vec!["paySystem 11 / personType 1: the portal did not return X|<b>".into()],
            ..Plan::default()
        };
        let out = r(&plan);
        assert!(
            out.contains(
                "> [!WARNING]\n> - paySystem 11 / personType 1&#58; the portal did not return X&#124;&#60;b&#62;\n"
            ),
            "{out}"
        );
        let text = crate::render::plan_text::render(&plan, false);
        assert!(
            text.ends_with("No changes.\nWarning: paySystem 11 / personType 1: the portal did not return X|<b>\n"),
            "{text}"
        );
    }

    #[test]
    fn no_changes_is_the_marker_and_the_summary_line() {
        let out = r(&Plan::default());
        assert_eq!(
            out,
            format!(
                "{MARKER}\n### paysync plan\n<sub>paysync [version] · compared with the \
                 last-applied state (changes made outside paysync: `--refresh`)</sub>\n\n\
                 **No changes.**\n\n"
            )
        );
    }

    #[test]
    fn a_plan_with_secrets_and_drift() {
        let key = Fingerprinter::new(cheap_scheme(), None, None);
        let planned = key
            .fingerprint(&Redacted::new("CANARY-value".to_owned()))
            .unwrap();
        let plan = Plan {
            about: Default::default(),
            names: Default::default(),
            warnings: Vec::new(),
            unresolved: Vec::new(),
            objects: Vec::new(),
            refreshed: true,
            targets: vec![
                target(
                    11,
                    1,
                    Some("manifests/acme.yaml:4"),
                    vec![
                        Change::new(
                            "PS_WORK_MODE_IFRAME",
                            Action::Drift,
                            Some(Value::Live {
                                source: Some("VALUE".into()),
                                value: Some("TEST".into()),
                            }),
                            Some(plain("REGULAR")),
                        ),
                        Change::new(
                            "REST_SERVICE_ID_IFRAME",
                            Action::Record,
                            None,
                            Some(plain("00412")),
                        ),
                        Change::new(
                            "REST_SERVICE_KEY_IFRAME",
                            Action::Update,
                            Some(secret("ACME_KEY", Some("old"))),
                            Some(Value::Secret {
                                source: SOURCE_VALUE.into(),
                                secret: Box::new(SecretRef::Env {
                                    name: "ACME_KEY".into(),
                                }),
                                fingerprint: Some(planned.clone()),
                                empty: false,
                            }),
                        ),
                    ],
                ),
                target(
                    12,
                    0,
                    Some("manifests/acme.yaml:12"),
                    vec![
                        Change::new(
                            "API_TOKEN",
                            Action::Unchecked,
                            Some(secret("ACME_TOKEN", Some("t"))),
                            Some(secret("ACME_TOKEN", None)),
                        ),
                        Change::new(
                            "NEW_KEY",
                            Action::Add,
                            None,
                            Some(secret("ACME_NEW_KEY", Some("n"))),
                        ),
                        Change::new(
                            "REST_SERVICE_KEY_IFRAME",
                            Action::Drift,
                            Some(Value::Hidden {
                                source: Some("VALUE".into()),
                            }),
                            Some(secret("ACME_KEY_12", Some("k"))),
                        ),
                    ],
                ),
                target(
                    13,
                    0,
                    None,
                    vec![Change::new(
                        "PS_CHANGE_STATUS_PAY",
                        Action::Forget,
                        Some(plain("Y")),
                        None,
                    )],
                ),
            ],
        };
        let out = r(&plan);
        assert!(out.contains("(secret env:ACME_KEY, changed)"), "{out}");
        assert!(!out.contains("CANARY"), "{out}");
        assert!(!out.contains(&format!("{planned:?}")), "{out}");
        insta::assert_snapshot!(out);
    }

    /// 3,000 targets of 20 settings: far over the limit.
    fn large_plan() -> Plan {
        Plan {
            about: Default::default(),
            names: Default::default(),
            warnings: Vec::new(),
            unresolved: Vec::new(),
            objects: Vec::new(),
            refreshed: false,
            targets: (0..3_000u64)
                .map(|ps| {
                    target(
                        100 + ps,
                        1,
                        Some(&format!("manifests/ps{ps}.yaml:1")),
                        (0..20)
                            .map(|i| {
                                Change::new(
                                    &format!("SETTING_{i:02}"),
                                    Action::Add,
                                    None,
                                    Some(plain(&format!("value number {i} of pay system {ps}"))),
                                )
                            })
                            .collect(),
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn a_plan_over_the_budget_is_cut_with_the_summary_intact() {
        let plan = large_plan();
        let out = r(&plan);
        let chars = out.chars().count();
        assert!(chars <= GITHUB_COMMENT_LIMIT, "{chars} characters");
        assert!(chars > GITHUB_COMMENT_LIMIT - 5_000, "budget used: {chars}");
        assert!(
            out.contains(
                "\n**Plan: 3000 targets to change, 60000 settings (60000 to add, 0 to change).**\n"
            ),
            "{}",
            &out[..500]
        );
        assert!(
            out.contains("| to add | 60000 | 3000 |"),
            "the counts are whole"
        );
        // What follows in the continuation comments, and what was left out even from
        // them, is said before the summary, with where the whole plan is.
        let note = out.find("> [!NOTE]\n> The details of ").expect("a note");
        assert!(note < out.find("**Plan:").unwrap());
        assert!(
            out.contains("are in the next 10 comments: "),
            "{}",
            &out[..2_000]
        );
        assert!(out.contains("> Cut to GitHub's 65,535-character comment limit: the details of "));
        let parts = render_parts(&plan);
        assert_eq!(parts.len(), 1 + MAX_CONTINUATIONS);
        for (i, part) in parts.iter().enumerate().skip(1) {
            assert!(part.starts_with(&format!("<!-- paysync-plan part:{} -->\n", i + 1)));
            assert!(part.chars().count() <= GITHUB_COMMENT_LIMIT);
        }
        assert!(out.contains("`paysync show plan.json`"));
        // Every fold that was opened is closed, and the fence with it.
        assert_eq!(
            out.matches("<details>").count(),
            out.matches("\n</details>\n\n").count()
        );
        assert_eq!(
            out.matches("```diff\n").count() * 2,
            out.matches("```").count()
        );
        // The snapshot: the head and the tail (the middle is more of the same).
        let lines: Vec<&str> = out.lines().collect();
        let shown = format!(
            "{}\n[… {} lines …]\n{}",
            lines[..16].join("\n"),
            lines.len() - 16 - 8,
            lines[lines.len() - 8..].join("\n")
        );
        insta::assert_snapshot!(shown);
    }

    /// The comment without its folds: what a reviewer sees without a click.
    fn outside_folds(out: &str) -> String {
        let mut visible = String::new();
        let mut depth = 0usize;
        for l in out.lines() {
            if l.starts_with("<details>") {
                depth += 1;
            } else if l == "</details>" {
                depth -= 1;
            } else if depth == 0 {
                visible.push_str(l);
                visible.push('\n');
            }
        }
        visible
    }

    /// 300 targets of 20 ordinary value changes each, and in two of them what a reviewer
    /// must not miss: a value source change (PAYMENT field to a literal "0") and a code no
    /// longer managed.
    fn plan_with_two_risky_changes_among_300_targets() -> Plan {
        let mut targets: Vec<TargetPlan> = (0..300u64)
            .map(|ps| {
                let mut t = target(
                    100 + ps,
                    1,
                    Some(&format!("manifests/ps{ps}.yaml:1")),
                    (0..20)
                        .map(|i| {
                            let mut c = Change::new(
                                &format!("DESCRIPTION_{i:02}"),
                                Action::Update,
                                Some(plain(&format!("old text {i} of pay system {ps}"))),
                                Some(plain(&format!("new text {i} of pay system {ps}"))),
                            );
                            c.at = Location::parse(&format!("manifests/ps{ps}.yaml:{}", 3 + i));
                            c
                        })
                        .collect(),
                );
                t.changes.sort_by(|a, b| a.code.cmp(&b.code));
                t
            })
            .collect();
        let mut planted = Change::new(
            "PAYMENT_ID",
            Action::Update,
            Some(Value::Plain {
                source: "PAYMENT".into(),
                value: "ACCOUNT_NUMBER".into(),
            }),
            Some(plain("0")),
        );
        planted.at = Location::parse("manifests/ps250.yaml:27");
        targets[250].changes.push(planted);
        targets[290].changes.push(Change::new(
            "PS_CHANGE_STATUS_PAY",
            Action::Forget,
            Some(plain("Y")),
            None,
        ));
        for t in &mut targets {
            t.changes.sort_by(|a, b| a.code.cmp(&b.code));
        }
        Plan {
            targets,
            ..Plan::default()
        }
    }

    #[test]
    fn a_risky_change_among_300_targets_is_visible_at_the_top_of_a_cut_comment() {
        let out = r(&plan_with_two_risky_changes_among_300_targets());
        assert!(
            out.chars().count() <= GITHUB_COMMENT_LIMIT,
            "{}",
            out.chars().count()
        );
        let visible = outside_folds(&out);
        assert!(
            visible.contains(
                "<code>PAYMENT&#95;ID</code>: value source changes: \
                 <code>PAYMENT&#58;ACCOUNT&#95;NUMBER</code> → <code>&#34;0&#34;</code> \
                 (<code>manifests/ps250.yaml&#58;27</code>)"
            ),
            "{visible}"
        );
        assert!(
            visible.contains("<code>PS&#95;CHANGE&#95;STATUS&#95;PAY</code>: no longer managed"),
            "{visible}"
        );
        assert!(
            visible.contains("(<code>manifests/ps290.yaml&#58;1</code>)"),
            "{visible}"
        );
        // The top says what was cut, before the summary.
        assert!(visible.starts_with(&format!("{MARKER}\n### paysync plan\n<sub>")));
        let note = visible.find("> [!NOTE]").expect("the note on what was cut");
        assert!(note < visible.find("**Plan:").unwrap(), "{visible}");
        // The two risky targets' folds come first, the most serious first.
        let folds: Vec<&str> = out.split("<details><summary>").skip(1).take(2).collect();
        assert!(
            folds[0].starts_with("paySystem 390 / personType 1: 1 needs attention"),
            "{}",
            folds[0]
        );
        assert!(
            folds[1].starts_with("paySystem 350 / personType 1: 1 needs attention"),
            "{}",
            folds[1]
        );
        insta::assert_snapshot!(visible);
    }

    #[test]
    fn forty_unchecked_secrets_and_no_change_fit_in_a_few_lines() {
        let plan = Plan {
            targets: (0..300u64)
                .filter(|ps| ps % 7 == 0 && *ps < 280)
                .map(|ps| {
                    target(
                        100 + ps,
                        1,
                        Some(&format!("manifests/ps{ps}.yaml:1")),
                        vec![Change::new(
                            "REST_SERVICE_KEY_IFRAME",
                            Action::Unchecked,
                            Some(secret(&format!("KEY_{ps}"), Some("k"))),
                            Some(secret(&format!("KEY_{ps}"), None)),
                        )],
                    )
                })
                .collect(),
            ..Plan::default()
        };
        assert_eq!(plan.summary().not_checked, 40);
        let out = r(&plan);
        let visible = outside_folds(&out);
        assert!(visible.lines().count() <= 15, "{visible}");
        assert_eq!(
            out.matches("REST&#95;SERVICE&#95;KEY&#95;IFRAME").count(),
            40
        );
        insta::assert_snapshot!(visible);
    }

    #[test]
    fn non_ascii_is_counted_in_characters_not_bytes() {
        // Each value is 4 bytes a character: a byte count would stop at a quarter.
        let plan = Plan {
            about: Default::default(),
            names: Default::default(),
            warnings: Vec::new(),
            unresolved: Vec::new(),
            objects: Vec::new(),
            refreshed: false,
            targets: (0..400u64)
                .map(|ps| {
                    target(
                        ps,
                        0,
                        Some("m.yaml:1"),
                        vec![Change::new(
                            "X",
                            Action::Add,
                            None,
                            Some(plain(&"😀".repeat(190))),
                        )],
                    )
                })
                .collect(),
        };
        let out = r(&plan);
        let chars = out.chars().count();
        assert!(chars <= GITHUB_COMMENT_LIMIT, "{chars}");
        assert!(out.len() > GITHUB_COMMENT_LIMIT * 2, "{} bytes", out.len());
    }

    #[test]
    fn one_huge_target_is_cut_inside_its_fold() {
        let plan = Plan {
            about: Default::default(),
            names: Default::default(),
            warnings: Vec::new(),
            unresolved: Vec::new(),
            objects: Vec::new(),
            refreshed: false,
            targets: vec![target(
                11,
                1,
                Some("m.yaml:1"),
                (0..5_000)
                    .map(|i| Change::new(&format!("C{i:04}"), Action::Add, None, Some(plain("v"))))
                    .collect(),
            )],
        };
        let parts = render_parts(&plan);
        assert_eq!(parts.len(), 2);
        assert!(
            parts[0].contains("> The details of 1 of 1 target are in the next comment: paySystem 11 / personType 1."),
            "{}",
            parts[0]
        );
        let out = &parts[1];
        assert!(out.chars().count() <= GITHUB_COMMENT_LIMIT);
        assert!(out.contains("more settings of this target not shown\n```\n\n</details>\n\n"));
        assert!(
            parts[0].contains("the details of 1 of 1 target left out"),
            "{}",
            parts[0]
        );
    }

    #[test]
    fn user_data_cannot_break_the_table_the_fold_or_the_fence() {
        let hostile = "a|b</summary></details>\n```\n<script>x</script> **@team** [l](http://x)";
        let plan = Plan {
            about: Default::default(),
            names: Default::default(),
            warnings: Vec::new(),
            unresolved: Vec::new(),
            objects: Vec::new(),
            refreshed: false,
            targets: vec![
                target(
                    11,
                    1,
                    Some("dir|x</summary></details>@me/m.yaml:1"),
                    vec![
                        Change::new("ODD|CODE`", Action::Add, None, Some(plain(hostile))),
                        Change::new(
                            "FIELD",
                            Action::Add,
                            None,
                            Some(Value::Plain {
                                source: "PROPERTY".into(),
                                value: "````\n````".into(),
                            }),
                        ),
                        Change::new(
                            "LONG",
                            Action::Update,
                            Some(plain(&"x".repeat(500))),
                            Some(plain("short")),
                        ),
                    ],
                ),
                target(
                    12,
                    0,
                    Some("m.yaml:9"),
                    vec![Change::new("OK", Action::Add, None, Some(plain("y")))],
                ),
            ],
        };
        let out = r(&plan);
        // The fence of the first target is longer than the backtick runs inside it, and
        // no line inside a fence can close it: each starts with a diff marker.
        assert!(out.contains("\n`````diff\n"), "{out}");
        let mut outside = String::new();
        let mut fence: Option<String> = None;
        for l in out.lines() {
            match &fence {
                None if l.starts_with("```") => {
                    fence = Some(l.trim_end_matches("diff").to_owned());
                }
                None => {
                    outside.push_str(l);
                    outside.push('\n');
                }
                Some(f) if l == f => fence = None,
                Some(_) => assert!(
                    l.starts_with(['+', '-', '!', '#']) && !l.starts_with("```"),
                    "{l}"
                ),
            }
        }
        assert!(fence.is_none(), "every fence is closed: {out}");
        // Outside the fences: both folds open and close exactly once, on their own
        // lines, and no user data is markup.
        assert_eq!(outside.matches("<details>").count(), 2, "{outside}");
        assert_eq!(outside.matches("\n</details>\n").count(), 2, "{outside}");
        assert_eq!(outside.matches("</summary>").count(), 2, "{outside}");
        assert!(!outside.contains("<script>"), "{outside}");
        assert!(!outside.contains("@me"), "{outside}");
        assert!(!outside.contains("dir|x"), "{outside}");
        assert!(out.contains("… (+300 characters)"), "{out}");
        insta::assert_snapshot!(out);
    }

    /// 5,000 targets, 714 of them with a secret not checked (700 sharing one reference),
    /// four changed: the pull request's comment (issue 23).
    fn five_thousand_targets(changed: bool) -> Plan {
        let mut targets = Vec::new();
        for ps in 0..5_000u64 {
            let mut changes = Vec::new();
            if ps < 714 {
                let name = if ps < 700 {
                    "PS_SECRET".to_owned()
                } else {
                    format!("KEY_{ps}")
                };
                changes.push(Change::new(
                    "REST_SERVICE_KEY",
                    Action::Unchecked,
                    Some(secret(&name, Some("k"))),
                    Some(secret(&name, None)),
                ));
            }
            if changed && [3, 1_000, 2_500, 4_999].contains(&ps) {
                changes.push(Change::new(
                    "PS_IS_TEST",
                    Action::Update,
                    Some(plain("Y")),
                    Some(plain("N")),
                ));
            }
            if !changes.is_empty() {
                targets.push(target(
                    ps,
                    1,
                    Some(&format!(
                        "manifests/m{}.yaml:{}",
                        ps / 100,
                        ps % 100 * 8 + 1
                    )),
                    changes,
                ));
            }
        }
        Plan {
            targets,
            ..Plan::default()
        }
    }

    #[test]
    fn at_5000_targets_with_714_unchecked_secrets_every_changed_targets_diff_is_shown() {
        let out = r(&five_thousand_targets(true));
        for ps in [3, 1_000, 2_500, 4_999] {
            let fold = format!("<details><summary>paySystem {ps} / personType 1: ");
            assert!(out.contains(&fold), "{ps} missing:\n{out}");
        }
        assert_eq!(out.matches("! PS_IS_TEST: \"Y\" -> \"N\"").count(), 4);
        // The unchecked secrets: one line per reference, after the diffs.
        assert!(
            out.contains("<code>env&#58;PS&#95;SECRET</code> in 700 targets"),
            "{out}"
        );
        assert_eq!(out.matches("env&#58;PS&#95;SECRET").count(), 1, "{out}");
        assert!(
            out.find("PS_IS_TEST").unwrap() < out.find("secret references not checked").unwrap()
        );
        assert!(!out.contains("[!NOTE]"), "nothing is cut:\n{out}");
        assert!(out.chars().count() < 10_000, "{}", out.chars().count());
    }

    #[test]
    fn a_no_change_plan_at_5000_targets_is_a_few_lines() {
        let out = r(&five_thousand_targets(false));
        let visible = outside_folds(&out);
        assert!(visible.lines().count() < 15, "{visible}");
        assert!(out.chars().count() < 5_000, "{}", out.chars().count());
        assert!(!out.contains("[!NOTE]"), "{out}");
    }

    #[test]
    fn a_rotated_secret_shows_once_per_reference_and_a_renamed_one_old_to_new() {
        let mut targets: Vec<TargetPlan> = (0..50u64)
            .map(|ps| {
                target(
                    ps,
                    1,
                    Some(&format!("m.yaml:{}", ps * 10 + 1)),
                    vec![Change::new(
                        "REST_SERVICE_KEY",
                        Action::Update,
                        Some(secret("PS_SECRET", Some("old"))),
                        Some(secret("PS_SECRET", Some("new"))),
                    )],
                )
            })
            .collect();
        targets.push(target(
            77,
            1,
            Some("m.yaml:900"),
            vec![Change::new(
                "API_KEY",
                Action::Update,
                Some(secret("OLD_KEY", Some("v"))),
                Some(secret("NEW_KEY", Some("v2"))),
            )],
        ));
        let out = r(&Plan {
            targets,
            ..Plan::default()
        });
        assert!(out.contains("#### Needs attention (2)"), "{out}");
        assert_eq!(out.matches("env&#58;PS&#95;SECRET").count(), 1, "{out}");
        assert!(
            out.contains("secret changes (same reference, new value), in 50 targets"),
            "{out}"
        );
        assert!(out.contains("… and 47 more"), "{out}");
        // No fold repeats the rotation; the renamed reference shows where it came from.
        assert!(!out.contains("(secret env:PS_SECRET, changed)"), "{out}");
        assert!(
            out.contains("<code>env&#58;OLD&#95;KEY</code> → <code>env&#58;NEW&#95;KEY</code>"),
            "{out}"
        );
        assert!(
            out.contains("! API_KEY (secret env:OLD_KEY -> env:NEW_KEY, changed)"),
            "{out}"
        );
    }

    #[test]
    fn no_longer_managed_is_not_a_red_deletion() {
        let out = r(&Plan {
            targets: vec![target(
                1,
                1,
                Some("m.yaml:1"),
                vec![Change::new("OLD", Action::Forget, Some(plain("x")), None)],
            )],
            ..Plan::default()
        });
        assert!(out.contains("\n. OLD (no longer managed"), "{out}");
        assert!(!out.contains("\n- OLD"), "{out}");
    }

    /// Regression (issue 23): the note naming the targets continued in the next comments
    /// took 20 names whatever their length, and a plan of 300 targets with long names
    /// came to 66,005 characters (docs/screenshot.sh).
    #[test]
    fn a_cut_comment_naming_long_target_names_stays_within_the_limit() {
        let mut names = crate::model::Names::default();
        let mut targets = Vec::new();
        for ps in 0..300u64 {
            names
                .pay_systems
                .insert(100 + ps, format!("AcmePay shop {ps} {}", "n".repeat(300)));
            targets.push(target(
                100 + ps,
                1,
                Some(&format!("manifests/shop-{ps}.yaml:1")),
                (0..3)
                    .map(|i| {
                        Change::new(
                            &format!("CODE_{i}"),
                            Action::Update,
                            Some(plain(&"x".repeat(150))),
                            Some(plain(&"y".repeat(150))),
                        )
                    })
                    .collect(),
            ));
        }
        let plan = Plan {
            targets,
            names,
            ..Plan::default()
        };
        let parts = render_parts(&plan);
        assert!(parts.len() > 1, "{}", parts.len());
        for part in &parts {
            assert!(
                part.chars().count() <= GITHUB_COMMENT_LIMIT,
                "{}",
                part.chars().count()
            );
        }
        let note = parts[0]
            .lines()
            .find(|l| l.starts_with("> The details of"))
            .unwrap();
        assert!(note.chars().count() < NOTE_RESERVE, "{note}");
        assert!(note.contains(" more."), "{note}");
    }
}
