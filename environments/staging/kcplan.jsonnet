// staging's Connect cluster. Secrets come from environment variables (every one is an ext var);
// offline commands (render, validate) do not need them.
{
  connect_url: 'https://connect.staging.acme.internal:8083',
  auth: {
    basic: { username: 'kcplan', password: std.extVar('KCPLAN_STAGING_CONNECT_PASSWORD') },
  },
  tls: { ca_bundle: '/etc/ssl/certs/acme-internal-ca.pem' },
  request_timeout: 120,
  parallelism: 8,
  // Masked in every output, on top of the schemas' and the built-in name patterns.
  sensitive_keys: ['s3.proxy.user'],
}
