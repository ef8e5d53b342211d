-- One call per message sent: the previous message's outcome and the next message's `sending`
-- mark. A function so that its statements are planned once per connection, not once per email
-- (planning the equivalent one-statement CTE cost more than executing it).
CREATE FUNCTION ledger_advance(
  p_account text, p_epoch bigint, p_now timestamptz,
  p_kind text, p_message text, p_reply_code integer, p_reply text, p_header_message_id text,
  p_reason text, p_next_attempt_at timestamptz, p_consumed boolean,
  p_next text,
  OUT recorded boolean, OUT marked boolean, OUT current_epoch bigint)
LANGUAGE plpgsql AS $$
BEGIN
  recorded := false;
  marked := false;
  IF p_message IS NOT NULL THEN
    -- The common case: the row is `sending`, as this worker left it.
    IF p_kind = 'sent' THEN
      UPDATE deliveries SET state = 'sent', outcome_at = p_now, reason = NULL, reply_code = p_reply_code,
             reply = p_reply, header_message_id = p_header_message_id, updated_at = now()
       WHERE message_id = p_message AND claim_epoch = p_epoch AND state = 'sending';
    ELSIF p_kind = 'uncertain' THEN
      UPDATE deliveries SET state = 'uncertain', outcome_at = p_now, reason = p_reason, updated_at = now()
       WHERE message_id = p_message AND claim_epoch = p_epoch AND state = 'sending';
    ELSIF p_kind = 'retry' THEN
      UPDATE deliveries SET state = 'retry_wait', next_attempt_at = p_next_attempt_at, reason = p_reason,
             send_failures = send_failures + CASE WHEN p_consumed THEN 1 ELSE 0 END,
             reply_code = p_reply_code, reply = p_reply, claim_epoch = NULL, updated_at = now()
       WHERE message_id = p_message AND claim_epoch = p_epoch AND state = 'sending';
    ELSIF p_kind = 'failed' THEN
      UPDATE deliveries SET state = 'failed', outcome_at = p_now, reason = p_reason, reply_code = p_reply_code,
             reply = p_reply, updated_at = now()
       WHERE message_id = p_message AND claim_epoch = p_epoch AND state = 'sending';
    ELSE
      RAISE EXCEPTION 'unknown outcome %', p_kind;
    END IF;
    recorded := FOUND;
    -- Counted against the limit only by the write that settles a `sending` row as (maybe) accepted.
    IF recorded AND p_kind IN ('sent', 'uncertain') THEN
      INSERT INTO quota_usage (account_id, minute, sent) VALUES (p_account, date_trunc('minute', p_now), 1)
      ON CONFLICT (account_id, minute) DO UPDATE SET sent = quota_usage.sent + 1;
    END IF;
    -- A newer worker's recovery may have recorded it `uncertain` (and counted it): a known 250 still wins.
    IF NOT recorded AND p_kind = 'sent' THEN
      UPDATE deliveries SET state = 'sent', outcome_at = p_now, reason = NULL, reply_code = p_reply_code,
             reply = p_reply, header_message_id = p_header_message_id, updated_at = now()
       WHERE message_id = p_message AND claim_epoch = p_epoch AND state = 'uncertain';
      recorded := FOUND;
    END IF;
  END IF;
  SELECT epoch INTO current_epoch FROM account_epochs WHERE account_id = p_account;
  IF p_next IS NOT NULL AND current_epoch = p_epoch THEN
    UPDATE deliveries SET state = 'sending', sending_at = p_now, updated_at = now()
     WHERE message_id = p_next AND state = 'claimed' AND claim_epoch = p_epoch;
    marked := FOUND;
  END IF;
END
$$;
