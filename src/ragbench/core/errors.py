"""Exceptions raised by :mod:`ragbench.core`.

The tree, and when to catch each::

    RagbenchError                 anything the core raises on purpose
    ├── FormatError (ValueError)  an input file or object is malformed; carries
    │                             ``source`` (file name), ``line`` (1-based) and
    │                             ``field`` where they are known
    ├── MeasureError (ValueError) a measure name or trec_eval ``-m`` spec that does
    │                             not parse, or a parameter out of range
    ├── EvaluationError           the inputs are well formed but cannot be evaluated
    │                             together (e.g. no query in common)
    └── StatsError (ValueError)   bad input to a statistical test; defined in
                                  ragbench.core.stats.errors, next to the tests
"""

from __future__ import annotations


class RagbenchError(Exception):
    """Base class of every error the core raises on purpose."""


class FormatError(RagbenchError, ValueError):
    """Malformed input. ``str()`` reads ``file:line: field: what is wrong``."""

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.source = source
        self.line = line
        self.field = field
        super().__init__(self._render())

    def _render(self) -> str:
        where = ""
        if self.source is not None:
            where = str(self.source)
            if self.line is not None:
                where += f":{self.line}"
            where += ": "
        elif self.line is not None:
            where = f"line {self.line}: "
        field = f"{self.field}: " if self.field else ""
        return f"{where}{field}{self.message}"


class MeasureError(RagbenchError, ValueError):
    """A measure name or trec_eval measure spec that cannot be understood."""


class EvaluationError(RagbenchError):
    """Inputs that are each valid but cannot be evaluated together."""
