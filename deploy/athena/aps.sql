-- centralmsp: dataset aps, the items of GET /network-monitoring/v1/aps (New Central).
-- Objects: s3://YOUR_BUCKET/inventory/dataset=aps/dt=YYYY-MM-DD/run=<run-id>/tenant=<workspace-id>.ndjson.gz
-- (gzip NDJSON: one API item per line, plus _tenant_id, _tenant_name, _run_id, _collected_at).
-- dt is a projected partition. The run= level is read below it (Athena reads every object under a
-- partition's prefix), so select a run with _run_id; the tenant is the _tenant_id column.
-- Nested objects declared string hold their JSON text (use json_extract). See the README, "Query the inventory with Athena".
-- Replace YOUR_BUCKET (plus the stack's OutputPrefix without its trailing slash, if set) first.
CREATE EXTERNAL TABLE IF NOT EXISTS centralmsp.aps (
  `_tenant_id` string COMMENT 'tenant (GLP workspace) id, 32 hex',
  `_tenant_name` string COMMENT 'tenant name',
  `_run_id` string COMMENT 'collection run id',
  `_collected_at` string COMMENT 'RFC 3339 UTC time the page was received',
  `id` string,
  `serialNumber` string,
  `macAddress` string,
  `deviceName` string,
  `type` string,
  `model` string,
  `partNumber` string,
  `status` string,
  `siteId` string,
  `siteName` string,
  `buildingId` string,
  `floorId` string,
  `ipv4` string,
  `ipv6` string,
  `publicIpv4` string,
  `subnetMask` string,
  `firmwareVersion` string,
  `clientCount` bigint,
  `wlanCount` bigint,
  `clusterId` string,
  `clusterName` string,
  `deployment` string,
  `deviceFunction` string,
  `deviceGroupId` string,
  `deviceGroupName` string,
  `role` string,
  `meshRole` string,
  `lastSeenAt` string,
  `lastRebootReason` string,
  `uptimeInMillis` double,
  `cpuUtilization` bigint,
  `memoryUtilization` bigint,
  `powerConsumption` double
)
COMMENT 'centralmsp aps: GET /network-monitoring/v1/aps (New Central)'
PARTITIONED BY (`dt` string)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
WITH SERDEPROPERTIES ('ignore.malformed.json' = 'false', 'case.insensitive' = 'true')
STORED AS INPUTFORMAT 'org.apache.hadoop.mapred.TextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION 's3://YOUR_BUCKET/inventory/dataset=aps/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = 'NOW-3YEARS,NOW+1DAYS',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'storage.location.template' = 's3://YOUR_BUCKET/inventory/dataset=aps/dt=${dt}/',
  'classification' = 'json',
  'compressionType' = 'gzip'
);
