"""Contract tests: the sandbox against docs/kantata-api.md, fact by fact."""
