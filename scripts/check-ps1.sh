#!/usr/bin/env bash
# check-ps1.sh — a syntax check of scripts/*.ps1 (PowerShell cannot run here): the tree-sitter
# PowerShell grammar from the npm registry (versions pinned in scripts/ps1check/package-lock.json),
# installed under $PS1CHECK_ROOT when missing. Each broken sample in scripts/ps1check/testdata
# must fail the same check, so a parser that accepts anything cannot pass it.
#
#   PS1CHECK_ROOT  default /tmp/bsodwatch-ps1check (node_modules, kept between runs)
set -euo pipefail
cd "$(dirname "$0")/.."
root="${PS1CHECK_ROOT:-/tmp/bsodwatch-ps1check}"
src=scripts/ps1check

die() { echo "check-ps1.sh: $*" >&2; exit 1; }
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || die "node and npm are missing (Debian packages nodejs, npm)"
  echo "check-ps1.sh: installing nodejs and npm from Debian packages" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm >&2
fi
mkdir -p "$root"
if ! cmp -s "$src/package-lock.json" "$root/package-lock.json" || [ ! -d "$root/node_modules/tree-sitter-powershell" ]; then
  echo "check-ps1.sh: installing the PowerShell grammar into $root" >&2
  cp "$src/package.json" "$src/package-lock.json" "$root/"
  # No install scripts: they would compile native Node bindings that check.mjs does not use.
  (cd "$root" && npm ci --no-audit --no-fund --ignore-scripts >&2)
fi
cp "$src/check.mjs" "$root/check.mjs"

# --liftoff-only: V8's baseline compiler makes the 1 MB grammar ready in a fraction of a
# second; the optimising tier takes 7-20 s on this 2-core machine for a parse that takes
# milliseconds.
node --liftoff-only "$root/check.mjs" scripts/*.ps1 --broken "$src"/testdata/bad-*.ps1 ||
  die "PowerShell syntax errors, or a broken sample the check did not catch (above)"
echo "check-ps1.sh: $(ls scripts/*.ps1 | wc -l) PowerShell scripts parse; the $(ls "$src"/testdata/bad-*.ps1 | wc -l) broken samples are caught"
