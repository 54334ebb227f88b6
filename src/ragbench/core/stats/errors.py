"""Errors raised by :mod:`ragbench.core.stats`.

::

    RagbenchError, ValueError
     └── StatsError   bad input to a statistics function: score vectors of different
                      lengths, too few queries, NaN/inf scores, arrays that are not 1-D,
                      p-values outside [0, 1], an unknown test / correction / interval
                      name, a seed that is neither an int nor a numpy Generator, an
                      unknown baseline system.

Catch ``StatsError`` around calls into the statistics code when the scores come from
user input; every message names the argument (and the first offending query index)
at fault. It subclasses ``ValueError`` so generic callers that already catch
``ValueError`` keep working. Results are never ``assert``-checked: the checks stay on
under ``python -O``.
"""

from __future__ import annotations

from ragbench.core.errors import RagbenchError

__all__ = ["StatsError"]


class StatsError(RagbenchError, ValueError):
    """Input to a statistics function is unusable; the message says which and where."""
