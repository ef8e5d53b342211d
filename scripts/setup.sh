#!/usr/bin/env bash
# Installs what Postbus needs from nothing: pnpm (pinned), the workspace's packages, a build.
set -euo pipefail
cd "$(dirname "$0")/.."

major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$major" -lt 20 ]; then
  echo "Postbus needs Node.js 20 or newer (found: $(node -v 2>/dev/null || echo none))." >&2
  exit 1
fi
if [ "$(pnpm -v 2>/dev/null || true)" != "12.4.2" ]; then
  echo "Installing pnpm 12.4.2 ..."
  npm install -g pnpm@12.4.2 >/dev/null
fi
pnpm install --frozen-lockfile
pnpm build
