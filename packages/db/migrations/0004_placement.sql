-- Where each account is worked, who leads the orchestrators, and what has paged a person.
-- Primary tables: command-side state, never dropped by a projection rebuild.

-- The orchestrators' leader: a lease on one row, taken with a new epoch. Every dispatch,
-- move and reset checks (FOR SHARE) that its leader still holds the lease, so a deposed
-- leader's late writes fail and a takeover waits for the old leader's open transaction.
CREATE TABLE leader_lease (
  id          integer PRIMARY KEY CHECK (id = 1),
  holder      text,
  epoch       bigint NOT NULL DEFAULT 0,
  expires_at  timestamptz NOT NULL DEFAULT '-infinity'
);
INSERT INTO leader_lease (id) VALUES (1);

-- One row per account that has ever been placed: the node working it (NULL: no one, the
-- account is stopped) under `epoch` (the same number as account_epochs.epoch, bumped by the
-- leader in the same transaction). The previous owner is kept until it has released the
-- account: the new owner starts only once `prev_released` and `start_after` has passed
-- (the database's clock), so two workers of one account never overlap.
CREATE TABLE account_assignments (
  account_id     text PRIMARY KEY,
  node_id        text,
  epoch          bigint NOT NULL,
  leader_epoch   bigint NOT NULL,
  reason         text NOT NULL,
  prev_node_id   text,
  prev_epoch     bigint,
  prev_released  boolean NOT NULL DEFAULT true,
  start_after    timestamptz NOT NULL DEFAULT '-infinity',
  assigned_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX account_assignments_node ON account_assignments (node_id);
CREATE INDEX account_assignments_prev ON account_assignments (prev_node_id) WHERE NOT prev_released;

-- Worker restarts, counted per account over the last hour (more than 3: paused_worker_failing).
CREATE TABLE worker_restarts (
  account_id  text NOT NULL,
  node_id     text NOT NULL,
  at          timestamptz NOT NULL,
  reason      text NOT NULL
);
CREATE INDEX worker_restarts_account ON worker_restarts (account_id, at);

-- Alerts raised, deduplicated by key within their window; the notifier's delivery state.
CREATE TABLE alerts (
  id             text PRIMARY KEY,
  dedupe_key     text NOT NULL,
  kind           text NOT NULL,
  severity       text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
  account_id     text,
  summary        text NOT NULL,
  details        jsonb NOT NULL DEFAULT '{}',
  first_at       timestamptz NOT NULL,
  last_at        timestamptz NOT NULL,
  occurrences    integer NOT NULL DEFAULT 1,
  notified_at    timestamptz,
  notify_error   text
);
CREATE UNIQUE INDEX alerts_open_key ON alerts (dedupe_key, first_at);
CREATE INDEX alerts_recent ON alerts (last_at DESC);
CREATE INDEX alerts_unnotified ON alerts (first_at) WHERE notified_at IS NULL;
