"""trec_eval's measures, one module per family of related measures.

Importing this package registers every family in :data:`FAMILIES`.
:data:`TREC_ORDER` is trec_eval's own table order, which is also the order in
which its output lists measures, whatever order ``-m`` named them in.
"""

from __future__ import annotations

from importlib import import_module

from ragbench.core.metrics._family import FAMILIES, Family, TrecMeasure, register

_MODULES = (
    "counts",
    "precision",
    "average_precision",
    "bpref",
    "ndcg",
    "rbp",
    "unjudged",
)
for _module in _MODULES:
    import_module(f"{__name__}.{_module}")

TREC_ORDER = (
    "runid", "num_q", "num_ret", "num_rel", "num_rel_ret", "map", "gm_map", "Rprec",
    "bpref", "recip_rank", "iprec_at_recall", "P", "relstring", "recall", "infAP",
    "gm_bpref", "Rprec_mult", "utility", "11pt_avg", "binG", "G", "dcg", "ideal_dcg",
    "ndcg", "ndcg_rel", "Rndcg", "ndcg_cut", "map_cut", "relative_P", "success", "set_P",
    "set_relative_P", "set_recall", "set_map", "set_F", "num_nonrel_judged_ret",
    "rbp", "rbp_resid", "unj",
)

NICKNAMES: dict[str, tuple[str, ...]] = {
    "official": ("runid", "num_q", "num_ret", "num_rel", "num_rel_ret", "map", "gm_map",
                 "Rprec", "bpref", "recip_rank", "iprec_at_recall", "P"),
    "all_trec": ("runid", "num_q", "num_ret", "num_rel", "num_rel_ret", "map", "gm_map",
                 "Rprec", "bpref", "recip_rank", "iprec_at_recall", "P", "relstring",
                 "recall", "infAP", "gm_bpref", "utility", "11pt_avg", "ndcg",
                 "relative_P", "Rprec_mult", "success", "map_cut", "ndcg_cut", "ndcg_rel",
                 "Rndcg", "binG", "G", "set_P", "set_recall", "set_relative_P", "set_map",
                 "set_F", "num_nonrel_judged_ret", "rbp", "rbp_resid", "unj"),
    "set": ("runid", "num_q", "num_ret", "num_rel", "num_rel_ret", "utility", "set_P",
            "set_recall", "set_relative_P", "set_map", "set_F"),
}

__all__ = ["FAMILIES", "Family", "NICKNAMES", "TREC_ORDER", "TrecMeasure", "register"]
