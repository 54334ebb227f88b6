"""trec_eval's ``-m`` measure specifications, accepted unchanged.

``official``, ``all_trec``, ``set``, a family name (``map``), or a family with
parameters after the first dot (``P.5,7,3``, ``ndcg.1=3,2=9``,
``iprec_at_recall..10,.20``). As in trec_eval, measures are reported in
trec_eval's table order; the first parameters given for a family win.
"""

from __future__ import annotations

from collections.abc import Iterable

from ragbench.core.errors import MeasureError
from ragbench.core.metrics import FAMILIES, NICKNAMES, TREC_ORDER, TrecMeasure

DEFAULT_SPEC = ("official",)


def parse_trec_specs(specs: Iterable[str] | None) -> list[TrecMeasure]:
    specs = list(specs) if specs else list(DEFAULT_SPEC)
    chosen: dict[str, TrecMeasure] = {}
    for spec in specs:
        spec = spec.strip()
        if spec in NICKNAMES:
            for name in NICKNAMES[spec]:
                if name in FAMILIES and name not in chosen:
                    fam = FAMILIES[name]
                    chosen[name] = TrecMeasure(fam, fam.default_params, None)
            continue
        name, dot, params = spec.partition(".")
        if name not in FAMILIES:
            known = ", ".join(sorted(FAMILIES)) + ", " + ", ".join(NICKNAMES)
            raise MeasureError(f"unknown trec_eval measure {name!r} in -m {spec!r}; "
                               f"known: {known}")
        fam = FAMILIES[name]
        if name in chosen and chosen[name].printable is not None:
            continue
        parsed, printable = fam.parse_params(params if dot else None)
        if name in chosen and printable is None:
            continue
        chosen[name] = TrecMeasure(fam, parsed, printable)
    rank = {name: i for i, name in enumerate(TREC_ORDER)}
    return sorted(chosen.values(), key=lambda m: rank.get(m.family.name, len(rank)))
