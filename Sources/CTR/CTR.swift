// CTR module: see docs/ARCHITECTURE.md.
