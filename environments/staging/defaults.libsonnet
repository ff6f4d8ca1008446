// staging's S3 sink defaults: the shared ones plus this environment's bucket and sizes.
local s3 = import 'lib/s3.libsonnet';

s3 {
  's3.region': 'eu-central-1',
  's3.bucket.name': 'acme-staging-datalake',
  'flush.size': 1000,
  'tasks.max': 1,
}
