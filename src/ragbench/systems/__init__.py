"""Systems under test: registration with validation, adapters, health checks."""
