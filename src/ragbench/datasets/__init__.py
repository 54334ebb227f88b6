"""Test collections: upload (BEIR zip or TREC files), validation, versions, stats."""
