"""qrexp: reproducible experiments with query-focused retrieval heads (QRHead, EMNLP 2025).

The package's front door is :class:`QRRetriever` (qrexp.engine.retriever) with the value types
:class:`Doc`, :class:`Example` and :class:`Prompt` (qrexp.types) and the per-call
:class:`ScoringOptions` (qrexp.engine.scoring). The engine names are imported on first use
(PEP 562), so that ``import qrexp`` and the light commands (``qrexp list``) do not load torch and
transformers; ``from qrexp import QRRetriever`` does.
"""
from qrexp.types import Doc, Example, Prompt

__all__ = ["QRRetriever", "ScoringOptions", "Doc", "Example", "Prompt"]
__version__ = "0.1.0"
_ENGINE = {"QRRetriever": "qrexp.engine.retriever", "ScoringOptions": "qrexp.engine.scoring"}


def __getattr__(name: str):
    """Import an engine name (``QRRetriever``, ``ScoringOptions``) on first access."""
    if name not in _ENGINE:
        raise AttributeError(f"module 'qrexp' has no attribute {name!r}")
    import importlib
    value = getattr(importlib.import_module(_ENGINE[name]), name)
    globals()[name] = value
    return value
