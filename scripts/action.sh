#!/usr/bin/env bash
# The logic of the paysync GitHub Action (action.yml), kept here so that the test suite
# runs it without GitHub (tests/integration/action.rs).
#
#   action.sh install   install paysync VERSION for this runner (cached), put it on PATH
#   action.sh run       run `paysync COMMAND ARGS` in WORKING_DIRECTORY, set the outputs,
#                       and for a plan on a pull request post or update its comments:
#                       one per environment (paysync's marker names it), then the
#                       continuations of a plan too long for one, removed when no
#                       longer needed; `rollup` posts the table of several saved plans;
#                       `apply` on a push comments what it did on the merged pull request
#
# Environment (action.yml maps its inputs onto it):
#   PAYSYNC_VERSION        the release to install, e.g. 0.1.0 or v0.1.0; anything else (a
#                          commit SHA or a branch the action is pinned to): the version
#                          in the action's own Cargo.toml
#   PAYSYNC_COMMAND        plan | apply | drift | rollup
#   PAYSYNC_ARGS           further arguments, split on white space (never glob-expanded)
#   PAYSYNC_COMMENT        true: post the plan as a pull-request comment, updated in place
#   PAYSYNC_WORKDIR        where paysync runs (default .)
#   PAYSYNC_RELEASE_URL    where the release files are (default: the GitHub release;
#                          a directory in tests)
#   RUNNER_OS, RUNNER_ARCH, RUNNER_TOOL_CACHE, RUNNER_TEMP, GITHUB_PATH, GITHUB_OUTPUT,
#   GITHUB_EVENT_NAME, GITHUB_EVENT_PATH, GITHUB_REPOSITORY: set by GitHub Actions
#   GH_TOKEN               for the comment (`gh api`)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# paysync's marker of its pull-request comment (src/render/plan_markdown.rs, MARKER): the
# first line of every comment paysync writes starts with this.
MARKER='<!-- paysync-plan -->'
MARKER_PREFIX='<!-- paysync-'
# GitHub refuses a comment body over this many characters.
COMMENT_LIMIT=65535

fail() {
    echo "::error::paysync action: $*" >&2
    exit 1
}

output() {
    echo "$1=$2" >>"${GITHUB_OUTPUT:?}"
}

# The release to install: PAYSYNC_VERSION when it is a version (v1.2.3 or 1.2.3), else
# the version of the action's own copy (pinned to a commit SHA or a branch).
release_version() {
    local version="${PAYSYNC_VERSION:-}"
    version="${version#v}"
    if [[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$ ]]; then
        echo "$version"
        return
    fi
    local own
    own=$(sed -n 's/^version = "\([^"]*\)"$/\1/p' "$here/../Cargo.toml" 2>/dev/null | head -n 1)
    [ -n "$own" ] || fail "'${PAYSYNC_VERSION:-}' is not a paysync version (e.g. 0.1.0): set the version input"
    echo "$own"
}

install() {
    local version
    version=$(release_version)
    local os arch
    case "${RUNNER_OS:-}" in
        Linux) os=Linux ;;
        macOS) os=Darwin ;;
        *) fail "no release binary for the runner OS '${RUNNER_OS:-}' (Linux and macOS runners)" ;;
    esac
    case "${RUNNER_ARCH:-}" in
        X64) arch=x86_64 ;;
        ARM64) arch=aarch64 ;;
        *) fail "no release binary for the runner architecture '${RUNNER_ARCH:-}' (X64 and ARM64)" ;;
    esac
    local dir="${RUNNER_TOOL_CACHE:?}/paysync/$version/$arch-$os"
    if [ -x "$dir/paysync" ]; then
        echo "paysync $version found in the tool cache"
    else
        local base=()
        if [ -n "${PAYSYNC_RELEASE_URL:-}" ]; then
            base=(--base-url "$PAYSYNC_RELEASE_URL")
        fi
        PAYSYNC_INSTALL_OS="$os" PAYSYNC_INSTALL_ARCH="$arch" \
            sh "$here/install.sh" --version "$version" --to "$dir" "${base[@]}" ||
            fail "cannot install paysync $version"
    fi
    echo "$dir" >>"${GITHUB_PATH:?}"
}

# The pull-request number of this event, or nothing.
pull_request_number() {
    [ "${GITHUB_EVENT_NAME:-}" = pull_request ] || return 0
    jq -r '.number // empty' "${GITHUB_EVENT_PATH:?}"
}

# The pull request's comments as "ID<TAB>FIRST LINE", one per line.
list_comments() {
    gh api --paginate "repos/${GITHUB_REPOSITORY:?}/issues/$1/comments" \
        --jq '.[] | [(.id | tostring), (.body | split("\n")[0])] | @tsv'
}

