"""ragbench.core: trec_eval-exact evaluation and paired statistics, as a library.

Pure: depends on numpy, scipy and pyarrow only. Typical use::

    from ragbench.core import read_trec_qrels, read_trec_run, evaluate
    ev = evaluate(read_trec_qrels("qrels.txt"), read_trec_run("run.txt"),
                  ["nDCG@10", "AP", "P@5"])
    ev.summary()      # {"nDCG@10": 0.53, ...}
    ev.to_table()     # per-query values, an Arrow table
"""

from ragbench.core.errors import EvaluationError, FormatError, MeasureError, RagbenchError
from ragbench.core.evaluate import Evaluation, evaluate, evaluate_trec
from ragbench.core.io import read_trec_qrels, read_trec_run, write_trec_qrels, write_trec_run
from ragbench.core.measures import Measure, parse
from ragbench.core.qrels import Qrels
from ragbench.core.ranking import RankedRelevance, judge
from ragbench.core.run import Run

__all__ = [
    "Evaluation", "EvaluationError", "FormatError", "Measure", "MeasureError", "Qrels",
    "RagbenchError", "RankedRelevance", "Run", "evaluate", "evaluate_trec", "judge", "parse",
    "read_trec_qrels", "read_trec_run", "write_trec_qrels", "write_trec_run",
]
