-- The claim in one statement: ledger_claim does what claimBatch's transaction did in six
-- round trips (BEGIN, the epoch lock, the rows, the suppression list and usage, the claim,
-- COMMIT). Measured in `bench:send`, those six took 22 ms at the median and 50 ms on average
-- per batch, nearly all of it waiting for a turn on a busy machine rather than working: every
-- round trip queues behind the sender's event loop and Postgres's scheduler.
--
-- The sender reads the rows first (no lock, a round trip of its own) to hash their recipients
-- with the one address normaliser (packages/contracts); it passes each row's recipient with
-- its hash, and the claim checks the recipient is still the row's before trusting the hash
-- (`recheck` otherwise: the worker gives the item back). Everything that decides is read here,
-- after the locks, in the order claimBatch read it: the account's epoch (FOR UPDATE, which
-- serialises claims with epoch bumps), the rows (FOR UPDATE), then the suppression list and
-- the account's usage.

-- The limit windows, the one definition for the dispatcher's credit and the claim's room. A
-- bucket holds the sends of one minute, stamped no earlier than the server's acceptance; it
-- leaves the rolling window a minute late so that no send in it is forgotten early. Messages
-- claimed or sending count as sent.
CREATE FUNCTION ledger_usage(p_account text, p_now timestamptz)
RETURNS TABLE (sent_today integer, sent_rolling integer, in_flight integer)
LANGUAGE sql STABLE AS $$
  SELECT
    COALESCE((SELECT sum(q.sent) FROM quota_usage q WHERE q.account_id = p_account
                AND q.minute >= date_trunc('day', p_now, 'UTC')), 0)::int,
    COALESCE((SELECT sum(q.sent) FROM quota_usage q WHERE q.account_id = p_account
                AND q.minute > p_now - interval '24 hours 1 minute'), 0)::int,
    (SELECT count(*) FROM deliveries d WHERE d.account_id = p_account AND d.state IN ('claimed', 'sending'))::int
$$;

