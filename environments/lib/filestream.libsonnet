// FileStream connectors (in every Kafka distribution, and in the sandbox): handy for demos.
{
  source(name, file, topic, tasks=1):: {
    name: name,
    'connector.class': 'org.apache.kafka.connect.file.FileStreamSourceConnector',
    'tasks.max': tasks,
    file: file,
    topic: topic,
  },
  sink(name, file, topics):: {
    name: name,
    'connector.class': 'org.apache.kafka.connect.file.FileStreamSinkConnector',
    'tasks.max': 1,
    file: file,
    topics: topics,  // a list renders as 'a,b'
  },
}
