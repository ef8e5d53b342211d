#!/usr/bin/env bash
# Installs Postbus and runs the whole platform on this machine, with a demo that sends real
# mail to a local SMTP catcher and prints where to look. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/check-services.sh
./scripts/setup.sh
exec node packages/cli/dist/main.js demo "$@"
