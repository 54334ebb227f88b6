"""Readers and writers for test-collection formats. Errors carry file:line.

========== ==================================== =====================================
format     read                                 write
========== ==================================== =====================================
TREC       read_trec_qrels, read_trec_run       write_trec_qrels, write_trec_run
BEIR       read_beir, read_beir_corpus,         write_beir, write_beir_corpus,
           read_beir_queries, read_beir_qrels   write_beir_queries, write_beir_qrels
JSONL      read_run_jsonl, read_results_jsonl   write_run_jsonl, write_results_jsonl
Parquet    read_run_parquet,                    write_run_parquet,
           read_results_parquet                 write_results_parquet
========== ==================================== =====================================

Every writer writes a temporary file and renames it: a reader never sees half a file.
"""

from ragbench.core.io.any_format import read_qrels, read_run
from ragbench.core.io.beir import (
    BeirDataset,
    Corpus,
    Queries,
    read_beir,
    read_beir_corpus,
    read_beir_qrels,
    read_beir_queries,
    write_beir,
    write_beir_corpus,
    write_beir_qrels,
    write_beir_queries,
)
from ragbench.core.io.jsonl import (
    read_results_jsonl,
    read_run_jsonl,
    write_results_jsonl,
    write_run_jsonl,
)
from ragbench.core.io.parquet import (
    read_results_parquet,
    read_run_parquet,
    write_results_parquet,
    write_run_parquet,
)
from ragbench.core.io.trec import read_trec_qrels, read_trec_run, write_trec_qrels, write_trec_run
from ragbench.core.io.trec_eval_text import format_trec_eval

__all__ = [
    "read_qrels",
    "read_run",
    "BeirDataset", "Corpus", "Queries", "format_trec_eval", "read_beir", "read_beir_corpus",
    "read_beir_qrels", "read_beir_queries", "read_results_jsonl", "read_results_parquet",
    "read_run_jsonl", "read_run_parquet", "read_trec_qrels", "read_trec_run", "write_beir",
    "write_beir_corpus", "write_beir_qrels", "write_beir_queries", "write_results_jsonl",
    "write_results_parquet", "write_run_jsonl", "write_run_parquet", "write_trec_qrels",
    "write_trec_run",
]
