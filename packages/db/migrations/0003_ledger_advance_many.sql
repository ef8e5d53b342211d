-- Many workers' advance calls in one round trip: a sender process hosts many accounts, and
-- one statement for the calls that arrive together costs one write, one parse and one commit
-- instead of one each. Each element is applied exactly as ledger_advance applies it.
CREATE FUNCTION ledger_advance_many(p_calls jsonb)
RETURNS TABLE (idx integer, recorded boolean, marked boolean, current_epoch bigint)
LANGUAGE plpgsql AS $$
DECLARE
  c jsonb;
  i integer := 0;
  r record;
BEGIN
  FOR c IN SELECT value FROM jsonb_array_elements(p_calls) LOOP
    SELECT * INTO r FROM ledger_advance(
      c->>'account', (c->>'epoch')::bigint, (c->>'now')::timestamptz,
      c->>'kind', c->>'message', (c->>'replyCode')::integer, c->>'reply', c->>'headerMessageId',
      c->>'reason', (c->>'nextAttemptAt')::timestamptz, (c->>'consumed')::boolean,
      c->>'next');
    idx := i;
    recorded := r.recorded;
    marked := r.marked;
    current_epoch := r.current_epoch;
    RETURN NEXT;
    i := i + 1;
  END LOOP;
END
$$;
