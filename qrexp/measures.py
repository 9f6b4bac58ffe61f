"""One metric vocabulary for files, tables, W&B and configs: ir_measures-style names.

Canonical names follow ir_measures (MacAvaney et al., ECIR 2022): ``nDCG@10``, ``R@5``, ``P@5``,
``AP``, ``RR``, ``Success@5``, ``Rprec``, ``Bpref``. Long-context tasks use the same names for the
same quantities (the fraction of gold units in the top k is ``R@k``; "any gold unit in the top k"
is ``Success@k``); two measures ir_measures has no name for get one in its style: ``R_all@k``
(1 if every gold unit is in the top k; LongMemEval's recall_all) and the QA accuracies ``Acc@k``
(LongMemEval, judged answers from the top-k units; ``Acc`` for the full context) and
``PairAcc@k`` (CLIPPER claim pairs).

Input may use trec_eval / pytrec_eval names (``ndcg_cut_10``, ``ndcg_cut.5,10``, ``recall_100``,
``P_5``, ``map``, ``recip_rank``, ``success_5``) or qrexp's earlier names (``recall@5``,
``recall_any@5``, ``recall_all@5``, ``accuracy@5``, ``pair_accuracy@5``); both map onto the
canonical names, case-insensitively. Every measure here is a proportion in [0, 1], shown x100 in
tables (the paper's scale).
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

# canonical base -> (trec_eval name without cut-off, trec_eval name with cut-off "<x>_<k>", description)
BASES: dict[str, tuple[str | None, str | None, str]] = {
    "nDCG": ("ndcg", "ndcg_cut", "normalised discounted cumulative gain (trec_eval linear gain)"),
    "R": (None, "recall", "recall: fraction of the relevant (gold) documents/units in the top k"),
    "P": (None, "P", "precision: fraction of the top k that is relevant"),
    "AP": ("map", "map_cut", "average precision (MAP when averaged over queries)"),
    "RR": ("recip_rank", None, "reciprocal rank of the first relevant document (MRR as a mean)"),
    "Success": (None, "success", "1 if any relevant document/unit is in the top k (recall_any)"),
    "Rprec": ("Rprec", None, "precision at rank R, R = number of relevant documents"),
    "Bpref": ("bpref", None, "binary preference (trec_eval bpref)"),
    "R_all": (None, None, "1 if every gold unit is in the top k (LongMemEval recall_all)"),
    "Acc": (None, None, "QA accuracy from the top-k units (no cut-off: full context), judged"),
    "PairAcc": (None, None, "CLIPPER claim-pair accuracy from the top-k chapters (no cut-off: full context)"),
}
_NEEDS_CUTOFF = {"R", "P", "Success", "R_all"}
_NO_CUTOFF = {"RR", "Rprec", "Bpref"}
_BY_LOWER = {b.lower(): b for b in BASES}
_TREC = {}                       # trec_eval base (lower case) -> (canonical base, takes a cut-off)
for _base, (_plain, _cut, _) in BASES.items():
    if _plain:
        _TREC[_plain.lower()] = (_base, False)
    if _cut:
        _TREC[_cut.lower()] = (_base, True)
_LEGACY = {"recall": "R", "recall_any": "Success", "recall_all": "R_all", "accuracy": "Acc",
           "pair_accuracy": "PairAcc", "ndcg": "nDCG", "mrr": "RR", "map": "AP"}


@dataclass(frozen=True)
class Measure:
    """A parsed measure: canonical ``base`` and optional ``cutoff`` (k)."""
    base: str
    cutoff: int | None = None

    @property
    def name(self) -> str:
        """Canonical name, e.g. "nDCG@10"."""
        return self.base if self.cutoff is None else f"{self.base}@{self.cutoff}"

    @property
    def trec(self) -> str | None:
        """The pytrec_eval measure name ("ndcg_cut_10"), or None when trec_eval does not compute it."""
        plain, cut, _ = BASES[self.base]
        if self.cutoff is None:
            return plain
        return f"{cut}_{self.cutoff}" if cut else None

    def __str__(self) -> str:
        return self.name


def _make(base: str, cutoff: int | None, text: str) -> Measure:
    if base in _NEEDS_CUTOFF and cutoff is None:
        raise ValueError(f"measure {text!r}: {base} needs a cut-off, e.g. {base}@10")
    if base in _NO_CUTOFF and cutoff is not None:
        raise ValueError(f"measure {text!r}: {base} takes no cut-off")
    if cutoff is not None and cutoff < 1:
        raise ValueError(f"measure {text!r}: the cut-off must be >= 1")
    return Measure(base, cutoff)


def _unknown(text: str) -> ValueError:
    base, at, k = str(text).partition("@")
    vocab = {**_BY_LOWER, **{t: b for t, (b, _) in _TREC.items()}, **_LEGACY}
    close = difflib.get_close_matches(base.lower(), list(vocab), n=2, cutoff=0.6)
    hint = f"; did you mean {' or '.join(dict.fromkeys(vocab[c] + at + k for c in close))}?" if close else ""
    return ValueError(f"unknown measure {text!r}{hint} (ir_measures names such as nDCG@10, R@100, "
                      f"P@5, AP, RR, Success@5, R_all@5, Acc@5; or trec_eval names such as ndcg_cut_10)")


def parse_all(text: Any) -> list[Measure]:
    """Every measure named by ``text``: one, or several for trec_eval's "ndcg_cut.5,10".

    Raises ValueError naming the text (and close matches) when it names no known measure.
    """
    s = str(text).strip()
    m = re.fullmatch(r"([A-Za-z_]+)@(\d+)", s)                  # ir_measures style or qrexp legacy
    if m:
        low = m.group(1).lower()
        base = _BY_LOWER.get(low) or _LEGACY.get(low)
        if base:
            return [_make(base, int(m.group(2)), s)]
        raise _unknown(s)
    m = re.fullmatch(r"([A-Za-z_]+?)[._](\d+(?:,\d+)*)", s)     # trec_eval: recall_5, ndcg_cut.5,10
    if m and m.group(1).lower() in _TREC and _TREC[m.group(1).lower()][1]:
        base = _TREC[m.group(1).lower()][0]
        return [_make(base, int(k), s) for k in m.group(2).split(",")]
    low = s.lower()
    if low in _TREC and not _TREC[low][1]:
        return [_make(_TREC[low][0], None, s)]
    base = _BY_LOWER.get(low) or _LEGACY.get(low)
    if base:
        return [_make(base, None, s)]
    raise _unknown(s)


def parse(text: Any) -> Measure:
    """The one measure ``text`` names; raises ValueError for unknown names or several measures."""
    found = parse_all(text)
    if len(found) != 1:
        raise ValueError(f"measure {text!r} names {len(found)} measures ({', '.join(map(str, found))}); "
                         "give one")
    return found[0]


def normalise(text: Any) -> str:
    """Canonical name of one measure ("ndcg_cut_10" -> "nDCG@10"); raises ValueError if unknown."""
    return parse(text).name


def normalise_all(names: Iterable[Any]) -> list[str]:
    """Canonical names, expanded ("ndcg_cut.5,10" -> nDCG@5, nDCG@10) and de-duplicated in order."""
    return list(dict.fromkeys(m.name for n in names for m in parse_all(n)))


def is_measure(text: Any) -> bool:
    """True if ``text`` parses as a measure name in any accepted vocabulary (never raises)."""
    try:
        parse(text)
        return True
    except ValueError:
        return False


def canonical_key(key: str) -> str:
    """Canonical name when ``key`` names one measure, else ``key`` unchanged (e.g. "n_abstention",
    "parse_failures@5", "top_heads"): for renaming metric dicts that also carry other fields."""
    try:
        return normalise(key)
    except ValueError:
        return key


def normalise_keys(values: Mapping[str, Any]) -> dict[str, Any]:
    """A metrics mapping with measure keys in canonical names (other keys kept as they are).

    Raises ValueError when two keys name the same measure with different values.
    """
    out: dict[str, Any] = {}
    for key, value in values.items():
        name = canonical_key(str(key))
        if name in out and out[name] != value:
            raise ValueError(f"metrics: {key!r} and another key both name {name} with different values")
        out[name] = value
    return out


def trec_names(names: Iterable[Any]) -> dict[str, str]:
    """{pytrec_eval name: canonical name} for measures trec_eval computes; raises for others
    (e.g. R_all@5 or Acc@5, which only long-context / QA evaluations produce)."""
    out = {}
    for m in (m for n in names for m in parse_all(n)):
        if m.trec is None:
            raise ValueError(f"measure {m.name} is not computed by trec_eval over qrels "
                             "(it is a long-context or QA measure)")
        out[m.trec] = m.name
    return out


def sort_key(name: str) -> tuple:
    """Order for table columns: by base (nDCG, R, P, ... as in BASES), then cut-off; others last."""
    try:
        m = parse(name)
    except ValueError:
        return (len(BASES), name, 0)
    return (list(BASES).index(m.base), "", m.cutoff or 0)


def describe() -> list[tuple[str, str]]:
    """(name pattern, one-line description) for every base, for ``qrexp list measures``."""
    return [(b + ("@k" if b in _NEEDS_CUTOFF else "[@k]" if b not in _NO_CUTOFF else ""), d)
            for b, (_, _, d) in BASES.items()]
