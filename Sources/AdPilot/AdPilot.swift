// AdPilot module: see docs/ARCHITECTURE.md.
