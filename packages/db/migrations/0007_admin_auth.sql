-- Admin users, their refresh tokens and the audit log (issue 6, authentication and roles).

-- password_hash names its KDF and parameters (`scrypt$N$r$p$salt$hash`, base64), so they can
-- be raised later and old hashes still verify. The TOTP secret lives encrypted in `secrets`
-- (so `postbus keys rotate` re-encrypts it with every other secret); totp_secret_id names it.
CREATE TABLE admin_users (
  id               text PRIMARY KEY,
  username         text NOT NULL UNIQUE,
  password_hash    text NOT NULL,
  role             text NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
  disabled         boolean NOT NULL DEFAULT false,
  totp_state       text NOT NULL DEFAULT 'off' CHECK (totp_state IN ('off', 'pending', 'on')),
  totp_secret_id   text,
  -- The last TOTP time step accepted: a code is good once.
  totp_last_step   bigint,
  failed_logins    integer NOT NULL DEFAULT 0,
  locked_until     timestamptz,
  last_login_at    timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now()
);

-- One family per login; each refresh spends its token and adds the next to the family.
-- A spent token presented again revokes the whole family (reuse detection).
CREATE TABLE admin_token_families (
  id              text PRIMARY KEY,
  user_id         text NOT NULL REFERENCES admin_users (id) ON DELETE CASCADE,
  created_at      timestamptz NOT NULL,
  revoked_at      timestamptz,
  revoked_reason  text
);
CREATE INDEX admin_token_families_user ON admin_token_families (user_id);

-- Only the SHA-256 of a refresh token is stored: the token itself is shown once.
CREATE TABLE admin_refresh_tokens (
  token_hash  bytea PRIMARY KEY,
  family_id   text NOT NULL REFERENCES admin_token_families (id) ON DELETE CASCADE,
  issued_at   timestamptz NOT NULL,
  expires_at  timestamptz NOT NULL,
  spent_at    timestamptz
);
CREATE INDEX admin_refresh_tokens_family ON admin_refresh_tokens (family_id);

-- Who changed what: never a body, a password, a token or a secret. target holds the route's
-- parameters (ids); detail a few words of context.
CREATE TABLE audit_log (
  id          bigserial PRIMARY KEY,
  at          timestamptz NOT NULL,
  actor       text NOT NULL,
  actor_role  text,
  action      text NOT NULL,
  method      text,
  route       text,
  target      jsonb NOT NULL DEFAULT '{}'::jsonb,
  status      integer,
  outcome     text NOT NULL CHECK (outcome IN ('ok', 'denied', 'failed')),
  ip          text,
  request_id  text,
  detail      text
);
CREATE INDEX audit_log_at ON audit_log (at DESC, id DESC);
CREATE INDEX audit_log_actor ON audit_log (actor, id DESC);
