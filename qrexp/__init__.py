"""qrexp: reproducible experiments with query-focused retrieval heads (QRHead, EMNLP 2025).

The package's front door is :class:`QRRetriever` (qrexp.engine.retriever) with the value types
:class:`Doc`, :class:`Example` and :class:`Prompt` (qrexp.types) and the per-call
:class:`ScoringOptions` (qrexp.engine.scoring). Importing ``qrexp`` imports torch
and transformers (the retriever's engine).
"""
from qrexp.engine.retriever import QRRetriever
from qrexp.engine.scoring import ScoringOptions
from qrexp.types import Doc, Example, Prompt

__all__ = ["QRRetriever", "ScoringOptions", "Doc", "Example", "Prompt"]
__version__ = "0.1.0"
