-- The request queue of `adpilot worker`. A worker sets scored_at on the requests it scores, in
-- the same transaction as their scores. The mark is on the row the worker locks, so a second
-- worker that waited for that lock re-checks the mark and skips the row. READ COMMITTED
-- re-evaluates the WHERE clause on the newest version of a locked row, but not a NOT EXISTS
-- over another table.

ALTER TABLE adpilot.ad_requests ADD COLUMN scored_at timestamptz;

-- Wakes workers when requests are queued: one notification per inserting statement on channel
-- adpilot_requests, with the data set in the payload when it is the same for every row.

CREATE FUNCTION adpilot.notify_requests_queued()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM pg_notify('adpilot_requests', coalesce(
        (SELECT CASE WHEN count(DISTINCT dataset) = 1 THEN min(dataset) END FROM queued), ''));
    RETURN NULL;
END;
$$;

CREATE TRIGGER ad_requests_notify
    AFTER INSERT ON adpilot.ad_requests
    REFERENCING NEW TABLE AS queued
    FOR EACH STATEMENT
    EXECUTE FUNCTION adpilot.notify_requests_queued();
