// One file may define several connectors: an array. The second uses the wrapped form to carry
// kcplan's own settings (created PAUSED; `kcplan plan` refuses to destroy it).
local fs = import 'lib/filestream.libsonnet';

[
  fs.sink('local-demo-sink', file='/tmp/kcplan-demo/output.txt', topics=['kcplan-demo']),
  {
    name: 'local-demo-archive',
    config: fs.sink('local-demo-archive', file='/tmp/kcplan-demo/archive.txt', topics=['kcplan-demo']),
    state: 'PAUSED',
    lifecycle: { prevent_destroy: true },
  },
]
