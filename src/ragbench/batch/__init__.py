"""Batch evaluation: jobs of systems × datasets, one task per pair, run on a crash-safe
queue (an in-process worker pool over the database, or Celery workers)."""
