"""Where the files shipped with qrexp live: the Hydra config tree, the paper's numbers, published heads.

They are read through :mod:`importlib.resources` from the folder ``qrexp/package_data/``, so the
same call works in a source checkout (tests run with ``pythonpath = "."``), an editable install and
a plain ``pip install .`` (wheel); nothing is located relative to the repository's layout.

One copy of each file in git: ``qrexp/package_data/`` holds three relative symlinks to the folders
users know at the top of the repository (``conf/``, ``results/paper/``,
``results/heads/published/``). A checkout and an editable install follow the links; building a
wheel copies the files they point to (setuptools reads package data through the links), so the
installed package holds real files. pyproject.toml lists the patterns (``[tool.setuptools.package-data]``).
"""
from __future__ import annotations

from importlib.resources import files
from pathlib import Path

RESOURCES = {
    "conf": "the Hydra config tree (top-level conf/)",
    "paper": "the paper's published numbers, one YAML per table (results/paper/)",
    "published_heads": "the paper's released head lists, <model key>_<task>.json (results/heads/published/)",
}


def package_data(name: str) -> Path:
    """The folder ``name`` (a key of :data:`RESOURCES`) shipped inside the qrexp package.

    Returns an absolute filesystem path (Hydra and the readers need a real folder; qrexp is never
    imported from a zip). Raises KeyError for an unknown name and FileNotFoundError when the
    folder is missing (a broken install or checkout: the message says which).
    """
    if name not in RESOURCES:
        raise KeyError(f"unknown package data {name!r}; known: {', '.join(RESOURCES)}")
    path = Path(str(files("qrexp") / "package_data" / name))
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: qrexp's {RESOURCES[name]} is missing; reinstall qrexp "
                                f"(pip install .) or restore the link in a source checkout")
    return path
