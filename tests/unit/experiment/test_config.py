"""Config values are type-checked when the config is built: through Hydra's composition of conf/
with command-line overrides, and through the Python conversion (qrexp.experiment.config.from_dict)."""
from pathlib import Path

import pytest

from qrexp.experiment.compose import compose_config
from qrexp.experiment.config import ConfigError, DetectConfig, RunConfig, from_dict, to_dict
from qrexp.experiment.evaluate import eval_config, eval_id
from qrexp.experiment.detect import detection_id

CONF = Path(__file__).parents[3] / "conf"


def hydra_cfg(*overrides) -> RunConfig:
    """Composed as the command line does: strict override checks, Hydra's typed schema, from_hydra."""
    return compose_config(["eval=generated_beir", *overrides], conf_dir=CONF)


def test_a_single_method_is_promoted_to_a_list():
    cfg = hydra_cfg("eval.methods=bm25")
    assert cfg.eval.methods == ("bm25",)
    assert hydra_cfg("eval.ks=5").eval.ks == (5,)
    assert hydra_cfg("eval.methods=[bm25,dense]").eval.methods == ("bm25", "dense")


@pytest.mark.parametrize("override,message", [
    ("eval.measures=[ndcg_cut.5,10]",
     "config eval.measures[1]=10: expected a string, got an integer; an item that contains a comma must "
     "be quoted, e.g. 'eval.measures=[\"ndcg_cut.5,10\"]'"),
    ("scoring.calibrate=maybe", "config scoring.calibrate='maybe': expected true or false, got a string"),
    ("scoring.calibrate=no", "config scoring.calibrate='no': expected true or false"),
    ("scoring.calibrate=1", "config scoring.calibrate=1: expected true or false, got an integer"),
    ("scoring.mask_sigma=two", "config scoring.mask_sigma='two': expected a number or null, got a string"),
    ("scoring.mask_sigma=-1", "config scoring.mask_sigma=-1.0: must be a number >= 0, or null for no mask"),
    ("heads.k=0", "config heads.k=0: must be >= 1, or null"),
    ("model.k=0", "config model.k=0: must be >= 1"),
    ("eval.data.limit=-1", "config eval.data.limit=-1: must be >= 1, or null for all"),
    ("eval.data.limit=0", "config eval.data.limit=0: must be >= 1, or null for all"),
    ("eval.data.limit=2.5", "config eval.data.limit=2.5: expected an integer or null, got a number"),
    ("eval.ks=[3,x]", "config eval.ks[1]='x': expected an integer, got a string"),
    ("model.name=123", "config model.name=123: expected a string or null, got an integer; quote it"),
    ("model.name=llama3.1-8b", "config model.name='llama3.1-8b' contradicts model.path='smollm2-135m'"),
    ("+eval.foo=1", "config eval.foo: unknown key (allowed in eval: claim_queries, data, dense_model, detect,"),
    ("+detect.max_new_tokens=16", "config detect.max_new_tokens: unknown key"),
    ("eval.methods=[]", "config eval.methods: empty; list at least one"),
    ("scoring.query_span=querry", "config scoring.query_span='querry': must be one of instruction, query"),
    ("logger.mode=live", "config logger.mode='live': must be one of offline, online, disabled"),
    ("heads=random", None),
])
def test_bad_values_are_one_line_errors_at_composition(override, message):
    if message is None:                                  # a control: a valid override composes
        assert hydra_cfg(override).heads.source == "random"
        return
    with pytest.raises(ConfigError) as err:
        hydra_cfg(override)
    text = str(err.value)
    assert text.startswith(message) and "\n" not in text


def test_missing_mandatory_value_names_the_key():
    with pytest.raises(ConfigError, match=r"^config model.path: no value set \(\?\?\?\); set it"):
        hydra_cfg("model=tiny")


def test_booleans_and_numbers_normalised_so_run_ids_agree():
    a, b = hydra_cfg("scoring.mask_sigma=2"), hydra_cfg("scoring.mask_sigma=2.0")
    assert a.scoring.mask_sigma == 2.0 and isinstance(a.scoring.mask_sigma, float)
    assert eval_id(a, "qrhead") == eval_id(b, "qrhead")
    assert eval_id(a, "qrhead") != eval_id(hydra_cfg("scoring.mask_sigma=3"), "qrhead")


def test_python_conversion_checks_the_same_way():
    cfg = from_dict(RunConfig, {"eval": {"methods": "icr", "qa": {"top_k": 3}}, "suite": {}})
    assert cfg.eval.methods == ("icr",) and cfg.eval.qa.top_k == (3,)
    with pytest.raises(ConfigError, match=r"^config suite.x.data.limit=-1: must be >= 1"):
        from_dict(RunConfig, {"suite": {"x": {"data": {"limit": -1}}}})
    with pytest.raises(ConfigError, match=r"^config eval.detect.data.limit=0"):
        from_dict(RunConfig, {"eval": {"detect": {"data": {"limit": 0}}}})
    with pytest.raises(ConfigError, match=r"^config eval.qa=.*expected a mapping of QAConfig fields"):
        from_dict(RunConfig, {"eval": {"qa": True}})
    assert to_dict(from_dict(RunConfig, to_dict(RunConfig()))) == to_dict(RunConfig())


def test_dead_detection_field_is_gone_and_ids_follow_what_is_used():
    assert "max_new_tokens" not in {f for f in DetectConfig.__dataclass_fields__}
    lme = hydra_cfg("eval=generated_lme")
    # a retrieval-only field does not enter the id of an LME evaluation; it does for BEIR-style data
    assert "ignore_identical_ids" not in eval_config(lme, "bm25")["eval"]
    beir = hydra_cfg()
    off = hydra_cfg("eval.ignore_identical_ids=false")
    assert eval_id(beir, "bm25") != eval_id(off, "bm25")
    assert detection_id(beir) == detection_id(hydra_cfg("eval.methods=bm25"))


def test_library_scoring_options_refuse_truthy_strings():
    from qrexp.engine.scoring import ScoringOptions
    with pytest.raises(ValueError, match="calibrate must be True or False, got 'no'"):
        ScoringOptions(calibrate="no")
    with pytest.raises(ValueError, match="mask_sigma must be a number or None, got 'two'"):
        ScoringOptions(mask_sigma="two")
    assert ScoringOptions(calibrate=False, mask_sigma=None).calibrate is False
