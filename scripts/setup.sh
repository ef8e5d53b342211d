#!/usr/bin/env bash
# Installs what Postbus needs from nothing: pnpm (pinned), the workspace's packages, a build.
set -euo pipefail
cd "$(dirname "$0")/.."

# The bounce round-trip test (packages/testing/src/mail-server.ts) runs a private Postfix and
# Dovecot on loopback. The packages are installed unconfigured: no system MTA on port 25, and the
# system Dovecot is stopped and disabled, so only the tests' own instances ever run. Debian's
# prometheus package brings promtool, with which the monitoring test checks the alert rules, the
# scrape configuration and every dashboard query; its server is stopped and disabled likewise.
install_test_servers() {
  local missing=()
  [ -x /usr/sbin/postfix ] || command -v postfix >/dev/null 2>&1 || missing+=(postfix)
  [ -x /usr/sbin/dovecot ] || missing+=(dovecot-core)
  [ -e /usr/lib/dovecot/imap ] || missing+=(dovecot-imapd)
  command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "Missing ${missing[*]}: the bounce round-trip test (packages/testing/src/mail-server.int.test.ts)" >&2
    echo "needs Postfix and Dovecot IMAP, the monitoring test promtool (Debian's prometheus). Run this" >&2
    echo "script as root on Debian/Ubuntu, or install them unconfigured and stopped (debconf" >&2
    echo "postfix/main_mailer_type: No configuration)." >&2
    return 0
  fi
  echo "Installing ${missing[*]} (unconfigured, not started) ..."
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # only what was just installed: a Postfix or Dovecot the machine already ran is left alone
  local service
  for service in "${missing[@]}"; do
    case $service in postfix | prometheus) ;; dovecot-core) service=dovecot ;; *) continue ;; esac
    if [ -d /run/systemd/system ]; then
      systemctl disable --now "$service" >/dev/null 2>&1 || true
    else
      service "$service" stop >/dev/null 2>&1 || true
      update-rc.d "$service" disable >/dev/null 2>&1 || true
    fi
  done
}

major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$major" -lt 20 ]; then
  echo "Postbus needs Node.js 20 or newer (found: $(node -v 2>/dev/null || echo none))." >&2
  exit 1
fi
if [ "$(pnpm -v 2>/dev/null || true)" != "12.4.2" ]; then
  echo "Installing pnpm 12.4.2 ..."
  npm install -g pnpm@12.4.2 >/dev/null
fi
install_test_servers
pnpm install --frozen-lockfile
pnpm build
