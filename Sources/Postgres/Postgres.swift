// Postgres module: see docs/ARCHITECTURE.md.
