//! The plan as a pull-request comment (`--format markdown`), also appended to
//! `$GITHUB_STEP_SUMMARY` by `plan`.
//!
//! ```markdown
//! <!-- paysync-plan -->
//! ### paysync plan
//!
//! **Plan: 1 target to change, 2 settings (1 to add, 1 to change).**
//!
//! | target | to add | to change | no longer managed | secrets changed | drift |
//! |---|---:|---:|---:|---:|---:|
//! | paySystem 11 / personType 1 | 1 | 1 | 0 | 1 | 0 |
//!
//! <details><summary>paySystem 11 / personType 1 (manifests/acme.yaml:4)</summary>
//!
//! ```diff
//! + PAYMENT_ID = PAYMENT:ACCOUNT_NUMBER
//! ! REST_SERVICE_KEY_IFRAME (secret env:ACME_KEY, changed)
//! ```
//!
//! </details>
//! ```
//!
//! What it owns:
//!
//! - **Order**: the hidden [`MARKER`] (a CI step finds its own comment by it and edits it
//!   in place), the summary line, a table of counts per target with a total, then each
//!   target's changed settings folded in `<details>`. Settings only recorded in the state
//!   (live already equals desired) are not shown, as in the text plan.
//! - **Size**: never more than [`GITHUB_COMMENT_LIMIT`] characters (Unicode scalar
//!   values, as GitHub counts them, not bytes). The table and the details each have a
//!   budget; past it the rest is left out with a note pointing to the JSON plan, while
//!   the marker, the summary line and the table's total row are always kept.
//! - **Escaping**: codes, values, file paths and secret references are user data. Outside
//!   code blocks they are written with HTML character references for every character
//!   that means something to Markdown or HTML (`|` cannot split a table cell, `</summary>`
//!   or `</details>` cannot close the fold, `@name` does not mention anyone). Inside the
//!   `diff` block every line starts with a diff marker and values are JSON-escaped (no raw
//!   newline), so no line can be a closing fence; the fence is also longer than any run
//!   of backticks in the block. Long values are cut to [`VALUE_CHARS`] characters.
//! - **Secrets**: only their reference (`(secret env:NAME, changed)`); the live value of a
//!   secret code is `(secret)`. Fingerprints are never shown.
//!
//! Changes are marked `!` rather than the text plan's `~`, because GitHub's `diff`
//! highlighting colours `+`, `-` and `!` lines and leaves `~` plain.

use std::fmt::Write;

use crate::model::SOURCE_VALUE;
use crate::plan::{Action, Change, Plan, TargetPlan, Value};
use crate::wording::plural;

use super::plan_text::summary_line;

/// GitHub's limit on a comment body, in characters.
pub const GITHUB_COMMENT_LIMIT: usize = 65_535;
/// A hidden marker so a CI step can find and update its own comment.
pub const MARKER: &str = "<!-- paysync-plan -->";
/// Room kept below the limit for the truncation note and the closing lines.
const NOTE_RESERVE: usize = 1_000;
/// The table's rows may take this many characters; the remaining targets are summed up
/// in one row, and the total row is always written.
const TABLE_BUDGET: usize = 16_000;
/// A value (or code) longer than this is cut, saying how much was left out.
pub const VALUE_CHARS: usize = 200;

/// The comment being written, with its length in characters kept as it grows (counting
/// the whole string again for every line would be quadratic on large plans).
struct Comment {
    text: String,
    chars: usize,
}

impl Comment {
    fn push(&mut self, s: &str) {
        self.chars += s.chars().count();
        self.text.push_str(s);
    }

    fn fits(&self, more: usize, budget: usize) -> bool {
        self.chars + more <= budget
    }
}

/// Counts of one target's row in the table.
#[derive(Default, Clone, Copy)]
struct Row {
    add: usize,
    change: usize,
    forget: usize,
    secrets: usize,
    /// Secrets not readable at plan time: shown beside the changed ones.
    unchecked: usize,
    drift: usize,
}

