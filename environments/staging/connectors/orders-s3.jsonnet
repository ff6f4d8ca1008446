local defaults = import '../defaults.libsonnet';

defaults + {
  name: 'orders-s3',
  topics: 'orders',
}
