"""qrexp: reproducible experiments with query-focused retrieval heads (QRHead, EMNLP 2025)."""
from qrexp.types import Doc, Example, Prompt

__all__ = ["QRRetriever", "Doc", "Example", "Prompt"]
__version__ = "0.1.0"


def __getattr__(name: str):
    # Imported lazily: the retriever pulls in torch and transformers, the data modules do not.
    if name == "QRRetriever":
        from qrexp.engine.retriever import QRRetriever
        return QRRetriever
    raise AttributeError(f"module 'qrexp' has no attribute {name!r}")
