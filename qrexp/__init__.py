"""qrexp: reproducible experiments with query-focused retrieval heads (QRHead, EMNLP 2025)."""
from .retrieve import QRRetriever
from .types import Doc, Example, Prompt

__all__ = ["QRRetriever", "Doc", "Example", "Prompt"]
__version__ = "0.1.0"
