"""Readers and writers for test-collection formats. Errors carry file:line."""

from ragbench.core.io.trec import read_trec_qrels, read_trec_run, write_trec_qrels, write_trec_run
from ragbench.core.io.trec_eval_text import format_trec_eval

__all__ = ["format_trec_eval", "read_trec_qrels", "read_trec_run", "write_trec_qrels",
           "write_trec_run"]
