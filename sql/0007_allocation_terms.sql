-- The minimum and priority tier each allocation was planned with, so that `adpilot explain`
-- explains a plan by the terms it used, not by campaign files synced after it.
-- NULL in rows written before this migration, whose explanation reads adpilot.campaigns.

ALTER TABLE adpilot.allocations
    ADD COLUMN minimum_micros bigint,
    ADD COLUMN priority integer;
