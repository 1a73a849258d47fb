-- A queued request whose feature arrays do not fit the champion's feature spec is set aside
-- instead of blocking the queue: its scored_at is set, it gets no score, and rejected_reason
-- gives the reason. Fix the request and clear both columns to queue it again.

ALTER TABLE adpilot.ad_requests ADD COLUMN rejected_reason text;
