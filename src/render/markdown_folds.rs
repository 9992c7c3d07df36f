//! The folded parts of the pull-request comment ([`super::plan_markdown`]): one
//! `<details>` per target with its `diff` block, the targets resolved at apply, the
//! secrets not checked (one line per reference) and a rotated secret's attention item.
//! Each fold is made whole first, so that the comment can place it, move it to a
//! continuation comment, or cut it between two lines.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::markdown_values::{clipped, escaped, fence_for, line, text};
use super::secret_groups::{self, SecretGroup};
use crate::model::Target;
use crate::plan::objects::{FieldChange, ObjectAction, ObjectPlan};
use crate::plan::{Action, Change, Plan, TargetPlan};
use crate::render::target_label;
use crate::wording::plural;

/// A setting as the comment keys it: its target and code.
pub(super) type Setting<'a> = (Target, &'a str);

/// Targets named at most this many times in a line that counts them.
const NAMED: usize = 3;

/// A comment being written, with its length in characters kept as it grows (counting
/// the whole string again for every line would be quadratic on large plans).
#[derive(Default)]
pub(super) struct Comment {
    pub text: String,
    pub chars: usize,
}

impl Comment {
    pub fn push(&mut self, s: &str) {
        self.chars += s.chars().count();
        self.text.push_str(s);
    }

    pub fn fits(&self, more: usize, budget: usize) -> bool {
        self.chars + more <= budget
    }
}

/// One target's fold, made but not placed yet.
pub(super) struct Fold {
    /// The target as the note on what was moved names it (escaped for Markdown).
    pub label: String,
    open: String,
    lines: Vec<String>,
    close: String,
    /// Characters of the whole fold.
    pub chars: usize,
}

impl Fold {
    fn new(label: String, title: &str, lines: Vec<String>) -> Fold {
        let fence = fence_for(&lines);
        let open = format!("<details><summary>{title}</summary>\n\n{fence}diff\n");
        let close = format!("{fence}\n\n</details>\n\n");
        let chars = open.chars().count()
            + close.chars().count()
            + lines.iter().map(|l| l.chars().count() + 1).sum::<usize>();
        Fold {
            label,
            open,
            lines,
            close,
            chars,
        }
    }

    /// Writes the fold whole when it fits in `budget`.
    pub fn push_whole(&self, out: &mut Comment, budget: usize) -> bool {
        if !out.fits(self.chars, budget) {
            return false;
        }
        out.push(&self.open);
        for l in &self.lines {
            out.push(l);
            out.push("\n");
        }
        out.push(&self.close);
        true
    }

    /// Writes as many of the fold's lines as fit in `budget`, then a line saying how many
    /// were left out; false when not even its first line fits.
    pub fn push_cut(&self, out: &mut Comment, budget: usize) -> bool {
        // A "… more" line inside the fence.
        const MORE: usize = 80;
        let close = self.close.chars().count();
        let first = self.lines.first().map_or(0, |l| l.chars().count() + 1);
        if !out.fits(self.open.chars().count() + first + close + MORE, budget) {
            return false;
        }
        out.push(&self.open);
        for (n, l) in self.lines.iter().enumerate() {
            if !out.fits(l.chars().count() + 1 + close + MORE, budget) {
                out.push(&format!(
                    "# … {} of this target not shown\n",
                    plural(self.lines.len() - n, "more setting")
                ));
                break;
            }
            out.push(l);
            out.push("\n");
        }
        out.push(&self.close);
        true
    }
}

/// The changes a target's fold lists.
fn folded(c: &Change) -> bool {
    !matches!(c.action, Action::Record | Action::Unchecked)
}

/// Whether a change of `t` is listed in its fold: not a rotation listed once for its
/// reference (`grouped`).
fn in_fold(grouped: &BTreeMap<Setting<'_>, usize>, t: &TargetPlan, c: &Change) -> bool {
    folded(c) && !grouped.contains_key(&(t.target, c.code.as_str()))
}

