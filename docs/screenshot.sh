#!/usr/bin/env bash
# Makes docs/plan-comment.png: the pull-request comment of a 300-target plan with one
# value-source change and one forgotten code among ordinary changes, rendered as GitHub
# renders it (GitHub-flavoured markdown, GitHub's stylesheet) and photographed at
# 1200×900 by headless Chromium: the first screen a reviewer sees.
#
# Needs: cargo, cmark-gfm and chromium (Debian: apt-get install cmark-gfm chromium), npm.
# Run from the repository root:  bash docs/screenshot.sh
set -euo pipefail

root=$(pwd)
cargo build -q --workspace --bins
bin=$root/target/debug
work=$(mktemp -d)
trap 'kill "${emulator_pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
cd "$work"

# A portal with 300 AcmePay pay systems.
{
  sed -n '/^webhook:/,/^pay_systems:/p' "$root/emulator/seeds/demo.yaml"
  for i in $(seq 101 400); do
    echo "  - {id: $i, name: AcmePay shop $i, action_file: acmepay, person_type_id: 1, entity_registry_type: ORDER, active: Y, sort: 100}"
  done
  sed -n '/^person_types:/,$p' "$root/emulator/seeds/demo.yaml"
} > seed.yaml
"$bin/paysync-emulator" --seed seed.yaml --listen 127.0.0.1:8199 --operating-cost 0 > /dev/null 2>&1 &
emulator_pid=$!
for _ in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:8199/ && break; sleep 0.1; done
export PAYSYNC_WEBHOOK_URL=http://127.0.0.1:8199/rest/1/demo-webhook-code/

manifests() { # $1: shop ID suffix; $2: 1 to plant the risky changes
  mkdir -p manifests
  for i in $(seq 101 400); do
    payment="{ type: PAYMENT, value: ACCOUNT_NUMBER }"
    status="  PS_CHANGE_STATUS_PAY: \"Y\""
    if [ "$2" = 1 ] && [ "$i" = 377 ]; then payment='{ value: "0" }'; fi
    if [ "$2" = 1 ] && [ "$i" = 233 ]; then status=""; fi
    cat > "manifests/shop-$i.yaml" <<YAML
apiVersion: paysync/v1
kind: PaySystemSettings
paySystem: $i
personType: 1
settings:
  PS_WORK_MODE_IFRAME: REGULAR
  REST_SERVICE_ID_IFRAME: "shop-$i-$1"
  PAYMENT_ID: $payment
$status
YAML
  done
}
manifests v1 0
"$bin/paysync" apply --auto-approve --refresh manifests > /dev/null 2> apply.log || { tail -5 apply.log; exit 1; }
manifests v2 1
GITHUB_SHA=3f9c2d1e8b7a60c4d2e1f0a9b8c7d6e5f4a3b2c1 GITHUB_SERVER_URL=https://github.com \
  GITHUB_REPOSITORY=acme/shop-payments GITHUB_RUN_ID=9876543210 \
  "$bin/paysync" plan --format markdown manifests > comment.md 2> plan.log || { tail -5 plan.log; exit 1; }

npm pack --silent github-markdown-css@5.9.0 > /dev/null
tar xzf github-markdown-css-5.9.0.tgz
{
  echo '<!doctype html><meta charset="utf-8"><style>'
  cat package/github-markdown-light.css
  echo 'body{margin:0;background:#fff}.markdown-body{box-sizing:border-box;max-width:1012px;margin:0 auto;padding:32px}</style>'
  echo '<article class="markdown-body">'
  cmark-gfm --unsafe -e table -e autolink -e strikethrough -e tagfilter comment.md
  echo '</article>'
} > comment.html
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$work/chrome" --hide-scrollbars --window-size=1200,900 \
  --screenshot="$root/docs/plan-comment.png" "file://$work/comment.html" 2> /dev/null
echo "wrote docs/plan-comment.png ($(wc -c < comment.md) characters of markdown)"
