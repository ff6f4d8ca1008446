// Several similar connectors from one file: an array (staging only, to try them out first).
local defaults = import '../defaults.libsonnet';

[
  defaults + {
    name: 'audit-%s-s3' % topic,
    topics: 'audit.' + topic,
    'topics.dir': 'audit',
  }
  for topic in ['logins', 'exports']
]
