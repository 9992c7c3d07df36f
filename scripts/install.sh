#!/bin/sh
# Installs a released paysync binary: downloads the archive for this machine from a
# GitHub release, checks it against its published SHA-256, and puts `paysync` in a
# directory. Nothing is installed unless the checksum matches.
#
#   curl -fsSL https://raw.githubusercontent.com/paysync/paysync/v0.1.0/scripts/install.sh \
#     | sh -s -- --version 0.1.0 --to ~/.local/bin
#
# Options:
#   --version X.Y.Z   the release (required)
#   --to DIR          where `paysync` goes (default: $HOME/.local/bin)
#   --base-url URL    where the release's files are (default: the GitHub release of
#                     --version); a directory path or file:// URL reads a local copy
#
# The archive is `paysync-<target>.tar.gz` with `paysync` at its root, beside
# `paysync-<target>.tar.gz.sha256` ("<hex>  <file name>"), as the release workflow
# uploads them. Targets: x86_64/aarch64-unknown-linux-musl, x86_64/aarch64-apple-darwin
# (Windows: download the .zip from the release page). PAYSYNC_INSTALL_OS and
# PAYSYNC_INSTALL_ARCH stand in for `uname -s` and `uname -m` (tests).
set -eu

REPOSITORY="paysync/paysync"
version=""
to="${HOME:-}/.local/bin"
base_url=""

fail() {
    echo "paysync install: $*" >&2
    exit 1
}

while [ $# -gt 0 ]; do
    case "$1" in
        --version) [ $# -ge 2 ] || fail "--version needs a value"; version="${2#v}"; shift 2 ;;
        --to) [ $# -ge 2 ] || fail "--to needs a value"; to="$2"; shift 2 ;;
        --base-url) [ $# -ge 2 ] || fail "--base-url needs a value"; base_url="$2"; shift 2 ;;
        -h | --help) sed -n '2,22p' "$0"; exit 0 ;;
        *) fail "unknown argument: $1 (see --help)" ;;
    esac
done
[ -n "$version" ] || fail "--version is required, e.g. --version 0.1.0"
case "$version" in
    *[!0-9A-Za-z.+-]*) fail "not a version: $version" ;;
esac
[ -n "$base_url" ] || base_url="https://github.com/$REPOSITORY/releases/download/v$version"

os="${PAYSYNC_INSTALL_OS:-$(uname -s)}"
arch="${PAYSYNC_INSTALL_ARCH:-$(uname -m)}"
case "$arch" in
    x86_64 | amd64) arch=x86_64 ;;
    aarch64 | arm64) arch=aarch64 ;;
    *) fail "no release binary for the architecture $arch (x86_64 and aarch64 are built); install from source: cargo install --locked paysync" ;;
esac
case "$os" in
    Linux) target="$arch-unknown-linux-musl" ;;
    Darwin) target="$arch-apple-darwin" ;;
    *) fail "no release binary for $os by this script (Linux and macOS); see the release page, or: cargo install --locked paysync" ;;
esac
archive="paysync-$target.tar.gz"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Copies BASE/NAME to the work directory, from a local directory or over HTTPS.
fetch() {
    case "$base_url" in
        file://*) cp "${base_url#file://}/$1" "$work/$1" ;;
        https://*) curl --proto '=https' --tlsv1.2 -fsSL -o "$work/$1" "$base_url/$1" ;;
        *://*) fail "--base-url must be https://, file:// or a directory: $base_url" ;;
        # A directory, absolute or relative to the current one (dist, ./dist, /srv/dist).
        *) [ -d "$base_url" ] || fail "--base-url: no directory $base_url"
           cp "$base_url/$1" "$work/$1" ;;
    esac || fail "cannot get $1 from $base_url"
}
fetch "$archive"
fetch "$archive.sha256"

expected=$(cut -d ' ' -f 1 <"$work/$archive.sha256")
if command -v sha256sum >/dev/null 2>&1; then
    actual=$(sha256sum "$work/$archive" | cut -d ' ' -f 1)
elif command -v shasum >/dev/null 2>&1; then
    actual=$(shasum -a 256 "$work/$archive" | cut -d ' ' -f 1)
else
    fail "neither sha256sum nor shasum is installed: cannot check the download"
fi
if [ -z "$expected" ] || [ "$expected" != "$actual" ]; then
    fail "checksum mismatch for $archive (expected ${expected:-nothing}, got $actual): nothing installed"
fi

mkdir "$work/unpacked"
tar -xzf "$work/$archive" -C "$work/unpacked" paysync || fail "$archive holds no paysync binary"
mkdir -p "$to"
# Into place in one rename: a paysync already there is replaced whole or not at all.
cp "$work/unpacked/paysync" "$to/.paysync.install.$$"
chmod 755 "$to/.paysync.install.$$"
mv -f "$to/.paysync.install.$$" "$to/paysync"
echo "installed $("$to/paysync" --version) ($target) to $to/paysync"
