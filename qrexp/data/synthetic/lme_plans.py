"""Question plans for the LongMemEval-like chats: per split, the question, its answer, the evidence
facts to plant (with an event-day offset for temporal questions) and distractor facts about other
people. A plan is drawn from one seeded ``random.Random`` (:func:`qrexp.data.synthetic.common.rng_for`),
so the same (seed, split, index, attempt) gives the same plan; the phrasings are in
:mod:`qrexp.data.synthetic.lme_phrases`.
"""
from __future__ import annotations

import random
import re

from qrexp.data.synthetic import lme_events as E
from qrexp.data.synthetic import lme_phrases as P
from qrexp.data.synthetic import names as N


def fix_articles(text: str) -> str:
    """'a' -> 'an' before a vowel ("an architect"); the banks hold no words like "a university"."""
    return re.sub(r"\b([Aa]) (?=[aeiouAEIOU])", r"\1n ", text)


def _others(rng: random.Random, k: int, avoid: set[str]) -> list[dict]:
    """``k`` other people as template fields: name and relation."""
    people = rng.sample([n for n in N.FIRST_NAMES if n not in avoid], k)
    return [{"name": p, "rel": rng.choice(N.RELATIONS)} for p in people]


def _plan_detect(rng: random.Random) -> dict:
    slot_name = rng.choice(sorted(P.SLOTS))
    slot = P.SLOTS[slot_name]
    v = rng.choice(slot["bank"])
    extra = {"species": rng.choice(N.PET_SPECIES)}
    people = _others(rng, 3, {v})
    distract = [(rng.choice(slot["other"]).format(v=N.pick_other(rng, slot["bank"], v), **extra,
                                                  **p), None) for p in people[:rng.randint(2, 3)]]
    return dict(question=rng.choice(slot["question"]).format(**extra), answer=v,
                evidence=[(rng.choice(slot["fact"]).format(v=v, **extra), None)],
                distract=distract, kind=slot_name)


def _plan_update(rng: random.Random) -> dict:
    slot_name = rng.choice(P.KU_SLOTS)
    slot = P.SLOTS[slot_name]
    old, new = rng.sample(slot["bank"], 2)
    people = _others(rng, 2, set())
    distract = [(rng.choice(slot["other"]).format(v=N.pick_other(rng, slot["bank"], {old, new}),
                                                  **p), None) for p in people[:rng.randint(1, 2)]]
    evidence = [(rng.choice(slot["fact"]).format(v=old), None),
                (rng.choice(slot["update"]).format(v=new), None)]
    return dict(question=rng.choice(slot["question"]), answer=new, evidence=evidence,
                distract=distract, kind=slot_name)


def _plan_multi(rng: random.Random) -> dict:
    fam_name = rng.choice(sorted(E.TWO_HOP))
    fam = E.TWO_HOP[fam_name]
    v = rng.choice(fam["bank"])
    things = N.CHEWED_THINGS if fam_name == "pet_chewer" else N.BORROWED_THINGS
    item, item2 = rng.sample(things, 2)
    ctx = dict(v=v, item=item, month=rng.choice(N.MONTHS), weekday=rng.choice(N.WEEKDAYS),
               pet=rng.choice(N.PET_NAMES), **_others(rng, 1, set())[0])
    evidence = [(rng.choice(fam["link"]).format(**ctx), None),
                (rng.choice(fam["use"]).format(**ctx), None)]
    distract = [(t.format(**{**ctx, "v": N.pick_other(rng, fam["bank"], v), "item": item2,
                             **_others(rng, 1, {ctx["name"]})[0]}), None) for t in fam["other"]]
    return dict(question=rng.choice(fam["question"]).format(**ctx), answer=v,
                evidence=evidence, distract=distract, kind=fam_name)


def _plan_temporal(rng: random.Random) -> dict:
    a, b = rng.sample(E.EVENTS, 2)
    people = _others(rng, 2, set())
    if rng.random() < 0.5:   # "when": the answer is the event date, filled in after dating
        return dict(question=rng.choice(a["when"]), answer=None, kind="when",
                    evidence=[(rng.choice(a["mention"]), rng.randint(1, 12))],
                    distract=[(a["other"].format(d="{d}", **people[0]), rng.randint(1, 20)),
                              (rng.choice(b["mention"]), rng.randint(1, 12))],
                    shorts=[a["short"]])
    pair = [a, b]
    return dict(question=rng.choice(E.FIRST_QUESTIONS).format(a=a["short"], b=b["short"]),
                answer=None, kind="first",
                evidence=[(rng.choice(e["mention"]), rng.randint(1, 20)) for e in pair],
                distract=[(e["other"].format(d="{d}", **p), rng.randint(1, 20))
                          for e, p in zip(pair, people)],
                shorts=[e["short"] for e in pair])


PLANNERS = {"detect": _plan_detect, "multi-session": _plan_multi,
            "knowledge-update": _plan_update, "temporal-reasoning": _plan_temporal}
