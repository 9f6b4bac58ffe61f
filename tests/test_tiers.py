"""Test tiers are what they say (tests/README.md): unit tests load no model, model tests load only
the tiny random models of tests/organisms.py (never SmolLM2 or a hub model), gpu tests skip without
CUDA, and test folders mirror the package's folders."""
import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent
PACKAGE = TESTS.parent / "qrexp"
LOADS_A_MODEL = re.compile(r"tiny_model|planted_model|tiny_dir|copy_organism|load_model\(|from_pretrained|"
                           r"scorer_of\(|AutoModel")
LOADS_SMOLLM2 = re.compile(r"load_model\(\s*[\"']smollm2|from_pretrained\(\s*[\"']smollm2|model=smollm2|"
                           r"QRRetriever\.from_pretrained\(\s*[\"'][\w.-]+/")


def _files(tier: str) -> list[Path]:
    return sorted((TESTS / tier).rglob("test_*.py"))


def test_unit_tests_load_no_model():
    offenders = [str(p.relative_to(TESTS)) for p in _files("unit") if LOADS_A_MODEL.search(p.read_text())]
    assert not offenders, f"these load a model: move them to tests/model or tests/integration: {offenders}"


def test_model_tests_load_only_tiny_models():
    offenders = [str(p.relative_to(TESTS)) for p in _files("model") if LOADS_SMOLLM2.search(p.read_text())]
    assert not offenders, f"these load SmolLM2 or a hub model: move them to tests/integration: {offenders}"


def test_gpu_tests_skip_without_cuda():
    for p in _files("gpu"):
        assert "torch.cuda.is_available()" in p.read_text() and "skipif" in p.read_text(), p


def test_unit_and_model_folders_mirror_the_package():
    layers = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    for tier in ("unit", "model"):
        folders = {p.name for p in (TESTS / tier).iterdir() if p.is_dir() and p.name != "__pycache__"}
        assert folders <= layers, f"tests/{tier}: {sorted(folders - layers)} are not package folders"
