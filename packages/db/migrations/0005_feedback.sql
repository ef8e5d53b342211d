-- Bounces, complaints and mailed unsubscribes: what the bounce processor reads and what it
-- decided. Primary tables, never dropped by a projection rebuild (bounce_list is the read model).

-- Mailboxes polled over IMAP: an account's own (many SMTP services set the envelope sender to
-- the authenticated user, so its bounces come back there) or a platform feedback mailbox
-- (feedback-loop reports, mailed unsubscribes). The password is a secret; the cursor is the
-- last UID processed under the folder's UIDVALIDITY.
CREATE TABLE feedback_mailboxes (
  id              text PRIMARY KEY,
  account_id      text,
  purpose         text NOT NULL CHECK (purpose IN ('account', 'feedback')),
  host            text NOT NULL,
  port            integer NOT NULL CHECK (port BETWEEN 1 AND 65535),
  tls             text NOT NULL CHECK (tls IN ('none', 'starttls', 'implicit')),
  username        text NOT NULL,
  secret_id       text NOT NULL,
  folder          text NOT NULL DEFAULT 'INBOX',
  uid_validity    bigint,
  last_uid        bigint NOT NULL DEFAULT 0,
  last_polled_at  timestamptz,
  last_error      text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  CHECK (purpose = 'feedback' OR account_id IS NOT NULL)
);
CREATE UNIQUE INDEX feedback_mailboxes_account ON feedback_mailboxes (account_id) WHERE purpose = 'account';

-- One row per report mail processed: a mailbox read again after a crash skips what is here.
CREATE TABLE feedback_reports (
  mailbox_id    text NOT NULL,
  uid_validity  bigint NOT NULL,
  uid           bigint NOT NULL,
  kind          text NOT NULL,
  recipients    integer NOT NULL,
  matched       integer NOT NULL,
  note          text,
  processed_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (mailbox_id, uid_validity, uid)
);

-- Every bounce and complaint of one of our messages, by address hash: soft bounces repeated
-- within a window suppress, and the per-account 24 h rates are counted from here.
CREATE TABLE bounces (
  id            bigserial PRIMARY KEY,
  event_id      text NOT NULL UNIQUE,
  account_id    text,
  message_id    text,
  campaign_id   text,
  address_hash  bytea NOT NULL,
  kind          text NOT NULL CHECK (kind IN ('bounce', 'complaint')),
  severity      text NOT NULL CHECK (severity IN ('hard', 'soft', 'sender', 'complaint')),
  reason        text NOT NULL,
  occurred_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX bounces_account ON bounces (account_id, occurred_at);
CREATE INDEX bounces_address ON bounces (address_hash, occurred_at);

-- Events written with the rows that caused them, published after the commit, deleted once
-- JetStream has them; a reconciler publishes what is left (NATS away, a crash in between).
CREATE TABLE feedback_outbox (
  event_id    text PRIMARY KEY,
  subject     text NOT NULL,
  event       text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX feedback_outbox_created_at ON feedback_outbox (created_at);

-- Reports that name no message are matched by recipient (and searches by recipient use it).
CREATE INDEX deliveries_recipient ON deliveries (lower(recipient));

-- The admin's suppression list pages newest first by (created_at, address_hash).
CREATE INDEX suppressions_created ON suppressions (created_at DESC, address_hash DESC);