impl Row {
    fn of(target: &TargetPlan) -> Row {
        let mut row = Row::default();
        for c in &target.changes {
            match c.action {
                Action::Add => row.add += 1,
                Action::Update | Action::Drift => {
                    row.change += 1;
                    if matches!(c.after, Some(Value::Secret { .. })) {
                        row.secrets += 1;
                    }
                    if c.action == Action::Drift {
                        row.drift += 1;
                    }
                }
                Action::Forget => row.forget += 1,
                Action::Unchecked => row.unchecked += 1,
                Action::Record => {}
            }
        }
        row
    }

    fn plus(self, o: Row) -> Row {
        Row {
            add: self.add + o.add,
            change: self.change + o.change,
            forget: self.forget + o.forget,
            secrets: self.secrets + o.secrets,
            unchecked: self.unchecked + o.unchecked,
            drift: self.drift + o.drift,
        }
    }

    fn secrets_cell(&self) -> String {
        if self.unchecked == 0 {
            self.secrets.to_string()
        } else {
            format!("{} ({} not checked)", self.secrets, self.unchecked)
        }
    }

    fn cells(&self) -> String {
        format!(
            "{} | {} | {} | {} | {} |",
            self.add,
            self.change,
            self.forget,
            self.secrets_cell(),
            self.drift
        )
    }
}

/// Renders the plan as GitHub-flavoured Markdown of at most [`GITHUB_COMMENT_LIMIT`]
/// characters.
pub fn render(plan: &Plan) -> String {
    let limit = GITHUB_COMMENT_LIMIT;
    let mut out = Comment {
        text: String::new(),
        chars: 0,
    };
    out.push(MARKER);
    out.push("\n### paysync plan\n\n**");
    out.push(&summary_line(&plan.summary()));
    out.push("**\n\n");
    let shown: Vec<&TargetPlan> = plan
        .targets
        .iter()
        .filter(|t| t.changes.iter().any(|c| c.action != Action::Record))
        .collect();
    if shown.is_empty() {
        return out.text;
    }
    out.push(if plan.refreshed {
        "<sub>Manifests compared with the last-applied state and the live portal (`--refresh`).</sub>\n\n"
    } else {
        "<sub>Manifests compared with the last-applied state; changes made outside paysync are shown with `--refresh`.</sub>\n\n"
    });

    // The table: one row per target within its budget, then the rest in one row, then
    // the total.
    out.push(
        "| target | to add | to change | no longer managed | secrets changed | drift |\n\
         |---|---:|---:|---:|---:|---:|\n",
    );
    let table_end = out.chars + TABLE_BUDGET.min(limit / 4);
    let mut total = Row::default();
    let mut rest = Row::default();
    let mut rows_left_out = 0;
    for t in &shown {
        let row = Row::of(t);
        total = total.plus(row);
        if rows_left_out == 0 {
            let line = format!("| {} | {}\n", text(&t.target.to_string()), row.cells());
            if out.fits(line.chars().count(), table_end) {
                out.push(&line);
                continue;
            }
        }
        rows_left_out += 1;
        rest = rest.plus(row);
    }
    if rows_left_out > 0 {
        out.push(&format!(
            "| _{}_ | {}\n",
            plural(rows_left_out, "more target"),
            rest.cells()
        ));
    }
    if shown.len() > 1 {
        let cells = format!(
            "**{}** | **{}** | **{}** | **{}** | **{}** |",
            total.add,
            total.change,
            total.forget,
            total.secrets_cell(),
            total.drift
        );
        out.push(&format!("| **total** | {cells}\n"));
    }
    out.push("\n");

    // The details, one fold per target, while they fit.
    let budget = limit.saturating_sub(NOTE_RESERVE);
    let mut cut_short: Option<(usize, usize)> = None; // (targets not shown in full, settings left out)
    for (i, t) in shown.iter().enumerate() {
        let lines: Vec<String> = t
            .changes
            .iter()
            .filter(|c| c.action != Action::Record)
            .map(line)
            .collect();
        let fence = fence_for(&lines);
        let open = format!(
            "<details><summary>{}</summary>\n\n{fence}diff\n",
            match &t.manifest {
                Some(m) => format!("{} ({})", t.target, text(m)),
                None => format!("{} (no longer declared in the manifests)", t.target),
            }
        );
        let close = format!("{fence}\n\n</details>\n\n");
        let close_chars = close.chars().count();
        // A "… more" line inside the fence, should this target be cut.
        let more_room = 80;
        let first = lines.first().map_or(0, |l| l.chars().count() + 1);
        if !out.fits(
            open.chars().count() + first + close_chars + more_room,
            budget,
        ) {
            cut_short = Some((shown.len() - i, 0));
            break;
        }
        out.push(&open);
        for (n, l) in lines.iter().enumerate() {
            if !out.fits(l.chars().count() + 1 + close_chars + more_room, budget) {
                let left = lines.len() - n;
                out.push(&format!(
                    "# … {} of this target not shown\n",
                    plural(left, "more setting")
                ));
                cut_short = Some((shown.len() - i, left));
                break;
            }
            out.push(l);
            out.push("\n");
        }
        out.push(&close);
        if cut_short.is_some() {
            break;
        }
    }
    if let Some((targets, _)) = cut_short {
        let mut note = format!(
            "> [!NOTE]\n> Truncated to stay within GitHub's 65,535-character comment limit: \
             {targets} of {} not shown in full",
            plural(shown.len(), "target"),
        );
        if rows_left_out > 0 {
            let _ = write!(note, ", {rows_left_out} summed up in one table row");
        }
        note.push_str(
            ". The full plan: `paysync plan --format json` (or the plan saved with `--out`).\n",
        );
        out.push(&note);
    } else if rows_left_out > 0 {
        out.push(&format!(
            "> [!NOTE]\n> {} summed up in one table row to keep the comment short; the details \
             above list every target. For programs: `paysync plan --format json`.\n",
            plural(rows_left_out, "target")
        ));
    }
    debug_assert!(out.chars <= limit, "{} > {limit}", out.chars);
    out.text
}

