import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("WANDB_SILENT", "true")
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(scope="session")
def chat_tokenizer():
    from organisms import bpe_tokenizer
    return bpe_tokenizer()


@pytest.fixture(scope="session")
def llama3_tok():
    from organisms import llama3_tokenizer
    return llama3_tokenizer()