/// One fold per target with a change to show, most serious first; a rotation listed
/// once for its reference (`grouped`) is not repeated in them. Then the targets named by
/// a reference not resolved yet, one fold each. With how many there are: each fold is
/// made only when the comment asks for it, so a plan of 200,000 targets makes the few
/// hundred that fit, not all of them.
pub(super) fn folds<'a>(
    plan: &'a Plan,
    grouped: &'a BTreeMap<Setting<'a>, usize>,
) -> (usize, impl Iterator<Item = Fold> + 'a) {
    let mut shown: Vec<&TargetPlan> = plan
        .targets
        .iter()
        .filter(|t| t.changes.iter().any(|c| in_fold(grouped, t, c)))
        .collect();
    shown.sort_by_key(|t| t.risk());
    let count = shown.len() + plan.unresolved.len();
    let targets = shown.into_iter().map(move |t| {
        let changes: Vec<&Change> = t
            .changes
            .iter()
            .filter(|c| in_fold(grouped, t, c))
            .collect();
        let lines = changes
            .iter()
            .map(|c| match super::plan_text::overlay_origin(t, c) {
                Some(at) => format!("{}  (from {})", line(c), escaped(&at.to_string())),
                None => line(c),
            })
            .collect();
        Fold::new(
            text(&target_label(&t.target, &plan.names)),
            &fold_title(plan, t, &changes),
            lines,
        )
    });
    let unresolved = plan.unresolved.iter().map(|t| {
        let reference = text(t.reference.as_deref().unwrap_or_default());
        let when = if plan.creates_pay_system_of(t) {
            "its pay system is created by this apply"
        } else {
            "resolved at apply"
        };
        let title = format!(
            "<code>{reference}</code> ({when}): {} to add ({})",
            t.changes.len(),
            text(
                &t.manifest
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default()
            )
        );
        Fold::new(
            format!("<code>{reference}</code>"),
            &title,
            t.changes.iter().map(line).collect(),
        )
    });
    // Handlers and pay systems first: apply writes them before any setting.
    let objects = plan.objects.iter().map(|o| {
        Fold::new(
            text(&o.name()),
            &object_title(o),
            if o.changes.is_empty() {
                vec![object_summary_line(o)]
            } else {
                o.changes.iter().map(object_line).collect()
            },
        )
    });
    (
        count + plan.objects.len(),
        objects.chain(targets).chain(unresolved),
    )
}

/// `+ handler acmepay: to create, 23 fields (manifests/acme.yaml:1)`.
fn object_title(o: &ObjectPlan) -> String {
    let (sign, what) = match o.action {
        ObjectAction::Create => ("+", "to create"),
        ObjectAction::Adopt => ("+", "to adopt"),
        ObjectAction::Update => ("~", "to update"),
        ObjectAction::Delete => ("-", "to delete"),
        ObjectAction::Forget => (".", "no longer managed; left as is on the portal"),
    };
    let mut title = format!("{sign} <b>{}</b>", text(&o.name()));
    if let Some(id) = o.id {
        let _ = write!(title, " (ID {id})");
    }
    let _ = write!(title, ": {what}");
    if !o.changes.is_empty() {
        let _ = write!(title, ", {}", plural(o.changes.len(), "field"));
    }
    // A create's note (looked up first) is the same for every one: not repeated in
    // each title.
    if let Some(note) = o.note.as_ref().filter(|_| o.action != ObjectAction::Create) {
        let _ = write!(title, "; {}", text(note));
    }
    if let Some(at) = &o.at {
        let _ = write!(title, " (<code>{}</code>)", text(&at.to_string()));
    }
    title
}

/// The `diff` block's one line for an object without field changes.
fn object_summary_line(o: &ObjectPlan) -> String {
    let name = clipped(&o.name());
    match o.action {
        ObjectAction::Delete => format!("- {name} (deleted)"),
        ObjectAction::Forget => format!(". {name} (no longer managed; left as is on the portal)"),
        ObjectAction::Adopt => format!("+ {name} (adopted as it is: no field differs)"),
        ObjectAction::Create | ObjectAction::Update => format!("  {name}"),
    }
}

/// One field of an object's `diff` block.
fn object_line(c: &FieldChange) -> String {
    let quoted = |v: &str| format!("\"{}\"", clipped(v));
    let field = clipped(&c.field);
    match (&c.before, &c.after) {
        (None, Some(after)) => format!("+ {field} = {}", quoted(after)),
        (Some(before), Some(after)) => {
            format!("! {field}: {} -> {}", quoted(before), quoted(after))
        }
        (Some(before), None) => format!("- {field} (was {})", quoted(before)),
        (None, None) => format!("  {field}"),
    }
}

