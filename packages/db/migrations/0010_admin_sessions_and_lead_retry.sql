-- Admin sessions end at once (issue 6): every access token carries the user's token_version,
-- checked on every request; a change of role, state or password, or a deletion, bumps it, so
-- the user's outstanding access tokens fail from then on (refresh tokens are revoked as before).
ALTER TABLE admin_users ADD COLUMN token_version integer NOT NULL DEFAULT 0;

-- An operator may retry a lead whose forwarding was given up: it gets a fresh round of
-- attempts. `attempts` keeps counting across rounds (event ids derive from it, so a second
-- LeadForwardingFailed is a new fact); `round_start_attempts` is where this round began.
ALTER TABLE sponsor_leads ADD COLUMN round_start_attempts integer NOT NULL DEFAULT 0;
-- Failed leads, newest first, for the admin's list (few: a partial index).
CREATE INDEX sponsor_leads_failed ON sponsor_leads (received_at DESC, id DESC) WHERE state = 'failed';
