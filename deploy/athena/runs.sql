-- centralmsp: run manifests (internal/collector.Manifest, version 1).
-- Objects: s3://YOUR_BUCKET/runs/<run-id>/manifest.json (the run, joined over its shards)
--          s3://YOUR_BUCKET/runs/<run-id>/shards/<shard>.json (a shard's partial manifest; shard is set)
-- The manifests are indented (multi-line) JSON, which the line-based JSON SerDes cannot read;
-- the Ion SerDe reads them (Ion text is a superset of JSON). One row per manifest file:
-- WHERE shard IS NULL keeps the run manifests. See the README, "Query the inventory with Athena", for queries.
-- Replace YOUR_BUCKET (with the stack's OutputPrefix appended, if any) before running.
CREATE EXTERNAL TABLE IF NOT EXISTS centralmsp.runs (
  `version` int,
  `run_id` string,
  `shard` string,
  `shards` array<string>,
  `dt` string,
  `sink` string,
  `datasets` array<string>,
  `started_at` string,
  `finished_at` string,
  `complete` boolean,
  `error` struct<`class`:string,`message`:string,`status_code`:int>,
  `totals` struct<
    `tenants`:int, `tenants_ok`:int, `tenants_failed`:int, `tenants_deferred`:int, `tenants_skipped`:int,
    `datasets_ok`:int, `datasets_failed`:int, `datasets_deferred`:int, `datasets_skipped`:int,
    `msp_datasets_ok`:int, `msp_datasets_failed`:int, `msp_datasets_skipped`:int,
    `records`:bigint, `pages`:bigint, `bytes`:bigint, `api_calls`:bigint, `retries`:bigint, `rate_limited`:bigint,
    `exchanges`:bigint, `token_cache_hits`:bigint, `token_cache_misses`:bigint, `token_cache_hit_ratio`:decimal(12,6),
    `duration_ms`:bigint>,
  `msp_datasets` array<struct<
    `dataset`:string, `status`:string, `key`:string, `records`:bigint, `pages`:bigint, `bytes`:bigint,
    `sha256`:string, `duration_ms`:bigint, `api_calls`:bigint, `retries`:bigint, `rate_limited`:bigint,
    `unauthorized`:bigint, `mapped`:int, `unmatched`:int, `ambiguous`:int, `duplicates`:int,
    `error`:struct<`class`:string,`message`:string,`status_code`:int>>>,
  `tenants` array<struct<
    `id`:string, `name`:string, `status`:string, `duration_ms`:bigint,
    `error`:struct<`class`:string,`message`:string,`status_code`:int>,
    `datasets`:array<struct<
      `dataset`:string, `status`:string, `key`:string, `records`:bigint, `pages`:bigint, `bytes`:bigint,
      `sha256`:string, `duration_ms`:bigint, `api_calls`:bigint, `retries`:bigint, `rate_limited`:bigint,
      `unauthorized`:bigint,
      `error`:struct<`class`:string,`message`:string,`status_code`:int>>>>>
)
COMMENT 'centralmsp run manifests: per tenant and dataset status, records, bytes, API calls, 429s, errors'
STORED AS ION
LOCATION 's3://YOUR_BUCKET/runs/';
