"""Evaluations: run every query of a dataset against a system, store and score it."""
