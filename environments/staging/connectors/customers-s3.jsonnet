local defaults = import '../defaults.libsonnet';

defaults + {
  name: 'customers-s3',
  topics: ['customers', 'customer-addresses'],
  'format.class': 'io.confluent.connect.s3.format.parquet.ParquetFormat',
  'value.converter': 'io.confluent.connect.avro.AvroConverter',
  'value.converter.schema.registry.url': 'http://schema-registry:8081',
}
