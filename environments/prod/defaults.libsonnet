// prod's S3 sink defaults: the shared ones plus this environment's bucket and sizes.
local s3 = import 'lib/s3.libsonnet';

s3 {
  's3.region': 'eu-west-1',
  's3.bucket.name': 'acme-prod-datalake',
  'flush.size': 10000,
  'tasks.max': 4,
}
