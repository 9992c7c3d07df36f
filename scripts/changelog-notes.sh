#!/bin/sh
# Prints the CHANGELOG.md section of one version (`## [X.Y.Z] - date`), without its
# heading: the notes of that version's GitHub release. Fails if the section is missing
# or empty, so a release is never cut without its notes.
#   scripts/changelog-notes.sh 0.1.0 [CHANGELOG.md]
set -eu
version="${1:?usage: changelog-notes.sh VERSION [CHANGELOG.md]}"
file="${2:-CHANGELOG.md}"
notes=$(awk -v heading="## [$version]" '
    index($0, "## [") == 1 { inside = (index($0, heading) == 1); next }
    index($0, "[") == 1 && index($0, "]: ") > 0 { next }
    inside { print }
' "$file")
if [ -z "$(printf '%s' "$notes" | tr -d '[:space:]')" ]; then
    echo "changelog-notes: no notes for $version in $file (add a \"## [$version] - DATE\" section)" >&2
    exit 1
fi
printf '%s\n' "$notes"
