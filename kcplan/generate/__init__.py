"""`kcplan import --generate`: Jsonnet files written from live connectors (docs/generate.md)."""
