-- ledger_advance_many (0012) with its row conditions on `state` kept away from the indexes.
-- 0012 gave the outcomes' UPDATE the ids as an array, but its `d.state = 'sending'` still
-- matched deliveries_open (account_id, state) on its second column. Custom plans ANDed that
-- index with the primary key; the generic plan plpgsql switches to after five calls used it
-- alone. Either way every call walked the whole index of open rows — every `assigned` and
-- `claimed` row of every account — to find the few `sending` ones. Seen in `bench:send`
-- (auto_explain, nested statements): the generic plan's Bitmap Index Scan on deliveries_open
-- with `Index Cond: (state = 'sending')`, and 1.35 million heap fetches from `deliveries`
-- (pg_stat_user_tables.idx_tup_fetch) for 60,000 row updates.
-- Written `d.state || '' = …`, a condition no index can take, so the only way to the rows is
-- their primary key, whatever the statistics say (a ledger filled in the last minute has
-- none yet). The same for the marks' `d.state = 'claimed'`, which used the primary key in the
-- plans seen but would walk the index as soon as the estimates tipped.
-- The function also plans once per connection, never scanning the ledger whole. With the walk
-- gone, plpgsql's generic plans (the ids as a parameter, ten of them guessed) looked dearer
-- than custom ones (the actual ids, one to five), so it planned all three statements again at
-- every call: a fifth of the sender's Postgres time in `bench:send` (perf). A generic plan is
-- right here whatever the ids, so it is forced; and since it is made once, when the ledger may
-- still be nearly empty, sequential scans are ruled out, or a plan made then would scan the
-- whole ledger at every call once it is large. Every row the function reads it reads by key.
CREATE OR REPLACE FUNCTION ledger_advance_many(p_calls jsonb)
RETURNS TABLE (idx integer, recorded boolean, marked boolean, current_epoch bigint)
LANGUAGE plpgsql AS $$
DECLARE
  v_recorded integer[];
  v_late integer[];
  v_messages text[];
BEGIN
  IF EXISTS (SELECT 1 FROM jsonb_to_recordset(p_calls) AS c(kind text, message text)
              WHERE c.message IS NOT NULL AND c.kind NOT IN ('sent', 'uncertain', 'retry', 'failed')) THEN
    RAISE EXCEPTION 'unknown outcome in %', p_calls;
  END IF;

  -- The rows to settle, by key (see 0012 and the header).
  SELECT array_agg(c.message) INTO v_messages FROM jsonb_to_recordset(p_calls) AS c(message text) WHERE c.message IS NOT NULL;

  -- The outcomes of rows still `sending` as their worker left them; counted against the limit
  -- only by the write that settles a `sending` row as (maybe) accepted.
  WITH c AS (
    SELECT * FROM jsonb_to_recordset(p_calls) AS c(idx integer, account text, epoch bigint, now timestamptz, kind text,
      message text, "replyCode" integer, reply text, "headerMessageId" text, reason text, "nextAttemptAt" timestamptz, consumed boolean)
    WHERE c.message IS NOT NULL
  ), u AS (
    UPDATE deliveries d SET
      state = CASE c.kind WHEN 'sent' THEN 'sent' WHEN 'uncertain' THEN 'uncertain' WHEN 'retry' THEN 'retry_wait' ELSE 'failed' END,
      outcome_at = CASE WHEN c.kind = 'retry' THEN d.outcome_at ELSE c.now END,
      reason = CASE WHEN c.kind = 'sent' THEN NULL ELSE c.reason END,
      reply_code = CASE WHEN c.kind = 'uncertain' THEN d.reply_code ELSE c."replyCode" END,
      reply = CASE WHEN c.kind = 'uncertain' THEN d.reply ELSE c.reply END,
      header_message_id = CASE WHEN c.kind = 'sent' THEN c."headerMessageId" ELSE d.header_message_id END,
      next_attempt_at = CASE WHEN c.kind = 'retry' THEN c."nextAttemptAt" ELSE d.next_attempt_at END,
      send_failures = d.send_failures + CASE WHEN c.kind = 'retry' AND c.consumed THEN 1 ELSE 0 END,
      claim_epoch = CASE WHEN c.kind = 'retry' THEN NULL ELSE d.claim_epoch END,
      updated_at = now()
    FROM c
    WHERE d.message_id = ANY(v_messages) AND d.message_id = c.message AND d.claim_epoch = c.epoch AND d.state || '' = 'sending'
    RETURNING c.idx, c.account, c.kind, c.now
  ), q AS (
    INSERT INTO quota_usage (account_id, minute, sent)
    SELECT u.account, date_trunc('minute', u.now), count(*) FROM u WHERE u.kind IN ('sent', 'uncertain') GROUP BY 1, 2
    ON CONFLICT (account_id, minute) DO UPDATE SET sent = quota_usage.sent + EXCLUDED.sent
  )
  SELECT coalesce(array_agg(u.idx), '{}') INTO v_recorded FROM u;

  -- A newer worker's recovery may have recorded one `uncertain` (and counted it): a known 250 still wins.
  IF EXISTS (SELECT 1 FROM jsonb_to_recordset(p_calls) AS c(idx integer, kind text, message text)
              WHERE c.kind = 'sent' AND c.message IS NOT NULL AND NOT c.idx = ANY(v_recorded)) THEN
    WITH c AS (
      SELECT * FROM jsonb_to_recordset(p_calls) AS c(idx integer, epoch bigint, now timestamptz, kind text,
        message text, "replyCode" integer, reply text, "headerMessageId" text)
      WHERE c.kind = 'sent' AND c.message IS NOT NULL AND NOT c.idx = ANY(v_recorded)
    ), u AS (
      UPDATE deliveries d SET state = 'sent', outcome_at = c.now, reason = NULL, reply_code = c."replyCode",
             reply = c.reply, header_message_id = c."headerMessageId", updated_at = now()
      FROM c
      WHERE d.message_id = c.message AND d.claim_epoch = c.epoch AND d.state || '' = 'uncertain'
      RETURNING c.idx
    )
    SELECT coalesce(array_agg(u.idx), '{}') INTO v_late FROM u;
    v_recorded := v_recorded || v_late;
  END IF;

  -- The marks: only for a worker whose epoch is still the account's.
  RETURN QUERY
  WITH c AS (
    SELECT * FROM jsonb_to_recordset(p_calls) AS c(idx integer, account text, epoch bigint, now timestamptz, next text)
  ), e AS (
    SELECT c.idx, ae.epoch FROM c LEFT JOIN account_epochs ae ON ae.account_id = c.account
  ), m AS (
    UPDATE deliveries d SET state = 'sending', sending_at = c.now, updated_at = now()
    FROM c JOIN e ON e.idx = c.idx
    WHERE c.next IS NOT NULL AND e.epoch = c.epoch AND d.message_id = c.next AND d.state || '' = 'claimed' AND d.claim_epoch = c.epoch
    RETURNING c.idx
  )
  SELECT c.idx, c.idx = ANY(v_recorded), m.idx IS NOT NULL, e.epoch
  FROM c JOIN e ON e.idx = c.idx LEFT JOIN m ON m.idx = c.idx;
END
$$;

ALTER FUNCTION ledger_advance_many(jsonb) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION ledger_advance_many(jsonb) SET enable_seqscan = off;
