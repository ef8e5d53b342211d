-- Sponsors, their offers and API keys (admin), and the leads the sponsor gateway accepts and
-- forwards. Primary tables: never touched by a projection rebuild.

-- The signing secret (HMAC of forwarded leads) lives in `secrets` (kind 'sponsor_signing'),
-- encrypted under the master keys like every other secret, so key rotation covers it.
CREATE TABLE sponsors (
  id                 text PRIMARY KEY,
  name               text NOT NULL,
  endpoint_url       text,
  signing_secret_id  text NOT NULL,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sponsors_page ON sponsors (created_at DESC, id DESC);

CREATE TABLE sponsor_offers (
  id           text PRIMARY KEY,
  sponsor_id   text NOT NULL REFERENCES sponsors (id),
  name         text NOT NULL,
  landing_url  text NOT NULL,
  active       boolean NOT NULL DEFAULT true,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sponsor_offers_page ON sponsor_offers (sponsor_id, created_at DESC, id DESC);

-- An API key is `pbsk_<prefix>_<secret>`: only the prefix (for the lookup) and the SHA-256 of
-- the whole key are kept. A key is 32 random bytes, so a fast hash is enough (no password).
CREATE TABLE sponsor_api_keys (
  id          text PRIMARY KEY,
  sponsor_id  text NOT NULL REFERENCES sponsors (id),
  prefix      text NOT NULL UNIQUE,
  key_hash    bytea NOT NULL,
  label       text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz,
  revoked_at  timestamptz
);
CREATE INDEX sponsor_api_keys_page ON sponsor_api_keys (sponsor_id, created_at DESC, id DESC);

-- Leads: the outbox of the forwarder. `payload` is the lead (address, name, consent) encrypted
-- under the master keys (AAD names the lead id); it is dropped (set to NULL) once the sponsor
-- has it. `scope` + `idempotency_key` make POST /api/sponsors/leads idempotent: the scope is
-- the credential's (`sponsor:<id>` for an API key, `message:<id>` for a lead token).
CREATE TABLE sponsor_leads (
  id               text PRIMARY KEY,
  sponsor_id       text NOT NULL REFERENCES sponsors (id),
  offer_id         text NOT NULL REFERENCES sponsor_offers (id),
  scope            text NOT NULL,
  idempotency_key  text NOT NULL,
  request_hash     text NOT NULL,
  payload          text,
  state            text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'forwarded', 'failed')),
  attempts         integer NOT NULL DEFAULT 0,
  next_attempt_at  timestamptz NOT NULL DEFAULT now(),
  last_error       text,
  received_at      timestamptz NOT NULL DEFAULT now(),
  forwarded_at     timestamptz,
  UNIQUE (scope, idempotency_key)
);
CREATE INDEX sponsor_leads_due ON sponsor_leads (next_attempt_at) WHERE state = 'pending';
