"""ragbench measures: value objects whose canonical string parses back.

``parse("nDCG(gain=exp)@10")`` gives a :class:`Measure`; ``str()`` of it gives the
canonical spelling back, so the string is a safe key for storage. Parameters
are written in name order; ``rel=N`` is the relevance threshold (trec_eval
``-l N``) and defaults to 1.

=============  ===========  =================================================
measure        trec_eval    meaning
=============  ===========  =================================================
``P@k``        P_k          relevant in top k / k
``P``          set_P        relevant retrieved / retrieved
``R@k``        recall_k     relevant in top k / relevant
``R``          set_recall   relevant retrieved / relevant
``AP``         map          average precision
``AP@k``       map_cut_k    average precision of the top k (divided by num_rel)
``RR``         recip_rank   1 / rank of the first relevant document
``RR@k``       (-M k) recip_rank, 0 if none in the top k
``Rprec``      Rprec        precision at rank R = num_rel
``Bpref``      bpref        binary preference
``infAP``      infAP        inferred AP (negative grades = unjudged sample)
``nDCG``       ndcg         nDCG over the whole ranking, gain = grade
``nDCG@k``     ndcg_cut_k   nDCG of the top k, gain = grade, log2(rank+1)
``nDCG(gain=exp)@k``  --    gain 2^grade - 1 (Burges et al.), same discount
``Success@k``  success_k    1 if a relevant document is in the top k
``Judged@k``   1 - unj_k    judged documents in the top k / min(k, retrieved)
``RBP(p=0.8)`` rbp          rank-biased precision, persistence p
``NumRet``     num_ret      documents retrieved (also NumRel, NumRelRet)
=============  ===========  =================================================
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from ragbench.core.errors import MeasureError
from ragbench.core.metrics import FAMILIES, TrecMeasure
from ragbench.core.ranking import RankedRelevance

_SYNTAX = re.compile(r"^\s*([A-Za-z][A-Za-z_]*)\s*(?:\(([^()]*)\))?\s*(?:@\s*(\S+))?\s*$")


@dataclass(frozen=True)
class _Spec:
    name: str
    trec: Callable[[int | None, dict], tuple[str, tuple | None] | None]
    cutoff: str  # "no" | "optional" | "required"
    params: dict[str, type] = field(default_factory=dict)
    direct: Callable[[RankedRelevance, int | None, dict], np.ndarray] | None = None
    description: str = ""


@dataclass(frozen=True, order=True)
class Measure:
    """A measure with its parameters: ``Measure("nDCG", 10)``, ``parse("P(rel=2)@5")``."""

    name: str
    cutoff: int | None = None
    params: tuple[tuple[str, object], ...] = ()

    def __str__(self) -> str:
        text = self.name
        if self.params:
            text += "(" + ",".join(f"{k}={_fmt(v)}" for k, v in self.params) + ")"
        if self.cutoff is not None:
            text += f"@{self.cutoff}"
        return text

    @property
    def relevance_level(self) -> int:
        return int(dict(self.params).get("rel", 1))

    @property
    def trec_name(self) -> str | None:
        """trec_eval's equivalent (``ndcg_cut_10``), or None if it has none; a
        non-default ``rel`` needs trec_eval's ``-l``."""
        spec = MEASURES[self.name]
        mapped = spec.trec(self.cutoff, dict(self.params))
        if mapped is None:
            return None
        family, params = mapped
        return FAMILIES[family].output_names(params, None)[0]

    def compute(self, rr: RankedRelevance) -> np.ndarray:
        """Per-query values on ``rr`` (judged with this measure's ``rel``)."""
        spec = MEASURES[self.name]
        kw = dict(self.params)
        if spec.direct is not None:
            return spec.direct(rr, self.cutoff, kw)
        family, params = spec.trec(self.cutoff, kw)
        fam = FAMILIES[family]
        return TrecMeasure(fam, params, None).compute(rr)[:, 0].astype(np.float64)

    @property
    def aggregate(self) -> str:
        spec = MEASURES[self.name]
        mapped = spec.trec(self.cutoff, dict(self.params)) if spec.direct is None else None
        return FAMILIES[mapped[0]].average if mapped else "mean"


def _fmt(v) -> str:
    if isinstance(v, float):
        return repr(v)
    return str(v)


