#!/usr/bin/env bash
# Makes the screenshots of what a reviewer sees on a pull request (issue 23), each
# rendered as GitHub renders a comment (GitHub-flavoured markdown, GitHub's stylesheet)
# and photographed by headless Chromium:
#
#   docs/review-5000-targets.png   5,000 targets, 714 secrets not checked (700 of them
#                                  one reference), a pull request changing four targets:
#                                  all four diffs are in the comment
#   docs/review-no-change.png      the same repository without a change: a few lines
#   docs/review-environments.png   a pull request planning two environments: the roll-up
#                                  table first, then each environment's own comment
#
# It prints, for each, the comment's size and its lines visible without opening a fold.
# Needs: cargo, cmark-gfm and chromium (Debian: apt-get install cmark-gfm chromium), npm.
# Run from the repository root:  bash docs/review-screenshots.sh
set -euo pipefail

root=$(pwd)
cargo build -q --workspace --bins
bin=$root/target/debug
work=$(mktemp -d)
trap 'kill "${emulator_pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
cd "$work"
port=$((20000 + RANDOM % 20000))

# A portal with 5,000 AcmePay pay systems.
{
  sed -n '/^webhook:/,/^pay_systems:/p' "$root/emulator/seeds/demo.yaml"
  for i in $(seq 1001 6000); do
    echo "  - {id: $i, name: AcmePay shop $i, action_file: acmepay, person_type_id: 1, entity_registry_type: ORDER, active: Y, sort: 100}"
  done
  sed -n '/^person_types:/,$p' "$root/emulator/seeds/demo.yaml"
} > seed.yaml
"$bin/paysync-emulator" --seed seed.yaml --listen "127.0.0.1:$port" --rate 100000/100000 \
  --operating-cost 0 > /dev/null 2>&1 &
emulator_pid=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
export PAYSYNC_WEBHOOK_URL=http://127.0.0.1:$port/rest/1/demo-webhook-code/
export PAYSYNC_FINGERPRINT_KEY=screenshot-fingerprint-key

manifests() { # $1: 1 to change four targets
  mkdir -p manifests
  for i in $(seq 1001 6000); do
    key=""
    if [ "$i" -le 1700 ]; then key="  REST_SERVICE_KEY_IFRAME: { secret: env:PS_SECRET }"; fi
    if [ "$i" -gt 1700 ] && [ "$i" -le 1714 ]; then key="  REST_SERVICE_KEY_IFRAME: { secret: env:PS_KEY_$i }"; fi
    mode=REGULAR
    if [ "$1" = 1 ] && { [ "$i" = 1003 ] || [ "$i" = 2500 ] || [ "$i" = 4242 ] || [ "$i" = 5999 ]; }; then mode=TEST; fi
    cat <<YAML
---
apiVersion: paysync/v1
kind: PaySystemSettings
paySystem: $i
personType: 1
settings:
  PS_WORK_MODE_IFRAME: $mode
  REST_SERVICE_ID_IFRAME: "shop-$i"
$key
YAML
  done > manifests/shops.yaml
}

# Applied once with every secret; the pull request's plan runs without them, as a
# pull-request job does.
manifests 0
secrets=(PS_SECRET=s3cr3t-value)
for i in $(seq 1701 1714); do secrets+=("PS_KEY_$i=key-$i"); done
env "${secrets[@]}" "$bin/paysync" apply --auto-approve --rate 100000/100000 manifests \
  > /dev/null 2> apply.log || { tail -5 apply.log; exit 1; }
ci=(GITHUB_SHA=3f9c2d1e8b7a60c4d2e1f0a9b8c7d6e5f4a3b2c1 GITHUB_SERVER_URL=https://github.com
  GITHUB_REPOSITORY=acme/shop-payments GITHUB_RUN_ID=9876543210)
env "${ci[@]}" "$bin/paysync" plan --format markdown manifests > no-change.md 2> plan.log
manifests 1
env "${ci[@]}" "$bin/paysync" plan --format markdown manifests > changed.md 2> plan.log || true

# Two environments: the bundled example, planned per environment, then the roll-up.
cp -r "$root/examples/environments" envs
(
  cd envs
  for env in test prod; do
    env "${ci[@]}" "$bin/paysync" plan --env "$env" --format markdown --out "$env.json" \
      > "$env.md" 2> "$env.log" || [ $? -eq 2 ]
  done
  "$bin/paysync" show --format markdown --rollup test.json prod.json > rollup.md
)

npm pack --silent github-markdown-css@5.9.0 > /dev/null
tar xzf github-markdown-css-5.9.0.tgz
# render OUT.png HEIGHT COMMENT.md...: the comments one below the other, as a
# conversation shows them.
render() {
  local png="$1" height="$2"
  shift 2
  {
    echo '<!doctype html><meta charset="utf-8"><style>'
    cat package/github-markdown-light.css
    echo 'body{margin:0;background:#fff}.markdown-body{box-sizing:border-box;max-width:1012px;margin:16px auto;padding:24px 32px;border:1px solid #d0d7de;border-radius:6px}</style>'
    for md in "$@"; do
      echo '<article class="markdown-body">'
      cmark-gfm --unsafe -e table -e autolink -e strikethrough -e tagfilter "$md"
      echo '</article>'
    done
  } > page.html
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$work/chrome" --hide-scrollbars --window-size=1200,"$height" \
    --screenshot="$root/docs/$png" "file://$work/page.html" 2> /dev/null
}
# Lines a reviewer sees without opening a fold.
visible() {
  awk '/^<details>/{d++; next} /^<\/details>$/{d--; next} d==0 && NF' "$1" | wc -l
}
render review-5000-targets.png 980 changed.md
render review-no-change.png 320 no-change.md
render review-environments.png 1100 envs/rollup.md envs/test.md envs/prod.md
for md in changed.md no-change.md envs/rollup.md envs/test.md envs/prod.md; do
  echo "$md: $(wc -m < "$md") characters, $(visible "$md") lines outside folds"
done
echo "wrote docs/review-5000-targets.png, docs/review-no-change.png, docs/review-environments.png"
