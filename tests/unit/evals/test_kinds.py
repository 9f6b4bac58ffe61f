"""The evaluation-kind table: what each kind says, that the config accepts exactly its names (one
line with "did you mean" otherwise), and that no module outside it switches on a kind's name."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

from qrexp.evals import protocol
from qrexp.evals.kinds import KINDS, answer_plan, claim_plan, kind_fields, qa_plan
from qrexp.experiment.config import EvalConfig, RunConfig
from qrexp.types import ConfigError, Doc, Example

PACKAGE = Path(__file__).resolve().parents[3] / "qrexp"


def test_the_three_kinds_say_what_the_stages_used_to_switch_on():
    assert KINDS.names() == ["clipper", "lme", "retrieval"]
    retrieval, lme, clipper = (KINDS.get(n) for n in ("retrieval", "lme", "clipper"))
    assert retrieval.relevance is protocol.JUDGED and lme.relevance is clipper.relevance is protocol.GOLD_UNITS
    assert (retrieval.fields, lme.fields, clipper.fields) == (("ignore_identical_ids",), (), ("claim_queries",))
    assert kind_fields() == ["claim_queries", "ignore_identical_ids"]
    assert (retrieval.qa, lme.qa, clipper.qa) == (None, answer_plan, claim_plan)
    assert retrieval.headline(["ndcg_cut_10", "R@5"], [10, 1]) == ["nDCG@10", "R@5"]
    assert lme.headline(["nDCG@10"], [10, 1]) == ["R@1", "R@10"]


def test_queries_and_qrels_follow_the_kind():
    docs = (Doc("a", "x"), Doc("b", "y"))
    pair = Example("p", "pair", docs, {"a"}, meta={"true_claim": "T", "false_claim": "F"})
    per_claim, per_pair = EvalConfig(kind="clipper"), EvalConfig(kind="clipper", claim_queries="per_pair")
    assert [e.qid for e in KINDS.get("clipper").ranked([pair], per_claim)] == ["p:true", "p:false"]
    assert [e.qid for e in KINDS.get("clipper").ranked([pair], per_pair)] == ["p"]
    assert KINDS.get("lme").ranked([pair], per_claim) == [pair]
    graded = Example("g", "q", docs, {"a"}, meta={"qrels": {"a": 2, "b": 0}})
    abst = Example("abs", "q", docs, {"b"}, meta={"abstention": True})
    assert KINDS.get("retrieval").qrels([graded], graded=True) == {"g": {"a": 2, "b": 0}}
    assert KINDS.get("retrieval").qrels([graded], graded=False) == {"g": {"a": 1}}
    assert KINDS.get("lme").qrels([graded, abst], graded=False) == {"g": {"a": 1}}


def test_unknown_kind_is_one_config_line_with_did_you_mean():
    with pytest.raises(ConfigError) as err:
        RunConfig(suite={"a": EvalConfig(name="a", kind="clippr")})
    assert str(err.value) == ("config suite.a.kind='clippr': unknown evaluation kind 'clippr'; did you mean "
                              "'clipper'? (known: clipper, lme, retrieval)")


def test_qa_plan_names_the_kinds_that_define_qa():
    ex = Example("q", "?", (Doc("a", "x"),), {"a"})
    with pytest.raises(ValueError, match="QA is defined for eval.kind clipper and lme, not 'retrieval'"):
        qa_plan("retrieval", [ex], None, None)


def _compared_kind_names(tree: ast.AST, names: set[str]) -> list[int]:
    """Lines comparing something called ``kind`` (a name, an attribute, or a lookup such as
    ``row.get("config.eval.kind")``) with a kind's name, and ``KINDS.get("<a kind's name>")``."""
    def is_kind(node):
        return (isinstance(node, ast.Name) and node.id.endswith("kind")) or \
               (isinstance(node, ast.Attribute) and node.attr.endswith("kind")) or \
               (isinstance(node, ast.Call) and any(isinstance(a, ast.Constant) and isinstance(a.value, str)
                                                   and a.value.endswith("kind") for a in node.args))

    def strings(node):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return {node.value}
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            return {s for e in node.elts for s in strings(e)}
        return set()
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(is_kind(s) for s in sides) and any(strings(s) & names for s in sides):
                out.append(node.lineno)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
              and isinstance(node.func.value, ast.Name) and node.func.value.id == "KINDS"
              and node.args and strings(node.args[0]) & names):
            out.append(node.lineno)
    return out


def test_no_module_switches_on_a_kind_name():
    """Adding a kind is one KINDS entry: no comparison of a ``kind`` with a registered kind's name,
    and no ``KINDS.get("<name>")`` outside qrexp/evals/kinds.py."""
    names = set(KINDS.names())
    found = {}
    for path in PACKAGE.rglob("*.py"):
        if path == PACKAGE / "evals" / "kinds.py":
            continue
        lines = _compared_kind_names(ast.parse(path.read_text(encoding="utf-8")), names)
        if lines:
            found[str(path.relative_to(PACKAGE))] = lines
    assert found == {}
    planted = ast.parse('if cfg.eval.kind == "lme":\n    pass\nx = e.kind in ("clipper", "x")\n'
                        'y = KINDS.get("retrieval")\nz = row.get("config.eval.kind") != "retrieval"\n')
    assert sorted(_compared_kind_names(planted, names)) == [1, 3, 4, 5]     # the check sees each form


def test_the_config_and_the_kind_table_load_no_model_library():
    """RunConfig checks eval.kind against KINDS when built: that must not import torch."""
    code = "import sys, qrexp.experiment.config, qrexp.evals.kinds; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=PACKAGE.parent).stdout
    assert out.strip() == "False"
