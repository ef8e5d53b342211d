#!/usr/bin/env bash
# Installs everything and runs the whole test suite (unit and integration) against the
# NATS and Postgres on this machine. Tests make and remove their own namespaces and databases.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/check-services.sh
./scripts/setup.sh
pnpm lint
pnpm test
