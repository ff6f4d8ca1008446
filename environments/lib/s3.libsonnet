// Shared defaults of every S3 sink (Confluent's io.confluent.connect.s3.S3SinkConnector), for all
// environments. An environment's defaults.libsonnet adds its bucket and region; each connector
// file then overrides a few keys: `defaults + { name: ..., topics: ... }`.
{
  'connector.class': 'io.confluent.connect.s3.S3SinkConnector',
  'tasks.max': 1,
  'storage.class': 'io.confluent.connect.s3.storage.S3Storage',
  'format.class': 'io.confluent.connect.s3.format.json.JsonFormat',
  'flush.size': 1000,
  'rotate.interval.ms': 600000,
  'partitioner.class': 'io.confluent.connect.storage.partitioner.TimeBasedPartitioner',
  'path.format': "'year'=YYYY/'month'=MM/'day'=dd/'hour'=HH",
  'partition.duration.ms': 3600000,
  locale: 'en-US',
  timezone: 'UTC',
  'timestamp.extractor': 'Record',
  'key.converter': 'org.apache.kafka.connect.storage.StringConverter',
  'value.converter': 'org.apache.kafka.connect.json.JsonConverter',
  'value.converter.schemas.enable': false,
  'errors.tolerance': 'none',
  // Credentials never live in Git: the worker resolves these through its file config provider.
  'aws.access.key.id': '${file:/etc/kafka-connect/secrets/s3.properties:aws.access.key.id}',
  'aws.secret.access.key': '${file:/etc/kafka-connect/secrets/s3.properties:aws.secret.access.key}',
}