# Posts BODY_FILE as a comment of pull request NUMBER, editing the one whose first line
# is the same marker (listed in EXISTING, from list_comments) instead of adding another.
upsert_comment() {
    local body_file="$1" number="$2" existing="$3"
    local body
    body=$(cat "$body_file")
    if [ "${#body}" -gt "$COMMENT_LIMIT" ]; then
        local note=$'\n\n> [!WARNING]\n> The plan is longer than a comment can be; the full plan is in the job summary and the plan-file output.\n'
        body="${body:0:$((COMMENT_LIMIT - ${#note}))}$note"
    fi
    case "$body" in
        "$MARKER_PREFIX"*) ;;
        *) body="$MARKER"$'\n'"$body" ;;
    esac
    printf '%s' "$body" >"$body_file.sent"
    local marker="${body%%$'\n'*}" id
    id=$(awk -F '\t' -v m="$marker" '$2 == m { print $1; exit }' "$existing")
    if [ -n "$id" ]; then
        gh api --method PATCH "repos/$GITHUB_REPOSITORY/issues/comments/$id" \
            -F "body=@$body_file.sent" >/dev/null
        echo "updated the comment $id ($marker)"
    else
        gh api --method POST "repos/$GITHUB_REPOSITORY/issues/$number/comments" \
            -F "body=@$body_file.sent" >/dev/null
        echo "posted a comment ($marker)"
    fi
}

# Posts the plan's comments: DIR/1.md, 2.md, … (paysync plan --comment-parts), or FALLBACK
# when paysync wrote none; then deletes this plan's continuation comments beyond the last
# part (a shorter plan needs fewer).
post_comments() {
    local dir="$1" fallback="$2" number="$3"
    local existing="$dir.existing" files=() n=1
    list_comments "$number" >"$existing"
    while [ -f "$dir/$n.md" ]; do
        files+=("$dir/$n.md")
        n=$((n + 1))
    done
    [ "${#files[@]}" -gt 0 ] || files=("$fallback")
    local f
    for f in "${files[@]}"; do
        upsert_comment "$f" "$number" "$existing"
    done
    # This plan's marker without its end: continuations are "BASE part:N -->".
    local first
    first=$(head -n 1 "${files[0]}.sent")
    local base="${first% -->}" count="${#files[@]}" id line part
    while IFS=$'\t' read -r id line; do
        case "$line" in
            "$base part:"*" -->") ;;
            *) continue ;;
        esac
        part="${line#"$base part:"}"
        part="${part% -->}"
        if [[ "$part" =~ ^[0-9]+$ ]] && [ "$part" -gt "$count" ]; then
            gh api --method DELETE "repos/$GITHUB_REPOSITORY/issues/comments/$id" >/dev/null
            echo "deleted the comment $id ($line): no longer needed"
        fi
    done <"$existing"
}

run() {
    local command="${PAYSYNC_COMMAND:-plan}"
    case "$command" in
        plan | apply | drift | rollup) ;;
        *) fail "command must be plan, apply, drift or rollup, not '$command'" ;;
    esac
    local args=()
    # Split on white space, as documented, and never glob-expanded (`*` stays `*`).
    read -r -a args <<<"${PAYSYNC_ARGS:-}" || true
    cd "${PAYSYNC_WORKDIR:-.}"
    local out="${RUNNER_TEMP:?}/paysync-$command"
    local code=0
    case "$command" in
        plan)
            # One run: the markdown plan for the comment (and the log), the saved plan for
            # apply. paysync also appends the plan to the job summary itself.
            local plan_file="$out.plan.json"
            rm -rf "$out.comments"
            paysync plan --format markdown --detailed-exitcode --out "$plan_file" \
                --comment-parts "$out.comments" "${args[@]}" >"$out.md" || code=$?
            cat "$out.md"
            if [ "$code" -eq 0 ] || [ "$code" -eq 2 ]; then
                output plan-file "$plan_file"
                output changes "$([ "$code" -eq 2 ] && echo true || echo false)"
                local number
                number=$(pull_request_number)
                if [ "${PAYSYNC_COMMENT:-true}" = true ] && [ -n "$number" ]; then
                    post_comments "$out.comments" "$out.md" "$number"
                fi
            fi
            ;;
        rollup)
            # The table of several environments' saved plans (ARGS), one comment.
            paysync show --format markdown --rollup "${args[@]}" >"$out.md" || code=$?
            cat "$out.md"
            local number
            number=$(pull_request_number)
            if [ "$code" -eq 0 ] && [ "${PAYSYNC_COMMENT:-true}" = true ] && [ -n "$number" ]; then
                post_comments "$out.rollup" "$out.md" "$number"
            fi
            ;;
        apply)
            # What apply did goes to the job summary (paysync writes it) and, after a
            # merge, as a comment on the pull request the commit came from.
            local summary="$out.applied.md"
            : >"$summary"
            GITHUB_STEP_SUMMARY="$summary" paysync apply "${args[@]}" || code=$?
            if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
                cat "$summary" >>"$GITHUB_STEP_SUMMARY"
            fi
            local merged=""
            if [ "${GITHUB_EVENT_NAME:-}" = push ] && [ -s "$summary" ] &&
                [ "${PAYSYNC_COMMENT:-true}" = true ]; then
                merged=$(gh api "repos/${GITHUB_REPOSITORY:?}/commits/${GITHUB_SHA:?}/pulls" \
                    --jq '.[0].number // empty' 2>/dev/null || true)
            fi
            if [ -n "$merged" ]; then
                post_comments "$out.applied" "$summary" "$merged"
            fi
            ;;
        drift)
            paysync drift "${args[@]}" || code=$?
            ;;
    esac
    output exitcode "$code"
    # plan: 0 no changes, 2 changes; anything else fails the step.
    if [ "$code" -ne 0 ] && ! { [ "$command" = plan ] && [ "$code" -eq 2 ]; }; then
        exit "$code"
    fi
}

case "${1:-}" in
    install) install ;;
    run) run ;;
    *) fail "usage: action.sh install|run" ;;
esac