/// User data for Markdown text or HTML (table cells, `<summary>`): every character that
/// means something to either, and every control character, as a numeric character
/// reference. References are decoded only after the Markdown structure is parsed, so
/// they cannot open or close anything.
fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        if ch.is_control()
            || matches!(
                ch,
                '&' | '<'
                    | '>'
                    | '"'
                    | '\''
                    | '|'
                    | '\\'
                    | '`'
                    | '*'
                    | '_'
                    | '['
                    | ']'
                    | '#'
                    | '~'
                    | '!'
                    | '@'
                    | ':'
                    | '$'
            )
        {
            let _ = write!(out, "&#{};", u32::from(ch));
        } else {
            out.push(ch);
        }
    }
    out
}

/// A code fence longer than any run of backticks in `lines` (at least three).
fn fence_for(lines: &[String]) -> String {
    let longest = lines
        .iter()
        .map(|l| {
            l.split(|c| c != '`')
                .map(str::len)
                .max()
                .unwrap_or_default()
        })
        .max()
        .unwrap_or_default();
    "`".repeat(longest.max(2) + 1)
}

/// At most [`VALUE_CHARS`] characters of `s` and how many were left out.
fn clip(s: &str) -> (&str, usize) {
    match s.char_indices().nth(VALUE_CHARS) {
        Some((end, _)) => (&s[..end], s[end..].chars().count()),
        None => (s, 0),
    }
}

fn left_out(n: usize) -> String {
    if n == 0 {
        String::new()
    } else {
        format!("… (+{n} characters)")
    }
}

