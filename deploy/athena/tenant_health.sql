-- centralmsp: dataset tenant-health, the items of GET /network-msp/v1/list-tenants (New Central, MSP token),
-- read once per run for the whole MSP (not per tenant).
-- Objects: s3://YOUR_BUCKET/inventory/dataset=tenant-health/dt=YYYY-MM-DD/run=<run-id>/msp.ndjson.gz
-- (gzip NDJSON: one API item per line, plus _tenant_id, _tenant_name, _mapping, _run_id, _collected_at).
-- tenantId is New Central's id, not the GLP workspace id: each item is matched to a workspace by name.
-- _mapping is 'mapped' (exactly one workspace has the name: _tenant_id and _tenant_name are its id and name),
-- 'unmatched' (none has it) or 'ambiguous' (several have it, or it cannot be compared safely); the last two
-- have an empty _tenant_id and are kept so no tenant's figures are lost or given to another tenant.
-- dt is a projected partition. The run= level is read below it (Athena reads every object under a
-- partition's prefix), so select a run with _run_id.
-- Nested objects declared string hold their JSON text (use json_extract). See the README, "Query the inventory with Athena".
-- Replace YOUR_BUCKET (plus the stack's OutputPrefix without its trailing slash, if set) first.
CREATE EXTERNAL TABLE IF NOT EXISTS centralmsp.tenant_health (
  `_tenant_id` string COMMENT 'tenant (GLP workspace) id, 32 hex; empty unless _mapping is mapped',
  `_tenant_name` string COMMENT 'tenant (GLP workspace) name; empty unless _mapping is mapped',
  `_mapping` string COMMENT 'mapped, unmatched or ambiguous: how tenantName matched the workspaces',
  `_run_id` string COMMENT 'collection run id',
  `_collected_at` string COMMENT 'RFC 3339 UTC time the page was received',
  `tenantId` string COMMENT 'New Central tenant id (not the workspace id)',
  `tenantName` string,
  `totalSites` bigint,
  `degradedSites` bigint,
  `deviceHealthStatus` struct<total:bigint,good:bigint,fair:bigint,poor:bigint>,
  `alerts` struct<total:bigint,critical:bigint,major:bigint,minor:bigint>,
  `deviceOwnership` string,
  `createdTime` bigint COMMENT 'epoch milliseconds',
  `lastUpdatedTime` bigint COMMENT 'epoch milliseconds'
)
COMMENT 'centralmsp tenant-health: GET /network-msp/v1/list-tenants (New Central, MSP level)'
PARTITIONED BY (`dt` string)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
WITH SERDEPROPERTIES ('ignore.malformed.json' = 'false', 'case.insensitive' = 'true')
STORED AS INPUTFORMAT 'org.apache.hadoop.mapred.TextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION 's3://YOUR_BUCKET/inventory/dataset=tenant-health/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = 'NOW-3YEARS,NOW+1DAYS',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'storage.location.template' = 's3://YOUR_BUCKET/inventory/dataset=tenant-health/dt=${dt}/',
  'classification' = 'json',
  'compressionType' = 'gzip'
);
