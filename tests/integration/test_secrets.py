"""No secret in any artifact: a sweep with W&B offline, a judge URL holding credentials and secrets
in the environment, then a rejected key override; every file written anywhere under the test folder
(run folders, score cache, generated data, W&B offline runs and debug logs, Hydra folders, job logs)
and the console are searched for the planted values: zero hits."""
import json
import os

from test_framework import qrexp

URL_USER, URL_TOKEN, QUERY_TOKEN = "judgeuser", "urltok-93b1c7d2e4", "qtok-5e6f7a8b9c"
ENV_SECRETS = {"OPENAI_API_KEY": "sk-envplanted-0a1b2c3d4e", "HF_TOKEN": "hf_envplanted_9z8y7x6w",
               "QREXP_JUDGE_PASSWORD": "pw-envplanted-4455",
               "WANDB_API_KEY": "e5c1a2b3d4e5f60718293a4b5c6d7e8f90a1b2c3"}
KEY_OVERRIDE = "sk-override-11aa22bb33"
PLANTED = [URL_USER + ":" + URL_TOKEN, URL_TOKEN, QUERY_TOKEN, KEY_OVERRIDE, *ENV_SECRETS.values()]


def _hits(root, texts):
    """(where, secret) for every planted secret found in a file under root or in the given texts."""
    hits = []
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            data = open(path, "rb").read()
            hits += [(path, s) for s in PLANTED if s.encode() in data]
    hits += [(label, s) for label, text in texts.items() for s in PLANTED if s in text]
    return hits


def test_no_planted_secret_in_any_file_or_console(tiny_dir, tmp_path, monkeypatch):
    for name, value in ENV_SECRETS.items():
        monkeypatch.setenv(name, value)
    for var in ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_DATA_DIR"):
        monkeypatch.setenv(var, str(tmp_path / "wandb-home"))
    url = f"http://{URL_USER}:{URL_TOKEN}@judge.example:8000/v1?api_key={QUERY_TOKEN}"
    sweep = qrexp(tmp_path, "-m", "model=tiny", f"model.path={tiny_dir}", "eval=fixture_lme",
                  "eval.methods=[icr]", "scoring.calibrate=true,false", "logger=wandb",
                  "logger.mode=offline", f"eval.qa.judge_url='{url}'")
    rejected = qrexp(tmp_path, "model=tiny", f"model.path={tiny_dir}", "eval=fixture_lme",
                     "eval.methods=[icr]", f"+eval.qa.judge_api_key={KEY_OVERRIDE}", check=False)
    assert rejected.returncode != 0 and "judge_api_key" in rejected.stdout + rejected.stderr
    # the artifacts exist and say what was configured, without the credentials
    runs = [p for p in (tmp_path / "out" / "runs").iterdir() if (p / "metrics.json").is_file()]
    assert len(runs) == 2
    for run in runs:
        rec = json.loads((run / "metrics.json").read_text())
        shown = "http://***@judge.example:8000/v1?api_key=***"
        assert rec["config"]["eval"]["qa"]["judge_url"] == shown
        assert json.loads((run / "config.json").read_text())["eval"]["qa"]["judge_url"] == shown
        assert rec["config"]["eval"]["qa"]["max_new_tokens"] == 6      # not mistaken for a token
        assert list((run / "wandb").glob("offline-run-*/run-*.wandb")), "no W&B offline run"
    hydra_files = sorted((tmp_path / "out" / "hydra").rglob("*.yaml"))
    names = {p.name for p in hydra_files}
    assert {"config.yaml", "hydra.yaml", "overrides.yaml", "multirun.yaml"} <= names, names
    overrides = [p.read_text() for p in hydra_files if p.name == "overrides.yaml"]
    # the unknown key is refused before Hydra composes (qrexp.experiment.schema): no job, no files
    assert "config eval.qa.judge_api_key:" in rejected.stderr and "key (allowed in eval.qa:" in rejected.stderr
    assert not any("judge_api_key" in text for text in overrides)
    assert any("eval.qa.judge_url='http://***@judge.example:8000/v1?api_key=***'" in t for t in overrides)
    hits = _hits(tmp_path, {"sweep stdout": sweep.stdout, "sweep stderr": sweep.stderr,
                            "rejected stdout": rejected.stdout, "rejected stderr": rejected.stderr})
    assert hits == []
