#!/usr/bin/env bash
# Renders what each chat target receives for the sample, hostile and oversized verdicts to
# PNG files under docs/pictures/ (or $1): Teams cards through the adaptivecards library in
# headless Chromium, Slack and Mattermost as our HTML rendering of what those services show.
# Installs Debian's chromium (and an emoji font, and pngquant, which makes the files a
# quarter of the size) when missing, never a downloaded browser.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-docs/pictures}"
if ! [ -x /usr/bin/chromium ] || ! command -v pngquant >/dev/null || ! fc-list | grep -qi "noto color emoji"; then
  echo "chat-pictures: installing chromium, fonts-noto-color-emoji and pngquant from Debian" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-color-emoji pngquant >&2
fi
./scripts/chatcheck/install.sh
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
BSODWATCH_CHAT_PICTURES="$tmp" go test -count=1 -run '^TestWritePictureCases$' ./notifier/chatcheck >/dev/null
node scripts/chatcheck/pictures.js "$tmp" "$out"
for f in "$out"/*.png; do
  pngquant --quality 70-90 --speed 1 --strip --force --output "$f" "$f"
done
