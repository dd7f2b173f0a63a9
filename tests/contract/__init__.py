"""Contract tests: the sandbox against /work/shared/KANTATA_API.md, fact by fact."""
