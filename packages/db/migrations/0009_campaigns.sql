-- Campaigns (primary tables, never dropped by a rebuild). The campaign's state is its
-- aggregate on camp.<id>; Postgres holds what the log should not: the recipients.

-- One row per campaign. `active`: it may be scheduled or running, so the orchestrator's
-- expansion looks at it (set before the send is appended, cleared once it is completed or
-- cancelled). Imports lock this row, so an import and a send are ordered.
CREATE TABLE campaigns (
  id          text PRIMARY KEY,
  active      boolean NOT NULL DEFAULT false,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX campaigns_active ON campaigns (id) WHERE active;

-- The recipients, one message each; the message id is derived from (campaign, seq), so an
-- expansion repeated after a crash publishes the same ids. `address_key` is the normalised
-- address: a recipient listed twice in one campaign gets one message.
CREATE TABLE campaign_recipients (
  campaign_id   text NOT NULL REFERENCES campaigns (id),
  seq           integer NOT NULL,
  address       text NOT NULL,
  address_key   text NOT NULL,
  to_name       text,
  variables     jsonb,
  message_id    text NOT NULL UNIQUE,
  requested_at  timestamptz,
  PRIMARY KEY (campaign_id, seq),
  UNIQUE (campaign_id, address_key)
);
CREATE INDEX campaign_recipients_pending ON campaign_recipients (campaign_id, seq) WHERE requested_at IS NULL;

-- Imports, idempotent per chunk: the same key with the same body adds nothing again.
CREATE TABLE campaign_chunks (
  campaign_id   text NOT NULL REFERENCES campaigns (id),
  chunk_key     text NOT NULL,
  request_hash  text NOT NULL,
  added         integer NOT NULL,
  duplicates    integer NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (campaign_id, chunk_key)
);

-- A campaign's messages in the ledger: its expansion window and its cancellation.
CREATE INDEX deliveries_campaign ON deliveries (campaign_id, state) WHERE campaign_id IS NOT NULL;

-- The address normaliser of packages/contracts (normaliseAddress) for addresses already
-- parsed (domain lower case, IDNA): lower-case local part; Gmail without dots and +tags.
CREATE FUNCTION postbus_normalise_address(a text) RETURNS text LANGUAGE sql IMMUTABLE STRICT AS $$
  SELECT CASE WHEN d IN ('gmail.com', 'googlemail.com')
              THEN replace(split_part(l, '+', 1), '.', '') || '@gmail.com'
              ELSE l || '@' || d END
  FROM (SELECT lower(substring(a FROM '^(.*)@[^@]*$')) AS l, lower(substring(a FROM '@([^@]*)$')) AS d) x
$$;
