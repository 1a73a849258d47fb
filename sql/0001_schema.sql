-- AdPilot core schema: logs, profiles, campaigns, model registry, plans and scoring tables.
-- Log tables carry the ids they would be distributed by and no cross-table foreign keys, so a
-- sharded PostgreSQL (postgres_fdw partitions or Citus) can take them over unchanged.

CREATE SCHEMA IF NOT EXISTS adpilot;

-- One row per loaded data set: its feature layout (names, kinds and roles of the fields stored in
-- the cat_values, num_values and seq_values arrays) and how it is validated.
CREATE TABLE adpilot.datasets (
    name            text PRIMARY KEY,
    feature_spec    jsonb NOT NULL,
    validation      text NOT NULL DEFAULT 'time' CHECK (validation IN ('time', 'split')),
    source          text NOT NULL,
    loaded_at       timestamptz NOT NULL DEFAULT now()
);

-- One row per served ad. Feature values are logged as served, in the order of the data set's
-- feature spec; seq_values holds the behaviour items flattened item-major (item 0's sub-fields,
-- then item 1's, ...), most recent item first.
CREATE TABLE adpilot.impressions (
    dataset         text NOT NULL,
    time            timestamptz NOT NULL,
    request_id      text NOT NULL,
    user_id         text,
    ad_id           text,
    campaign_id     text,
    split           text NOT NULL DEFAULT 'train' CHECK (split IN ('train', 'test')),
    cat_values      text[] NOT NULL DEFAULT '{}',
    num_values      float8[] NOT NULL DEFAULT '{}',
    seq_values      text[] NOT NULL DEFAULT '{}',
    click           smallint NOT NULL CHECK (click IN (0, 1)),
    cost_micros     bigint NOT NULL DEFAULT 0 CHECK (cost_micros >= 0),
    logged_pctr     float8,
    true_pctr       float8,
    model_version   text
) PARTITION BY RANGE (time);

CREATE INDEX impressions_dataset_time ON adpilot.impressions (dataset, time);

-- Creates the missing day partitions of adpilot.impressions for [first_day, last_day] (UTC days)
-- and returns how many it created. Two sessions may call it for the same days at once: the one
-- that loses the race skips the partition the other created (a concurrent CREATE can fail with
-- duplicate_table or, on the catalog, unique_violation).
CREATE FUNCTION adpilot.ensure_impression_partitions(first_day date, last_day date)
RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
    day date := first_day;
    created integer := 0;
    part text;
BEGIN
    WHILE day <= last_day LOOP
        part := 'impressions_' || to_char(day, 'YYYYMMDD');
        IF to_regclass(format('adpilot.%I', part)) IS NULL THEN
            BEGIN
                -- Bounds are written as ISO UTC literals so that they do not depend on the
                -- session's DateStyle or TimeZone.
                EXECUTE format(
                    'CREATE TABLE adpilot.%I PARTITION OF adpilot.impressions '
                    'FOR VALUES FROM (%L) TO (%L)',
                    part,
                    to_char(day, 'YYYY-MM-DD') || ' 00:00:00+00',
                    to_char(day + 1, 'YYYY-MM-DD') || ' 00:00:00+00');
                created := created + 1;
            EXCEPTION WHEN duplicate_table OR unique_violation THEN
                NULL;
            END;
        END IF;
        day := day + 1;
    END LOOP;
    RETURN created;
END;
$$;

-- Rows an importer could not use, with the reason, so nothing is dropped silently.
CREATE TABLE adpilot.rejected_rows (
    dataset         text NOT NULL,
    source_file     text NOT NULL,
    line_number     bigint NOT NULL,
    reason          text NOT NULL,
    raw_line        text NOT NULL,
    rejected_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE adpilot.users (
    dataset         text NOT NULL,
    user_id         text NOT NULL,
    profile         text[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (dataset, user_id)
);

-- Behaviour history: one row per event, item fields in the order of the data set's sequence spec.
CREATE TABLE adpilot.user_events (
    dataset         text NOT NULL,
    user_id         text NOT NULL,
    time            timestamptz NOT NULL,
    item_values     text[] NOT NULL
);

CREATE INDEX user_events_user_time ON adpilot.user_events (dataset, user_id, time);

CREATE TABLE adpilot.ads (
    dataset         text NOT NULL,
    ad_id           text NOT NULL,
    campaign_id     text,
    attributes      text[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (dataset, ad_id)
);

-- Campaign definitions synced from campaigns/*.json. Money is integer micros.
CREATE TABLE adpilot.campaigns (
    id                      text PRIMARY KEY,
    dataset                 text NOT NULL,
    name                    text NOT NULL,
    advertiser              text NOT NULL,
    value_per_click_micros  bigint NOT NULL CHECK (value_per_click_micros >= 0),
    daily_budget_micros     bigint NOT NULL CHECK (daily_budget_micros >= 0),
    min_daily_micros        bigint NOT NULL DEFAULT 0 CHECK (min_daily_micros >= 0),
    max_daily_micros        bigint CHECK (max_daily_micros >= 0),
    lifetime_budget_micros  bigint CHECK (lifetime_budget_micros >= 0),
    priority                integer NOT NULL DEFAULT 0,
    pacing_mode             text NOT NULL DEFAULT 'even'
                            CHECK (pacing_mode IN ('even', 'front_loaded', 'asap')),
    time_zone               text NOT NULL DEFAULT 'UTC',
    day_parting             integer[],
    flight_start            date,
    flight_end              date,
    targeting               jsonb NOT NULL DEFAULT '{}',
    status                  text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused')),
    source_file             text NOT NULL,
    definition              jsonb NOT NULL,
    synced_at               timestamptz NOT NULL DEFAULT now()
);

-- Portfolio: the total daily budget of a campaign set, from campaigns/<set>/portfolio.json.
CREATE TABLE adpilot.portfolios (
    dataset                 text PRIMARY KEY,
    daily_budget_micros     bigint NOT NULL CHECK (daily_budget_micros >= 0),
    source_file             text NOT NULL,
    synced_at               timestamptz NOT NULL DEFAULT now()
);

-- Model registry. Ids are generated by the client (name, version, checksum), not a sequence.
CREATE TABLE adpilot.models (
    id                  text PRIMARY KEY,
    name                text NOT NULL,
    version             integer NOT NULL,
    kind                text NOT NULL CHECK (kind IN ('attention', 'dnn', 'logistic')),
    weights             bytea NOT NULL,
    checksum            text NOT NULL,
    feature_spec        jsonb NOT NULL,
    hyperparameters     jsonb NOT NULL DEFAULT '{}',
    metrics             jsonb NOT NULL DEFAULT '{}',
    validation_log_loss float8,
    train_from          timestamptz,
    train_to            timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (name, version)
);

CREATE TABLE adpilot.model_aliases (
    name        text NOT NULL,
    alias       text NOT NULL,
    model_id    text NOT NULL,
    set_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, alias)
);

CREATE TABLE adpilot.model_alias_history (
    name        text NOT NULL,
    alias       text NOT NULL,
    model_id    text NOT NULL,
    reason      text NOT NULL,
    set_at      timestamptz NOT NULL DEFAULT now()
);

-- Planning runs. A newer run for the same plan day and data set supersedes the current one.
CREATE TABLE adpilot.plan_runs (
    id                      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    dataset                 text NOT NULL,
    plan_date               date NOT NULL,
    kind                    text NOT NULL DEFAULT 'plan' CHECK (kind IN ('plan', 'replan', 'backtest')),
    status                  text NOT NULL DEFAULT 'current' CHECK (status IN ('current', 'superseded')),
    total_budget_micros     bigint NOT NULL,
    allocated_micros        bigint NOT NULL,
    model_id                text,
    created_at              timestamptz NOT NULL DEFAULT now(),
    superseded_at           timestamptz
);

CREATE UNIQUE INDEX plan_runs_one_current
    ON adpilot.plan_runs (dataset, plan_date, kind)
    WHERE status = 'current';

CREATE TABLE adpilot.allocations (
    run_id                  uuid NOT NULL,
    campaign_id             text NOT NULL,
    plan_date               date NOT NULL,
    amount_micros           bigint NOT NULL CHECK (amount_micros >= 0),
    cap_micros              bigint NOT NULL,
    expected_value_micros   float8 NOT NULL,
    expected_clicks         float8 NOT NULL,
    expected_impressions    float8 NOT NULL,
    rank                    integer NOT NULL,
    marginal_value          float8 NOT NULL,
    binding                 text NOT NULL,
    PRIMARY KEY (run_id, campaign_id)
);

CREATE TABLE adpilot.pacing_plans (
    run_id                  uuid NOT NULL,
    campaign_id             text NOT NULL,
    hour_start              timestamptz NOT NULL,
    local_hour              integer NOT NULL,
    spend_micros            bigint NOT NULL CHECK (spend_micros >= 0),
    impressions             float8 NOT NULL,
    expected_clicks         float8 NOT NULL,
    pctr_threshold          float8 NOT NULL,
    throttle_rate           float8 NOT NULL,
    PRIMARY KEY (run_id, campaign_id, hour_start)
);

-- Requests to score, with features in the same layout as impressions.
CREATE TABLE adpilot.ad_requests (
    request_id      text NOT NULL,
    ad_id           text NOT NULL,
    dataset         text NOT NULL,
    time            timestamptz NOT NULL,
    user_id         text,
    campaign_id     text,
    cat_values      text[] NOT NULL DEFAULT '{}',
    num_values      float8[] NOT NULL DEFAULT '{}',
    seq_values      text[] NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (request_id, ad_id)
);

CREATE TABLE adpilot.ad_scores (
    request_id      text NOT NULL,
    ad_id           text NOT NULL,
    model_id        text NOT NULL,
    score           real NOT NULL,
    scored_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (request_id, ad_id)
);
