-- centralmsp: dataset glp-devices, the items of GET /devices/v1/devices (GreenLake).
-- Objects: s3://YOUR_BUCKET/inventory/dataset=glp-devices/dt=YYYY-MM-DD/run=<run-id>/tenant=<workspace-id>.ndjson.gz
-- (gzip NDJSON: one API item per line, plus _tenant_id, _tenant_name, _run_id, _collected_at).
-- dt is a projected partition. The run= level is read below it (Athena reads every object under a
-- partition's prefix), so select a run with _run_id; the tenant is the _tenant_id column.
-- Nested objects declared string hold their JSON text (use json_extract). See the README, "Query the inventory with Athena".
-- Replace YOUR_BUCKET (plus the stack's OutputPrefix without its trailing slash, if set) first.
CREATE EXTERNAL TABLE IF NOT EXISTS centralmsp.glp_devices (
  `_tenant_id` string COMMENT 'tenant (GLP workspace) id, 32 hex',
  `_tenant_name` string COMMENT 'tenant name',
  `_run_id` string COMMENT 'collection run id',
  `_collected_at` string COMMENT 'RFC 3339 UTC time the page was received',
  `id` string,
  `serialNumber` string,
  `macAddress` string,
  `partNumber` string,
  `deviceType` string,
  `deviceName` string,
  `secondaryName` string,
  `model` string,
  `make` string,
  `type` string,
  `category` string,
  `assignedState` string,
  `archived` boolean,
  `region` string,
  `ownership` string,
  `management` string,
  `source` string,
  `tenantWorkspaceId` string,
  `billingAccountId` string,
  `billingAccountName` string,
  `billingTier` string,
  `isFlex` boolean,
  `subscriptionCategory` string,
  `manufacturedDate` string,
  `createdAt` string,
  `updatedAt` string,
  `application` struct<id:string,resourceUri:string>,
  `subscription` array<struct<id:string,key:string,tier:string,startTime:string,endTime:string,resourceUri:string>>,
  `location` struct<id:string,locationName:string,streetAddress:string,city:string,state:string,postalCode:string,country:string,latitude:double,longitude:double,locationSource:string,resourceUri:string>,
  `inUseWorkspace` struct<id:string,type:string,resourceUri:string>,
  `warranty` string,
  `contact` string,
  `tags` string
)
COMMENT 'centralmsp glp-devices: GET /devices/v1/devices (GreenLake)'
PARTITIONED BY (`dt` string)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
WITH SERDEPROPERTIES ('ignore.malformed.json' = 'false', 'case.insensitive' = 'true')
STORED AS INPUTFORMAT 'org.apache.hadoop.mapred.TextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION 's3://YOUR_BUCKET/inventory/dataset=glp-devices/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = 'NOW-3YEARS,NOW+1DAYS',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'storage.location.template' = 's3://YOUR_BUCKET/inventory/dataset=glp-devices/dt=${dt}/',
  'classification' = 'json',
  'compressionType' = 'gzip'
);
