-- centralmsp: drift records (internal/audit.Change), one per change between a tenant's two last complete collections.
-- Objects: s3://YOUR_BUCKET/drift/dt=YYYY-MM-DD/run=<run-id>/tenant=<workspace-id>/changes.ndjson.gz
-- (gzip NDJSON). change_type is CREATE (key appeared; values holds its compared fields), DELETE (key disappeared;
-- values holds its last compared fields) or UPDATE (one row per changed field: field, previous_value, new_value).
-- dt is a projected partition; select a run with run_id. See docs/audits.md for what is compared per dataset.
-- Replace YOUR_BUCKET (plus the stack's OutputPrefix without its trailing slash, if set) first.
CREATE EXTERNAL TABLE IF NOT EXISTS centralmsp.drift (
  `tenant_id` string COMMENT 'tenant (GLP workspace) id, 32 hex',
  `tenant_name` string COMMENT 'tenant name',
  `dataset` string COMMENT 'collector dataset, e.g. devices or subscriptions',
  `key` string COMMENT 'natural id: serial number for devices, key for subscriptions, id for sites',
  `change_type` string COMMENT 'CREATE, UPDATE or DELETE',
  `field` string COMMENT 'UPDATE: the compared field that changed',
  `previous_value` string COMMENT 'UPDATE: value in the previous complete run',
  `new_value` string COMMENT 'UPDATE: value in this run',
  `values` map<string,string> COMMENT 'CREATE/DELETE: the compared fields (empty ones left out)',
  `previous_run_id` string COMMENT 'run of the baseline compared with',
  `run_id` string COMMENT 'this run',
  `previous_time` string COMMENT 'RFC 3339 UTC time of the baseline',
  `time` string COMMENT 'RFC 3339 UTC time of this comparison'
)
COMMENT 'centralmsp drift: inventory changes between consecutive complete collections'
PARTITIONED BY (`dt` string)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
WITH SERDEPROPERTIES ('ignore.malformed.json' = 'false', 'case.insensitive' = 'true')
STORED AS INPUTFORMAT 'org.apache.hadoop.mapred.TextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION 's3://YOUR_BUCKET/drift/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = 'NOW-3YEARS,NOW+1DAYS',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'storage.location.template' = 's3://YOUR_BUCKET/drift/dt=${dt}/',
  'classification' = 'json',
  'compressionType' = 'gzip'
);
