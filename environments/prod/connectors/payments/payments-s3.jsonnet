// Wrapped form: the Connect config plus kcplan's own settings, which never reach the cluster.
local defaults = import '../../defaults.libsonnet';

{
  name: 'payments-s3',
  config: defaults + {
    topics: ['payments', 'refunds'],
    'rotate.schedule.interval.ms': 300000,
  },
  lifecycle: { prevent_destroy: true },
}
