"""Schedules: cron-timed batch jobs, exactly one job per due time."""
