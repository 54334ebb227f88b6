"""Comparisons and leaderboards: paired statistics over stored evaluations."""