/// `s` JSON-escaped without quotes: no raw control characters (so no line break).
fn escaped(s: &str) -> String {
    // JSON's escapes, and also DEL, C1 controls and the invisible characters that
    // reorder text: markdown is printed to terminals too.
    let mut out = String::with_capacity(s.len());
    crate::render::push_quoted_inner(&mut out, s);
    out
}

/// A setting code (upper-case letters, digits and `_` as a rule; anything else escaped).
fn code(c: &Change) -> String {
    let (shown, more) = clip(&c.code);
    format!("{}{}", escaped(shown), left_out(more))
}

/// A literal value JSON-quoted, a field source as `SOURCE:FIELD`, as in the text plan.
fn source_value(source: Option<&str>, value: &str) -> String {
    let (shown, more) = clip(value);
    match source {
        Some(s) if s != SOURCE_VALUE => {
            format!("{}:{}{}", escaped(s), escaped(shown), left_out(more))
        }
        _ => format!("\"{}\"{}", escaped(shown), left_out(more)),
    }
}

fn value(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Live { value: None, .. }) => "(unset)".into(),
        Some(Value::Plain { source, value }) => source_value(Some(source), value),
        Some(Value::Live {
            source,
            value: Some(value),
        }) => source_value(source.as_deref(), value),
        Some(secret @ Value::Secret { source, .. }) => {
            let mut s = String::from("(");
            if source != SOURCE_VALUE {
                let _ = write!(s, "{}, ", escaped(source));
            }
            let _ = write!(s, "secret {}", secret_ref(v));
            if let Some(reason) = secret.unchecked_reason() {
                let _ = write!(s, ", {reason}");
            }
            s.push(')');
            s
        }
        Some(Value::Hidden { .. }) => "(secret)".into(),
    }
}

/// `env:NAME` or `file:PATH` (the path as written in the manifest), escaped and cut.
fn secret_ref(v: Option<&Value>) -> String {
    match v {
        Some(Value::Secret { secret, .. }) => {
            let reference = secret.to_string();
            let (shown, more) = clip(&reference);
            format!("{}{}", escaped(shown), left_out(more))
        }
        _ => String::new(),
    }
}

/// Whether a change replaces one secret value with another of the same source, shown as
/// `(secret env:NAME, changed)` rather than `before -> after`.
fn secret_to_secret(c: &Change) -> bool {
    let before = match &c.before {
        Some(Value::Secret { source, .. }) => Some(Some(source.as_str())),
        Some(Value::Hidden { source }) => Some(source.as_deref()),
        _ => None,
    };
    match (before, &c.after) {
        // A hidden live value whose source the portal did not report: values only.
        (Some(None), Some(Value::Secret { .. })) => true,
        (Some(Some(b)), Some(Value::Secret { source, .. })) => b == source,
        _ => false,
    }
}

