-- Request ids are unique only within a data set, because importers number requests from r0 in
-- every data set. So requests and scores are keyed by data set, request and ad, and every score
-- names its data set.

ALTER TABLE adpilot.ad_scores ADD COLUMN dataset text;

-- A score of a queued request takes the request's data set. A score written for a caller's
-- query takes the registry name of the model that wrote it, which is the data set it was
-- scored for. A score whose model is gone keeps an empty name rather than being dropped.
UPDATE adpilot.ad_scores s SET dataset = r.dataset
FROM adpilot.ad_requests r
WHERE r.request_id = s.request_id AND r.ad_id = s.ad_id;
UPDATE adpilot.ad_scores s SET dataset = m.name
FROM adpilot.models m
WHERE s.dataset IS NULL AND m.id = s.model_id;
UPDATE adpilot.ad_scores SET dataset = '' WHERE dataset IS NULL;

ALTER TABLE adpilot.ad_scores ALTER COLUMN dataset SET NOT NULL;
ALTER TABLE adpilot.ad_scores DROP CONSTRAINT ad_scores_pkey;
ALTER TABLE adpilot.ad_scores ADD PRIMARY KEY (dataset, request_id, ad_id);
ALTER TABLE adpilot.ad_requests DROP CONSTRAINT ad_requests_pkey;
ALTER TABLE adpilot.ad_requests ADD PRIMARY KEY (dataset, request_id, ad_id);
