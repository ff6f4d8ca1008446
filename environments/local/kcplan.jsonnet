// The local sandbox. `kcplan sandbox up` prints `export KCPLAN_CONNECT_URL=...` for the port it
// picked; that variable wins over connect_url below (8083 is Connect's usual port).
{
  connect_url: 'http://127.0.0.1:8083',
  request_timeout: 120,
  parallelism: 4,
}
