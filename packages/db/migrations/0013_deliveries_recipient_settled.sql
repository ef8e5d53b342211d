-- deliveries_recipient (0005) covers only the rows it is read for: lastMessageTo, which matches a
-- report that names no message to the last message sent to the address, reads rows `sent` or
-- `uncertain` only (message search reads email_queue, not the ledger). Every state change of a
-- ledger row is a non-HOT update (`state` is in other indexes), so each wrote a new entry into
-- every index whose predicate the new version meets: over its four versions (queued, claimed,
-- sending, settled) a message put four entries into this index, evaluating lower() each time.
-- Partial, it gets one, when the message is settled as sent or uncertain.
-- The index is rebuilt inside the migration's transaction: on a large ledger, writes to
-- `deliveries` wait for it (about two seconds per million rows on the development machine).
DROP INDEX deliveries_recipient;
CREATE INDEX deliveries_recipient ON deliveries (lower(recipient)) WHERE state IN ('sent', 'uncertain');
