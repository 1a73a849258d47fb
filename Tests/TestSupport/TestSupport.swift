// Shared helpers for database tests.
import AdPilot
import Postgres
