-- Primary tables: command-side state that must be checked atomically. Never dropped by a
-- projection rebuild. Times here are operational (now() is fine): these are not projections.

-- One row per account: its fencing epoch. A worker's claim must present the current epoch.
CREATE TABLE account_epochs (
  account_id   text PRIMARY KEY,
  epoch        bigint NOT NULL DEFAULT 0,
  updated_at   timestamptz NOT NULL DEFAULT now()
);

-- The deliveries ledger: one row per message, from request to outcome.
CREATE TABLE deliveries (
  message_id         text PRIMARY KEY,
  state              text NOT NULL CHECK (state IN (
                       'waiting', 'assigned', 'claimed', 'sending', 'retry_wait',
                       'sent', 'failed', 'suppressed', 'uncertain', 'expired', 'cancelled')),
  kind               text NOT NULL CHECK (kind IN ('bulk', 'transactional')),
  pinned_account_id  text,
  account_id         text,
  campaign_id        text,
  recipient          text NOT NULL,
  subject            text NOT NULL,
  assignment         integer NOT NULL DEFAULT 0,
  attempt            integer NOT NULL DEFAULT 0,
  claim_epoch        bigint,
  claim_failures     integer NOT NULL DEFAULT 0,  -- claims lost to a crashing worker: 3 quarantine the message
  send_failures      integer NOT NULL DEFAULT 0,  -- attempts used up by retryable failures
  requested_at       timestamptz NOT NULL,
  requested_by       text NOT NULL,
  assigned_at        timestamptz,
  claimed_at         timestamptz,
  sending_at         timestamptz,
  next_attempt_at    timestamptz,
  expires_at         timestamptz NOT NULL,
  outcome_at         timestamptz,
  reason             text,
  reply_code         integer,
  reply              text,
  header_message_id  text,
  updated_at         timestamptz NOT NULL DEFAULT now(),
  CHECK (state = 'waiting' OR state = 'expired' OR state = 'cancelled' OR account_id IS NOT NULL)
);
CREATE INDEX deliveries_waiting ON deliveries (requested_at) WHERE state = 'waiting';
-- Open work per account: counted against its credit by the dispatcher and its quota by the claim.
CREATE INDEX deliveries_open ON deliveries (account_id, state) WHERE state IN ('assigned', 'claimed', 'sending', 'retry_wait');
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE state = 'retry_wait';
CREATE INDEX deliveries_expiry ON deliveries (expires_at) WHERE state IN ('waiting', 'assigned', 'retry_wait');

-- What the sender composes from, written once: kept out of `deliveries` so that the three
-- state changes of every message copy a small row, not the message.
CREATE TABLE delivery_contents (
  message_id  text PRIMARY KEY REFERENCES deliveries (message_id) ON DELETE CASCADE,
  content     jsonb NOT NULL
);

-- Messages the receiving server accepted, per account per minute of the outcome (never
-- earlier than the server's acceptance): the UTC-day and rolling-24 h counts sum these.
CREATE TABLE quota_usage (
  account_id  text NOT NULL,
  minute      timestamptz NOT NULL,
  sent        integer NOT NULL,
  PRIMARY KEY (account_id, minute)
);

-- The suppression list, keyed by the SHA-256 of the normalised address.
CREATE TABLE suppressions (
  address_hash  bytea PRIMARY KEY,
  address       text,
  reason        text NOT NULL,
  source        text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now()
);

-- Encrypted secrets (AES-256-GCM envelope naming its master key id).
CREATE TABLE secrets (
  id          text PRIMARY KEY,
  kind        text NOT NULL,
  key_id      text NOT NULL,
  ciphertext  text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Idempotency keys, kept 24 h: the same key with the same body answers the same; a
-- different body is refused.
CREATE TABLE idempotency_keys (
  principal     text NOT NULL,
  key           text NOT NULL,
  request_hash  text NOT NULL,
  state         text NOT NULL CHECK (state IN ('pending', 'done')),
  status_code   integer,
  response      jsonb,
  created_at    timestamptz NOT NULL DEFAULT now(),
  expires_at    timestamptz NOT NULL,
  PRIMARY KEY (principal, key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);

-- Each projection's position in each stream it reads, written in the same transaction as its rows.
CREATE TABLE projection_checkpoints (
  projection  text NOT NULL,
  stream      text NOT NULL,
  position    bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (projection, stream)
);