def parse(text: str | Measure) -> Measure:
    """Parse ``"nDCG@10"``, ``"P(rel=2)@5"``, ``"nDCG(gain=exp)@10"``, ``"RBP(p=0.8)"``."""
    if isinstance(text, Measure):
        return text
    m = _SYNTAX.match(text)
    if m is None:
        raise MeasureError(f"cannot parse measure {text!r}; expected NAME[(k=v,...)][@cutoff], "
                           "e.g. nDCG@10, P(rel=2)@5")
    name, raw_params, raw_cutoff = m.groups()
    canonical = _ALIASES.get(name.lower())
    if canonical is None:
        raise MeasureError(f"unknown measure {name!r} in {text!r}; known: "
                           + ", ".join(sorted(MEASURES)))
    spec = MEASURES[canonical]
    cutoff = None
    if raw_cutoff is not None:
        if spec.cutoff == "no":
            raise MeasureError(f"measure {canonical} takes no cutoff (got {text!r})")
        if not raw_cutoff.isdigit() or int(raw_cutoff) < 1:
            raise MeasureError(f"cutoff must be a positive integer, got {raw_cutoff!r} in {text!r}")
        cutoff = int(raw_cutoff)
    elif spec.cutoff == "required":
        raise MeasureError(f"measure {canonical} needs a cutoff, e.g. {canonical}@10")
    params: dict[str, object] = {}
    if raw_params:
        for item in raw_params.split(","):
            key, sep, value = (s.strip() for s in item.partition("="))
            if not sep or key not in spec.params and key != "rel":
                allowed = ", ".join(["rel", *spec.params])
                raise MeasureError(f"measure {canonical}: unknown parameter {item.strip()!r} "
                                   f"in {text!r} (allowed: {allowed})")
            kind = spec.params.get(key, int)
            try:
                params[key] = kind(value)
            except ValueError:
                raise MeasureError(f"measure {canonical}: parameter {key}={value!r} is not "
                                   f"{kind.__name__}") from None
    if params.get("rel") == 1:
        del params["rel"]  # the default: one spelling per measure
    if "rel" in params and params["rel"] < 0:
        raise MeasureError(f"rel must be >= 0, got {params['rel']}")
    if params.get("gain") not in (None, "exp", "linear"):
        raise MeasureError(f"gain must be exp or linear, got {params['gain']!r}")
    if params.get("gain") == "linear":
        del params["gain"]
    if "p" in params and not 0 < params["p"] < 1:
        raise MeasureError(f"p must be in (0, 1), got {params['p']}")
    return Measure(canonical, cutoff, tuple(sorted(params.items())))


def parse_all(texts: Iterable[str | Measure]) -> list[Measure]:
    out: list[Measure] = []
    for t in texts:
        m = parse(t)
        if m not in out:
            out.append(m)
    return out


# ---- the registry ----------------------------------------------------------

def _cut_or(family_cut: str, family_set: str):
    return lambda k, p: (family_cut, (k,)) if k is not None else (family_set, None)


def _rr_at(rr: RankedRelevance, k, p) -> np.ndarray:
    trunc = rr if k is None else rr.truncated(k)
    return TrecMeasure(FAMILIES["recip_rank"], None, None).compute(trunc)[:, 0]


def _judged_at(rr: RankedRelevance, k, p) -> np.ndarray:
    trunc = rr if k is None else rr.truncated(k)
    judged = trunc.segment_sum((trunc.rel >= 0).astype(np.int64))
    return np.divide(judged, trunc.num_ret, out=np.zeros(rr.num_queries),
                     where=trunc.num_ret > 0)


def _ndcg(rr: RankedRelevance, k, p) -> np.ndarray:
    if p.get("gain") == "exp":
        from ragbench.core.metrics.ndcg import ndcg_exp
        return ndcg_exp(rr, k)
    fam, params = ("ndcg_cut", (k,)) if k is not None else ("ndcg", None)
    return TrecMeasure(FAMILIES[fam], params, None).compute(rr)[:, 0]


def _rbp(rr, k, p) -> np.ndarray:
    trunc = rr if k is None else rr.truncated(k)
    fam = FAMILIES["rbp"]
    params = (p["p"],) if "p" in p else fam.default_params
    return TrecMeasure(fam, params, None).compute(trunc)[:, 0]


MEASURES: dict[str, _Spec] = {s.name: s for s in [
    _Spec("P", _cut_or("P", "set_P"), "optional"),
    _Spec("R", _cut_or("recall", "set_recall"), "optional"),
    _Spec("AP", _cut_or("map_cut", "map"), "optional"),
    _Spec("RR", lambda k, p: ("recip_rank", None) if k is None else None, "optional",
          direct=_rr_at),
    _Spec("Rprec", lambda k, p: ("Rprec", None), "no"),
    _Spec("Bpref", lambda k, p: ("bpref", None), "no"),
    _Spec("infAP", lambda k, p: ("infAP", None), "no"),
    _Spec("nDCG", lambda k, p: None if p.get("gain") else
          (("ndcg_cut", (k,)) if k is not None else ("ndcg", None)),
          "optional", {"gain": str}, direct=_ndcg),
    _Spec("Success", lambda k, p: ("success", (k,)), "required"),
    _Spec("Judged", lambda k, p: None, "required", direct=_judged_at),
    _Spec("RBP", lambda k, p: ("rbp", None) if k is None and "p" not in p else None,
          "optional", {"p": float}, direct=_rbp),
    _Spec("NumRet", lambda k, p: ("num_ret", None), "no"),
    _Spec("NumRel", lambda k, p: ("num_rel", None), "no"),
    _Spec("NumRelRet", lambda k, p: ("num_rel_ret", None), "no"),
]}

_ALIASES = {name.lower(): name for name in MEASURES} | {
    "map": "AP", "mrr": "RR", "recip_rank": "RR", "ndcg": "nDCG", "bpref": "Bpref",
    "recall": "R", "precision": "P", "success": "Success", "judged": "Judged",
    "rbp": "RBP", "r-precision": "Rprec",
}