/// `paySystem 11 / personType 1: 1 needs attention, 2 to change (manifests/acme.yaml:4)`
fn fold_title(plan: &Plan, t: &TargetPlan, changes: &[&Change]) -> String {
    let count = |f: fn(&Change) -> bool| changes.iter().filter(|c| f(c)).count();
    let attention = count(|c| c.risk().needs_attention());
    let mut parts = Vec::new();
    if attention > 0 {
        parts.push(format!(
            "{attention} need{} attention",
            if attention == 1 { "s" } else { "" }
        ));
    }
    for (n, what) in [
        (count(|c| c.action == Action::Add), "to add"),
        (
            count(|c| matches!(c.action, Action::Update | Action::Drift)),
            "to change",
        ),
        (count(|c| c.action == Action::Forget), "no longer managed"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {what}"));
        }
    }
    format!(
        "{}: {} ({})",
        text(&target_label(&t.target, &plan.names)),
        parts.join(", "),
        match &t.manifest {
            Some(m) => text(&m.to_string()),
            None => "no longer declared in the manifests".to_owned(),
        }
    )
}

/// A rotated secret used by several settings: the reference, what happens, how many
/// targets, the codes, and the first few targets with their `file:line`.
pub(super) fn rotation_item(plan: &Plan, g: &SecretGroup<'_>) -> String {
    let what = if g.reason == "changed" {
        "secret changes (same reference, new value)"
    } else {
        "secret changed outside paysync: written back"
    };
    let named = g.targets();
    let mut item = format!(
        "- <code>{}</code>: {what}, in {} ({})",
        text(&clipped(&g.reference)),
        plural(named.len(), "target"),
        codes_list(g)
    );
    for (i, t) in named.iter().take(NAMED).enumerate() {
        item.push_str(if i == 0 { ": " } else { ", " });
        let _ = write!(item, "**{}**", text(&target_label(&t.target, &plan.names)));
        if let Some(m) = &t.manifest {
            let _ = write!(item, " (<code>{}</code>)", text(&m.to_string()));
        }
    }
    if named.len() > NAMED {
        let _ = write!(item, ", … and {} more", named.len() - NAMED);
    }
    item.push('\n');
    item
}

/// `<code>KEY</code>, <code>OTHER</code>`: the codes a reference sets.
fn codes_list(g: &SecretGroup<'_>) -> String {
    g.codes
        .iter()
        .map(|c| format!("<code>{}</code>", text(&clipped(c))))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The secrets not checked at plan time: one fold, one line per reference (not per
/// target: one reference is often used by hundreds), within `budget`. Returns how many
/// references were left out.
pub(super) fn unchecked_fold(plan: &Plan, body: &mut Comment, budget: usize) -> usize {
    let groups = secret_groups::unchecked(plan);
    if groups.is_empty() {
        return 0;
    }
    let settings: usize = groups.iter().map(|g| g.uses.len()).sum();
    let close = "\n</details>\n\n";
    let open = format!(
        "<details><summary>{} not checked ({}): apply reads them and writes only what changed</summary>\n\n",
        plural(groups.len(), "secret reference"),
        plural(settings, "setting")
    );
    if !body.fits(open.chars().count() + close.len() + 200, budget) {
        return groups.len();
    }
    body.push(&open);
    let mut left = 0;
    for (i, g) in groups.iter().enumerate() {
        let mut item = format!("- <code>{}</code>", text(&clipped(&g.reference)));
        if g.reason != "not checked" {
            let _ = write!(item, " ({})", g.reason);
        }
        let named = g.targets();
        if named.len() > NAMED {
            let _ = write!(item, " in {}", plural(named.len(), "target"));
        } else {
            let labels: Vec<String> = named
                .iter()
                .map(|t| format!("**{}**", text(&target_label(&t.target, &plan.names))))
                .collect();
            let _ = write!(item, " in {}", labels.join(", "));
        }
        let _ = writeln!(item, " ({})", codes_list(g));
        if !body.fits(item.chars().count() + close.len() + 100, budget) {
            left = groups.len() - i;
            body.push(&format!("- … and {}\n", plural(left, "more reference")));
            break;
        }
        body.push(&item);
    }
    body.push(close);
    left
}