/// One line of the `diff` block.
fn line(c: &Change) -> String {
    let code = code(c);
    match c.action {
        Action::Add => format!("+ {code} = {}", value(c.after.as_ref())),
        Action::Forget => format!("- {code} (no longer managed; left as is on the portal)"),
        Action::Unchecked => format!(
            "! {code} (secret {}, {})",
            secret_ref(c.after.as_ref()),
            c.after
                .as_ref()
                .and_then(Value::unchecked_reason)
                .unwrap_or("not checked")
        ),
        Action::Update | Action::Drift => {
            let drift = c.action == Action::Drift;
            if secret_to_secret(c) {
                format!(
                    "! {code} (secret {}, changed{})",
                    secret_ref(c.after.as_ref()),
                    if drift { " outside paysync" } else { "" }
                )
            } else {
                format!(
                    "! {code}: {} -> {}{}",
                    value(c.before.as_ref()),
                    value(c.after.as_ref()),
                    if drift {
                        " (changed outside paysync)"
                    } else {
                        ""
                    }
                )
            }
        }
        Action::Record => format!("  {code} = {}", value(c.after.as_ref())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::{Fingerprinter, cheap_scheme};
    use crate::model::Target;
    use crate::plan::TargetPlan;
    use crate::secrets::{Redacted, SecretRef};

    fn plain(value: &str) -> Value {
        Value::Plain {
            source: SOURCE_VALUE.into(),
            value: value.into(),
        }
    }

    fn secret(name: &str, value: Option<&str>) -> Value {
        Value::Secret {
            source: SOURCE_VALUE.into(),
            secret: SecretRef::Env { name: name.into() },
            fingerprint: value.and_then(|v| {
                Fingerprinter::new(cheap_scheme(), None, None)
                    .fingerprint(&Redacted::new(v.to_owned()))
            }),
            empty: false,
        }
    }

    fn change(code: &str, action: Action, before: Option<Value>, after: Option<Value>) -> Change {
        Change {
            code: code.into(),
            action,
            before,
            after,
        }
    }

    fn target(ps: u64, pt: u64, manifest: Option<&str>, changes: Vec<Change>) -> TargetPlan {
        TargetPlan {
            target: Target {
                pay_system: ps,
                person_type: pt,
            },
            manifest: manifest.map(Into::into),
            changes,
        }
    }

    fn small_plan() -> Plan {
        Plan {
            refreshed: false,
            targets: vec![target(
                11,
                1,
                Some("manifests/acme.yaml:4"),
                vec![
                    change(
                        "PAYMENT_ID",
                        Action::Add,
                        None,
                        Some(Value::Plain {
                            source: "PAYMENT".into(),
                            value: "ACCOUNT_NUMBER".into(),
                        }),
                    ),
                    change(
                        "PS_WORK_MODE_IFRAME",
                        Action::Update,
                        Some(plain("TEST")),
                        Some(plain("REGULAR")),
                    ),
                    change("OLD_CODE", Action::Forget, Some(plain("x")), None),
                ],
            )],
        }
    }

    #[test]
    fn a_small_plan() {
        insta::assert_snapshot!(render(&small_plan()));
    }

    #[test]
    fn no_changes_is_the_marker_and_the_summary_line() {
        let out = render(&Plan::default());
        assert_eq!(
            out,
            format!("{MARKER}\n### paysync plan\n\n**No changes.**\n\n")
        );
    }

    #[test]
    fn a_plan_with_secrets_and_drift() {
        let key = Fingerprinter::new(cheap_scheme(), None, None);
        let planned = key
            .fingerprint(&Redacted::new("CANARY-value".to_owned()))
            .unwrap();
        let plan = Plan {
            refreshed: true,
            targets: vec![
                target(
                    11,
                    1,
                    Some("manifests/acme.yaml:4"),
                    vec![
                        change(
                            "PS_WORK_MODE_IFRAME",
                            Action::Drift,
                            Some(Value::Live {
                                source: Some("VALUE".into()),
                                value: Some("TEST".into()),
                            }),
                            Some(plain("REGULAR")),
                        ),
                        change(
                            "REST_SERVICE_ID_IFRAME",
                            Action::Record,
                            None,
                            Some(plain("00412")),
                        ),
                        change(
                            "REST_SERVICE_KEY_IFRAME",
                            Action::Update,
                            Some(secret("ACME_KEY", Some("old"))),
                            Some(Value::Secret {
                                source: SOURCE_VALUE.into(),
                                secret: SecretRef::Env {
                                    name: "ACME_KEY".into(),
                                },
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
                        change(
                            "API_TOKEN",
                            Action::Unchecked,
                            Some(secret("ACME_TOKEN", Some("t"))),
                            Some(secret("ACME_TOKEN", None)),
                        ),
                        change(
                            "NEW_KEY",
                            Action::Add,
                            None,
                            Some(secret("ACME_NEW_KEY", Some("n"))),
                        ),
                        change(
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
                    vec![change(
                        "PS_CHANGE_STATUS_PAY",
                        Action::Forget,
                        Some(plain("Y")),
                        None,
                    )],
                ),
            ],
        };
        let out = render(&plan);
        assert!(out.contains("(secret env:ACME_KEY, changed)"), "{out}");
        assert!(!out.contains("CANARY"), "{out}");
        assert!(!out.contains(&format!("{planned:?}")), "{out}");
        insta::assert_snapshot!(out);
    }

    /// 3,000 targets of 20 settings: far over the limit.
    fn large_plan() -> Plan {
        Plan {
            refreshed: false,
            targets: (0..3_000u64)
                .map(|ps| {
                    target(
                        100 + ps,
                        1,
                        Some(&format!("manifests/ps{ps}.yaml:1")),
                        (0..20)
                            .map(|i| {
                                change(
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
        let out = render(&plan);
        let chars = out.chars().count();
        assert!(chars <= GITHUB_COMMENT_LIMIT, "{chars} characters");
        assert!(chars > GITHUB_COMMENT_LIMIT - 5_000, "budget used: {chars}");
        assert!(out.starts_with(&format!(
            "{MARKER}\n### paysync plan\n\n**Plan: 3000 targets to change, 60000 settings (60000 to add, 0 to change).**\n"
        )));
        assert!(
            out.contains("| **total** | **60000** | **0** | **0** | **0** | **0** |"),
            "the total row is kept"
        );
        assert!(out.contains("more targets_ |"), "remaining rows summed up");
        assert!(out.contains("`paysync plan --format json`"));
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
            lines[..12].join("\n"),
            lines.len() - 12 - 14,
            lines[lines.len() - 14..].join("\n")
        );
        insta::assert_snapshot!(shown);
    }

    #[test]
    fn non_ascii_is_counted_in_characters_not_bytes() {
        // Each value is 4 bytes a character: a byte count would stop at a quarter.
        let plan = Plan {
            refreshed: false,
            targets: (0..400u64)
                .map(|ps| {
                    target(
                        ps,
                        0,
                        Some("m.yaml:1"),
                        vec![change(
                            "X",
                            Action::Add,
                            None,
                            Some(plain(&"😀".repeat(190))),
                        )],
                    )
                })
                .collect(),
        };
        let out = render(&plan);
        let chars = out.chars().count();
        assert!(chars <= GITHUB_COMMENT_LIMIT, "{chars}");
        assert!(out.len() > GITHUB_COMMENT_LIMIT * 2, "{} bytes", out.len());
    }

    #[test]
    fn one_huge_target_is_cut_inside_its_fold() {
        let plan = Plan {
            refreshed: false,
            targets: vec![target(
                11,
                1,
                Some("m.yaml:1"),
                (0..5_000)
                    .map(|i| change(&format!("C{i:04}"), Action::Add, None, Some(plain("v"))))
                    .collect(),
            )],
        };
        let out = render(&plan);
        assert!(out.chars().count() <= GITHUB_COMMENT_LIMIT);
        assert!(out.contains("more settings of this target not shown\n```\n\n</details>\n\n"));
        assert!(out.contains("1 of 1 target not shown in full"), "{out}");
    }

    #[test]
    fn user_data_cannot_break_the_table_the_fold_or_the_fence() {
        let hostile = "a|b</summary></details>\n```\n<script>x</script> **@team** [l](http://x)";
        let plan = Plan {
            refreshed: false,
            targets: vec![
                target(
                    11,
                    1,
                    Some("dir|x</summary></details>@me/m.yaml:1"),
                    vec![
                        change("ODD|CODE`", Action::Add, None, Some(plain(hostile))),
                        change(
                            "FIELD",
                            Action::Add,
                            None,
                            Some(Value::Plain {
                                source: "PROPERTY".into(),
                                value: "````\n````".into(),
                            }),
                        ),
                        change(
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
                    vec![change("OK", Action::Add, None, Some(plain("y")))],
                ),
            ],
        };
        let out = render(&plan);
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
}
