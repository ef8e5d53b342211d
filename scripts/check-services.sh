#!/usr/bin/env bash
# Says plainly when NATS or Postgres is not reachable, and how to start them.
set -u
nats_host=${POSTBUS_CHECK_NATS_HOST:-127.0.0.1}; nats_port=${POSTBUS_CHECK_NATS_PORT:-4222}
pg_host=${POSTBUS_CHECK_PG_HOST:-127.0.0.1}; pg_port=${POSTBUS_CHECK_PG_PORT:-5432}
ok=0
if ! (exec 3<>"/dev/tcp/$nats_host/$nats_port") 2>/dev/null; then
  cat >&2 <<MSG
NATS is not reachable at $nats_host:$nats_port. Start it (JetStream on) with:
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \\
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
MSG
  ok=1
fi
if ! (exec 3<>"/dev/tcp/$pg_host/$pg_port") 2>/dev/null; then
  cat >&2 <<MSG
PostgreSQL is not reachable at $pg_host:$pg_port. Start it with:
  pg_ctlcluster --skip-systemctl-redirect \$(ls /etc/postgresql) main start
MSG
  ok=1
fi
exit $ok
