"""A model or encoder named by a local directory or a Hugging Face hub id, as a local directory."""

from __future__ import annotations

import re
from pathlib import Path

from albert_srl.errors import SRLFormatError

HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
# What is fetched from the hub: configs, weights, cards and the tokenizer files of every kind (no pickles).
MODEL_FILES = ["*.json", "*.safetensors", "*.model", "vocab.txt", "merges.txt", "README.md"]


def local_directory(path: str | Path) -> Path:
    """An existing directory is itself; ``org/name`` that is no local directory is a hub id, resolved by
    ``huggingface_hub``: its cache first (``HF_HUB_CACHE``), the hub when reachable, never the network
    with ``HF_HUB_OFFLINE=1``. Only the model files are fetched (no pickles, no code)."""
    directory = Path(path)
    if directory.is_dir():
        return directory
    if not (isinstance(path, str) and HUB_ID.fullmatch(path)):
        raise SRLFormatError(str(directory), None, "no such model directory")
    from huggingface_hub import snapshot_download
    from huggingface_hub.utils import HfHubHTTPError, LocalEntryNotFoundError

    try:
        return Path(snapshot_download(path, allow_patterns=MODEL_FILES))
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError, ValueError) as error:
        raise SRLFormatError(
            path, None, f"no such model directory, nor a model in the Hugging Face hub or its cache: {error}"
        ) from error
