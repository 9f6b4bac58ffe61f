"""Which examples unit recall can score, and why the others are left out (never silently).

Long-context tasks leave a question out of recall@k when it has no gold unit: a LongMemEval
abstention question, a LongMemEval question whose evidence sessions are all absent from its history,
a CLIPPER pair without a ``source`` (HF release rows). Loaders say why in ``meta["no_gold"]``
(abstention: ``meta["abstention"]``); evaluation records the counts next to the metrics, so ``n``
(all examples, as QA uses them) and the number behind each recall mean are both on record.
"""
from __future__ import annotations

import math
from collections import Counter
from typing import Callable, MutableMapping, Sequence

from qrexp.types import Example


def left_out_reason(example: Example) -> str | None:
    """Why ``example`` has no gold units for recall (None: it has some)."""
    if example.meta.get("abstention"):
        return "abstention question"
    if not example.gold:
        return str(example.meta.get("no_gold") or "no gold unit")
    return None


def gold_coverage(examples: Sequence[Example]) -> dict:
    """{"n": examples, "with_gold": examples scored by recall, "left_out": {reason: count}}."""
    reasons = Counter(r for r in map(left_out_reason, examples) if r is not None)
    return {"n": len(examples), "with_gold": len(examples) - sum(reasons.values()),
            "left_out": dict(sorted(reasons.items()))}


def report_gold_coverage(examples: Sequence[Example], metrics: MutableMapping[str, float],
                         log: Callable[[str], None] = print) -> dict:
    """Log who recall leaves out; drop the recall means (NaN) when no example has gold.

    Side effect: ``metrics`` loses its NaN entries when nothing could be scored. Returns
    {"gold_coverage": gold_coverage(examples)} for the run's extra record.
    """
    cov = gold_coverage(examples)
    if cov["left_out"]:
        parts = "; ".join(f"{k} x{v}" for k, v in cov["left_out"].items())
        log(f"[evaluate] recall over {cov['with_gold']} of {cov['n']} examples; left out: {parts}")
    if cov["with_gold"] == 0:
        for name in [k for k, v in metrics.items() if isinstance(v, float) and math.isnan(v)]:
            del metrics[name]
    return {"gold_coverage": cov}
