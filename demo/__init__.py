"""Demo support: a deterministic HTTP server standing in for the business systems the domains fetch from."""
