"""Tokenizers given by the user, loaded locally (never from a hub), behind one counter protocol.

A Hugging Face tokenizer directory (transformers) or a SentencePiece ``.model`` file; imported
lazily, with an install hint when the package is missing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, cast

import numpy as np

from ..errors import InputError

INSTALL_HINT = "pip install 'offline-sched[batch]'"
_CHUNK = 8192  # texts per tokenizer call


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class TokenCounter(Protocol):
    """Counts input tokens: plain texts and chat conversations, in batches."""

    name: str
    has_chat_template: bool

    def count_texts(self, texts: Sequence[str], special_tokens: bool = True) -> np.ndarray:
        """Token count of each text, int64, shape (len(texts),)."""
        ...

    def render_chat(self, messages: list[dict[str, Any]], body: Mapping[str, Any]) -> str:
        """The chat template applied to one conversation, as text."""
        ...


class _HuggingFaceCounter:
    def __init__(self, tok: Any, name: str) -> None:
        self.tok, self.name = tok, name
        self.has_chat_template = bool(getattr(tok, "chat_template", None))

    def count_texts(self, texts: Sequence[str], special_tokens: bool = True) -> np.ndarray:
        # A fast tokenizer's Rust backend gives the same ids as tokenizer(...) when it does
        # not truncate or pad, at a fraction of the cost; else go through the tokenizer.
        be = getattr(self.tok, "backend_tokenizer", None)
        direct = be is not None and be.truncation is None and be.padding is None
        encode = getattr(be, "encode_batch_fast", None) or getattr(be, "encode_batch", None)
        out = [np.zeros(0, dtype=np.int64)]
        for i in range(0, len(texts), _CHUNK):
            chunk = list(texts[i:i + _CHUNK])
            if direct and encode is not None:
                ids = encode(chunk, add_special_tokens=special_tokens)
            else:
                ids = self.tok(chunk, add_special_tokens=special_tokens, verbose=False,
                               return_attention_mask=False)["input_ids"]
            out.append(np.fromiter(map(len, ids), dtype=np.int64, count=len(ids)))
        return np.concatenate(out)

    def render_chat(self, messages: list[dict[str, Any]], body: Mapping[str, Any]) -> str:
        kwargs = body.get("chat_template_kwargs") or {}
        return str(self.tok.apply_chat_template(
            messages, tools=body.get("tools"), tokenize=False,
            add_generation_prompt=bool(body.get("add_generation_prompt", True)), **kwargs))


class _SentencePieceCounter:
    has_chat_template = False

    def __init__(self, sp: Any, name: str) -> None:
        self.sp, self.name = sp, name
        self.bos = 1 if sp.bos_id() >= 0 else 0

    def count_texts(self, texts: Sequence[str], special_tokens: bool = True) -> np.ndarray:
        out = [np.zeros(0, dtype=np.int64)]
        for i in range(0, len(texts), _CHUNK):
            ids = self.sp.encode(list(texts[i:i + _CHUNK]))
            out.append(np.fromiter(map(len, ids), dtype=np.int64, count=len(ids)))
        return np.concatenate(out) + (self.bos if special_tokens else 0)

    def render_chat(self, messages: list[dict[str, Any]], body: Mapping[str, Any]) -> str:
        raise NotImplementedError("SentencePiece models carry no chat template")


def load_tokenizer(tokenizer: str | os.PathLike[str] | Any) -> TokenCounter:
    """Load a token counter from a local path, or wrap an already loaded tokenizer.

    Args:
        tokenizer: a Hugging Face tokenizer directory (loaded with
            ``transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)``), a
            SentencePiece ``.model`` file, a loaded ``transformers`` tokenizer, a
            ``sentencepiece.SentencePieceProcessor``, or a :class:`TokenCounter`.

    Returns:
        The counter.

    Raises:
        InputError: no such path, not a tokenizer, or the library needed is not installed.
    """
    if hasattr(tokenizer, "count_texts"):
        return cast(TokenCounter, tokenizer)
    if hasattr(tokenizer, "apply_chat_template"):
        return _HuggingFaceCounter(tokenizer, type(tokenizer).__name__)
    if hasattr(tokenizer, "bos_id") and hasattr(tokenizer, "encode"):
        return _SentencePieceCounter(tokenizer, type(tokenizer).__name__)
    if not isinstance(tokenizer, str | os.PathLike):
        raise InputError(f"tokenizer: expected a path or a tokenizer, "
                         f"got {type(tokenizer).__name__}")
    path = Path(tokenizer)
    if not path.exists():
        raise InputError(f"tokenizer {str(path)!r}: no such file or directory "
                         f"(give a Hugging Face tokenizer directory or a SentencePiece .model)")
    if path.is_file() and path.suffix == ".model":
        try:
            import sentencepiece
        except ImportError:
            raise InputError(f"tokenizer {str(path)!r}: reading a SentencePiece model needs "
                             f"sentencepiece: {INSTALL_HINT}") from None
        try:
            sp = sentencepiece.SentencePieceProcessor(model_file=str(path))
        except Exception as exc:  # noqa: BLE001 - any load failure is a bad input file
            raise InputError(f"tokenizer {str(path)!r}: not a SentencePiece model "
                             f"({_first_line(exc)})") from None
        return _SentencePieceCounter(sp, str(path))
    if not path.is_dir():
        raise InputError(f"tokenizer {str(path)!r}: expected a Hugging Face tokenizer "
                         f"directory or a SentencePiece .model file")
    try:
        from transformers import AutoTokenizer
    except ImportError:
        raise InputError(f"tokenizer {str(path)!r}: reading a Hugging Face tokenizer needs "
                         f"transformers: {INSTALL_HINT}") from None
    try:
        tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except Exception as exc:  # noqa: BLE001 - transformers raises OSError, ValueError, ...
        raise InputError(f"tokenizer {str(path)!r}: not a Hugging Face tokenizer directory "
                         f"({_first_line(exc)})") from None
    return _HuggingFaceCounter(tok, str(path))
