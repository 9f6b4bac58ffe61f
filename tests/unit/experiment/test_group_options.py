"""An override that picks a config-group option without a YAML is one line with a suggestion, before
Hydra composes (which would print its multi-line "Could not find" listing, exit 1)."""
from pathlib import Path

import pytest

from qrexp.experiment.compose import check_group_options
from qrexp.io.package_data import package_data
from qrexp.types import ConfigError

CONF = package_data("conf")
TESTS_CONF = Path(__file__).resolve().parents[2] / "conf"


@pytest.mark.parametrize("argv, expected", [
    (["eval=generated_lmee"], "config group 'eval' has no option 'generated_lmee'; did you mean 'generated_lme'? "
                              "(options: beir, clipper, generated_beir, generated_clipper, generated_lme, lme)"),
    (["-m", "heads=detected,ful"], "config group 'heads' has no option 'ful'; did you mean 'full'?"),
    (["experiment=paper/tabel2"], "config group 'experiment' has no option 'paper/tabel2'; did you mean 'paper/table2'?"),
    (["/eval@suite.lme=lmee"], "config group 'eval' has no option 'lmee'; did you mean 'lme'?"),
    (["eval=fixture_beir"], "config group 'eval' has no option 'fixture_beir'"),       # a test-only option
])
def test_unknown_option_is_named_with_a_suggestion(argv, expected):
    with pytest.raises(ConfigError) as err:
        check_group_options(argv, CONF)
    assert str(err.value).startswith(expected) and "\n" not in str(err.value)


@pytest.mark.parametrize("argv", [
    ["eval=generated_lme", "model=smollm2-135m", "experiment=paper/table2", "heads=detected,full"],
    ["eval.data.limit=3", "model.path=some/hub-id", "out_dir=o", "stage=view"],        # values, not groups
    ["hydra/launcher=basic", "~logger", "+eval@suite.x=beir", "heads=glob(*)"],          # Hydra's own and functions
    [f"hydra.searchpath=[file://{TESTS_CONF}]", "eval=fixture_beir", "model=tiny"],      # options of a search path
    ["hydra.searchpath=[pkg://elsewhere.conf]", "eval=from_a_package"],                 # a tree we cannot see
    ["-cd", "/some/other/conf", "eval=anything"],
])
def test_known_options_values_and_other_trees_pass(argv):
    check_group_options(argv, CONF)
