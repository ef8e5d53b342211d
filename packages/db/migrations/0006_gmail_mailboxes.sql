-- Gmail API accounts' own mailboxes, read by the bounce processor through the API (their
-- bounces come back there). No row in feedback_mailboxes: the account is the mailbox, its
-- service-account key the credential.

-- Where each account's mailbox was read up to: Gmail's history id (an unsigned 64-bit
-- integer), NULL until the first full listing. A history id Gmail no longer keeps (history.list
-- answers 404) means a full listing of the recent INBOX again (last_synced_at).
CREATE TABLE gmail_mailbox_cursors (
  account_id      text PRIMARY KEY,
  history_id      numeric(20, 0),
  last_synced_at  timestamptz,
  last_polled_at  timestamptz,
  last_error      text
);

-- One row per Gmail message processed (as feedback_reports for IMAP): a message listed again
-- (a resync, a crash before the cursor moved) does nothing the second time.
CREATE TABLE gmail_reports (
  account_id        text NOT NULL,
  gmail_message_id  text NOT NULL,
  kind              text NOT NULL,
  recipients        integer NOT NULL,
  matched           integer NOT NULL,
  note              text,
  processed_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (account_id, gmail_message_id)
);
