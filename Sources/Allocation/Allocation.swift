// Allocation module: see docs/ARCHITECTURE.md.
