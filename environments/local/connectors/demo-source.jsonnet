// Reads lines of a local file into a topic (RUNNING even while the file does not exist).
local fs = import 'lib/filestream.libsonnet';

fs.source('local-demo-source', file='/tmp/kcplan-demo/input.txt', topic='kcplan-demo')
