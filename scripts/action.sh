#!/usr/bin/env bash
# The logic of the paysync GitHub Action (action.yml), kept here so that the test suite
# runs it without GitHub (tests/integration/action.rs).
#
#   action.sh install   install paysync VERSION for this runner (cached), put it on PATH
#   action.sh run       run `paysync COMMAND ARGS` in WORKING_DIRECTORY, set the outputs,
#                       and for a plan on a pull request post or update the comment
#
# Environment (action.yml maps its inputs onto it):
#   PAYSYNC_VERSION        the release to install, e.g. 0.1.0 or v0.1.0
#   PAYSYNC_COMMAND        plan | apply | drift
#   PAYSYNC_ARGS           further arguments, split on white space
#   PAYSYNC_COMMENT        true: post the plan as a pull-request comment, updated in place
#   PAYSYNC_WORKDIR        where paysync runs (default .)
#   PAYSYNC_RELEASE_URL    where the release files are (default: the GitHub release;
#                          a directory in tests)
#   RUNNER_OS, RUNNER_ARCH, RUNNER_TOOL_CACHE, RUNNER_TEMP, GITHUB_PATH, GITHUB_OUTPUT,
#   GITHUB_EVENT_NAME, GITHUB_EVENT_PATH, GITHUB_REPOSITORY: set by GitHub Actions
#   GH_TOKEN               for the comment (`gh api`)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# paysync's marker of its pull-request comment (src/render/plan_markdown.rs, MARKER).
MARKER='<!-- paysync-plan -->'
# GitHub refuses a comment body over this many characters.
COMMENT_LIMIT=65535

fail() {
    echo "::error::paysync action: $*" >&2
    exit 1
}

output() {
    echo "$1=$2" >>"${GITHUB_OUTPUT:?}"
}

install() {
    local version="${PAYSYNC_VERSION:?the version input is empty}"
    version="${version#v}"
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

# Posts BODY_FILE as the pull request's paysync comment, editing the one already there.
comment() {
    local body_file="$1" number="$2"
    local body
    body=$(cat "$body_file")
    if [ "${#body}" -gt "$COMMENT_LIMIT" ]; then
        local note=$'\n\n> [!WARNING]\n> The plan is longer than a comment can be; the full plan is in the job summary and the plan-file output.\n'
        body="${body:0:$((COMMENT_LIMIT - ${#note}))}$note"
    fi
    case "$body" in
        "$MARKER"*) ;;
        *) body="$MARKER"$'\n'"$body" ;;
    esac
    printf '%s' "$body" >"$body_file.sent"
    local existing
    existing=$(gh api --paginate "repos/${GITHUB_REPOSITORY:?}/issues/$number/comments" \
        --jq ".[] | select(.body | startswith(\"$MARKER\")) | .id" | head -n 1)
    if [ -n "$existing" ]; then
        gh api --method PATCH "repos/$GITHUB_REPOSITORY/issues/comments/$existing" \
            -F "body=@$body_file.sent" >/dev/null
        echo "updated the plan comment $existing"
    else
        gh api --method POST "repos/$GITHUB_REPOSITORY/issues/$number/comments" \
            -F "body=@$body_file.sent" >/dev/null
        echo "posted the plan comment"
    fi
}

run() {
    local command="${PAYSYNC_COMMAND:-plan}"
    case "$command" in
        plan | apply | drift) ;;
        *) fail "command must be plan, apply or drift, not '$command'" ;;
    esac
    local args=()
    # shellcheck disable=SC2206 # the args input is split on white space, as documented
    args=(${PAYSYNC_ARGS:-})
    cd "${PAYSYNC_WORKDIR:-.}"
    local out="${RUNNER_TEMP:?}/paysync-$command"
    local code=0
    case "$command" in
        plan)
            # One run: the markdown plan for the comment (and the log), the saved plan for
            # apply. paysync also appends the plan to the job summary itself.
            local plan_file="$out.plan.json"
            paysync plan --format markdown --detailed-exitcode --out "$plan_file" "${args[@]}" \
                >"$out.md" || code=$?
            cat "$out.md"
            if [ "$code" -eq 0 ] || [ "$code" -eq 2 ]; then
                output plan-file "$plan_file"
                output changes "$([ "$code" -eq 2 ] && echo true || echo false)"
                local number
                number=$(pull_request_number)
                if [ "${PAYSYNC_COMMENT:-true}" = true ] && [ -n "$number" ]; then
                    comment "$out.md" "$number"
                fi
            fi
            ;;
        apply | drift)
            paysync "$command" "${args[@]}" || code=$?
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