-- p_items: [{ idx, message, assignment, attempt, recipient, hash }] (hash: hex SHA-256 of the
-- normalised recipient). One row per distinct message (its first idx), in idx order, with a
-- verdict: claimed (content attached), suppressed, expired, deferred (room ran out: retry_wait
-- at p_defer_until, no attempt used), settled (already past its work), skipped (unknown,
-- another account's, superseded or claimed already), recheck (no usable hash). A stale epoch
-- gives one row, verdict `stale`, with the account's current epoch, and changes nothing.
CREATE FUNCTION ledger_claim(p_account text, p_epoch bigint, p_items jsonb, p_daily_limit integer,
                             p_now timestamptz, p_defer_until timestamptz)
RETURNS TABLE (idx integer, message_id text, verdict text, current_epoch bigint, state text, assignment integer,
               attempt integer, kind text, campaign_id text, recipient text, send_failures integer,
               expires_at timestamptz, sending_at timestamptz, outcome_at timestamptz, reason text,
               reply_code integer, reply text, header_message_id text, content jsonb)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  v_epoch bigint;
  v_room integer;
  v_ids text[];
BEGIN
  SELECT ae.epoch INTO v_epoch FROM account_epochs ae WHERE ae.account_id = p_account FOR UPDATE;
  IF v_epoch IS DISTINCT FROM p_epoch THEN
    verdict := 'stale';
    current_epoch := v_epoch;
    RETURN NEXT;
    RETURN;
  END IF;

  -- Every read of `deliveries` and `delivery_contents` below names these keys itself, whatever
  -- else it joins on: the plan is made once per connection (generic), often while the ledger
  -- is small, and a merge or hash join chosen then would read the whole ledger at every claim
  -- once it is large (seen in bench:send: a merge join over all of deliveries_pkey).
  v_ids := ARRAY(SELECT DISTINCT x.message FROM jsonb_to_recordset(p_items) AS x(message text));

  PERFORM 1 FROM deliveries d WHERE d.message_id = ANY(v_ids) ORDER BY d.message_id FOR UPDATE;

  SELECT p_daily_limit - greatest(u.sent_today, u.sent_rolling) - u.in_flight INTO v_room
    FROM ledger_usage(p_account, p_now) u;

  RETURN QUERY
  WITH i AS (
    SELECT DISTINCT ON (x.message) x.idx, x.message, x.assignment, x.attempt, x.recipient, x.hash
    FROM jsonb_to_recordset(p_items) AS x(idx integer, message text, assignment integer, attempt integer, recipient text, hash text)
    ORDER BY x.message, x.idx
  ), r AS (
    SELECT i.idx, i.message, d.state, d.assignment, d.attempt, d.kind, d.campaign_id, d.recipient, d.send_failures,
           d.expires_at, d.sending_at, d.outcome_at, d.reason, d.reply_code, d.reply, d.header_message_id,
           CASE
             WHEN d.message_id IS NULL OR d.account_id IS DISTINCT FROM p_account THEN 'skipped'
             WHEN d.state IN ('sent', 'failed', 'suppressed', 'uncertain', 'expired', 'cancelled') THEN 'settled'
             WHEN d.state <> 'assigned' OR d.assignment <> i.assignment OR d.attempt <> i.attempt THEN 'skipped'
             WHEN d.expires_at <= p_now THEN 'expired'
             WHEN i.hash IS NULL OR i.recipient IS DISTINCT FROM d.recipient THEN 'recheck'
             WHEN sup.hit THEN 'suppressed'
             ELSE 'allowed'
           END AS v
    FROM i LEFT JOIN deliveries d ON d.message_id = i.message AND d.message_id = ANY(v_ids)
           -- One probe of the primary key per message. Not EXISTS in the CASE: planned once
           -- (generic), that became a hashed subplan reading the whole suppression list at
           -- every claim, once for each time the CASE is used below.
           LEFT JOIN LATERAL (SELECT true AS hit FROM suppressions s WHERE s.address_hash = decode(i.hash, 'hex') LIMIT 1) sup ON true
  ), k AS (
    SELECT r.*, CASE WHEN r.v <> 'allowed' THEN r.v
                     WHEN count(*) FILTER (WHERE r.v = 'allowed') OVER (ORDER BY r.idx ROWS UNBOUNDED PRECEDING) <= v_room THEN 'claimed'
                     ELSE 'deferred' END AS verdict
    FROM r
  ), written AS (
    -- One write for every verdict that changes the row.
    UPDATE deliveries d SET
      state = CASE k.verdict WHEN 'deferred' THEN 'retry_wait' ELSE k.verdict END,
      claim_epoch = CASE k.verdict WHEN 'claimed' THEN p_epoch ELSE d.claim_epoch END,
      claimed_at = CASE k.verdict WHEN 'claimed' THEN p_now ELSE d.claimed_at END,
      outcome_at = CASE WHEN k.verdict IN ('suppressed', 'expired') THEN p_now ELSE d.outcome_at END,
      reason = CASE k.verdict WHEN 'suppressed' THEN 'suppressed' WHEN 'expired' THEN 'expired'
                              WHEN 'deferred' THEN 'limit_reached' ELSE d.reason END,
      next_attempt_at = CASE k.verdict WHEN 'deferred' THEN p_defer_until ELSE d.next_attempt_at END,
      updated_at = now()
    FROM k WHERE k.verdict IN ('claimed', 'suppressed', 'expired', 'deferred') AND d.message_id = k.message AND d.message_id = ANY(v_ids)
    RETURNING d.message_id, k.verdict
  )
  SELECT k.idx, k.message, k.verdict, v_epoch, k.state, k.assignment, k.attempt, k.kind, k.campaign_id, k.recipient,
         k.send_failures, k.expires_at, k.sending_at, k.outcome_at, k.reason, k.reply_code, k.reply, k.header_message_id,
         c.content
  FROM k LEFT JOIN written ON written.message_id = k.message AND written.verdict = 'claimed'
         LEFT JOIN delivery_contents c ON c.message_id = written.message_id AND c.message_id = ANY(v_ids)
  ORDER BY k.idx;
END
$$;

-- As ledger_advance_many (0014): one plan per connection, and rows reached only by key.
ALTER FUNCTION ledger_claim(text, bigint, jsonb, integer, timestamptz, timestamptz) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION ledger_claim(text, bigint, jsonb, integer, timestamptz, timestamptz) SET enable_seqscan = off;
