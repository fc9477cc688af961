"""OpenAI Batch API input files as workloads: read requests, count their tokens.

A batch input file is JSON Lines, one request per line, as the hosted batch APIs and vLLM's
``run_batch`` read it::

    {"custom_id": "r1", "method": "POST", "url": "/v1/chat/completions",
     "body": {"model": "m", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 64}}

Supported urls are ``/v1/chat/completions`` (``body.messages``) and ``/v1/completions``
(``body.prompt``: a string, a list of token ids, or a one-element list of either; note that
the vLLM ``run_batch`` source we checked takes ``/v1/chat/completions`` but not
``/v1/completions``, which the hosted batch APIs do take). Blank lines
are skipped; line numbers in messages are physical, 1-based lines of the file. Each request's
raw line is kept byte for byte, so dispatch files can be written back unchanged.

Token counts per request (``custom_id`` becomes ``query_id``):

* **input_tokens**, counted with a tokenizer the user gives (a Hugging Face tokenizer directory
  or a SentencePiece ``.model``, always loaded locally, never from a hub):

  - ``prompt`` text: the tokenizer's ids *with* its special tokens (Hugging Face
    ``add_special_tokens=True``, as vLLM does for completions; SentencePiece: pieces plus one
    BOS when the model defines one). A list of token ids counts as its length.
  - ``messages``, tokenizer with a chat template: the template rendered as the server would
    (``add_generation_prompt`` from the body, default true; ``body.tools`` and
    ``body.chat_template_kwargs`` passed through), tokenized *without* adding special tokens
    (the template writes them). Otherwise: the message contents joined by newlines, counted
    like a prompt. Content given as parts counts its ``text`` parts joined by newlines; other
    parts (images, audio) cannot be counted and are an error.

* **output_tokens**, the first that applies: the ``output_tokens`` estimate passed to
  :func:`read_batch` (a number, a mapping, a frame or a file of ``custom_id``/``query_id``,
  ``output_tokens``); a top-level ``"output_tokens"`` field on the line (vLLM accepts extra
  fields, the hosted APIs may not: prefer an estimate file there); else
  ``body.max_completion_tokens`` or ``body.max_tokens`` (times ``n``/``best_of`` when > 1).
  ``max_tokens`` is a cap, not a prediction: costs planned on it are an **upper bound**.
  An estimate above the request's cap is clipped to the cap (with a warning).
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from ..errors import InputError
from .tokenizers import TokenCounter, load_tokenizer

URLS = ("/v1/chat/completions", "/v1/completions")


@dataclass(frozen=True)
class BatchWorkload:
    """Requests of a batch input file, with their token counts.

    Attributes:
        frame: one row per request in file order: ``query_id`` (the ``custom_id``),
            ``input_tokens``, ``output_tokens`` (int64).
        lines: raw bytes of each request's line (no line terminator), object array (N,).
        models: ``body.model`` of each request (``None`` when absent), object array (N,).
        line_numbers: 1-based line of each request in the file, int64 (N,).
        source: the file read, for messages and manifests.
    """

    frame: pd.DataFrame
    lines: np.ndarray
    models: np.ndarray
    line_numbers: np.ndarray
    source: str

    def __len__(self) -> int:
        return int(self.lines.shape[0])

    def to_workload(self) -> Any:
        """Return the requests as an :class:`offline_sched.Workload`."""
        from offline_sched import load_workload

        return load_workload(self.frame)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _fail(path: str, line: int, field: str, msg: str, value: Any = ...) -> InputError:
    shown = ""
    if value is not ...:
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        shown = f", value {text[:60] + '…' if len(text) > 60 else text!r}"
    return InputError(f"{path}: line {line}, field {field!r}{shown}: {msg}")


def _positive_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 1


def _chat_text(messages: Any, fail: Any) -> tuple[list[dict[str, Any]], str]:
    """Messages with text content, and their contents joined; ``fail(field, msg, value)``."""
    if not isinstance(messages, list) or not messages:
        raise fail("body.messages", "expected a non-empty list of messages")
    clean, texts = [], []
    for j, m in enumerate(messages):
        if not isinstance(m, dict) or "role" not in m:
            raise fail(f"body.messages[{j}]", "expected an object with a 'role'")
        content = m.get("content")
        if isinstance(content, list):
            parts = []
            for k, part in enumerate(content):
                if not isinstance(part, dict) or part.get("type") != "text":
                    kind = part.get("type") if isinstance(part, dict) else part
                    raise fail(f"body.messages[{j}].content[{k}]",
                               "only text parts can be counted", kind)
                parts.append(str(part.get("text", "")))
            content = "\n".join(parts)
        elif content is None:
            content = ""
        elif not isinstance(content, str):
            raise fail(f"body.messages[{j}].content", "expected a string or a list of parts",
                       content)
        clean.append({**m, "content": content})
        texts.append(content)
    return clean, "\n".join(texts)


def _prompt(prompt: Any, fail: Any) -> str | int:
    """Text to tokenize, or the count of a pre-tokenized prompt."""
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str | list):
        prompt = prompt[0]
    if isinstance(prompt, str):
        return prompt
    if (isinstance(prompt, list) and prompt
            and all(isinstance(t, int) and not isinstance(t, bool) for t in prompt)):
        return len(prompt)
    raise fail("body.prompt", "expected a string or a list of token ids (one prompt per "
               "request)", prompt)


def _estimates(output_tokens: Any, ids: pd.Index, path: str) -> np.ndarray:
    """Per-request output estimate (0 where none) from the ``output_tokens`` argument."""
    n = len(ids)
    if output_tokens is None:
        return np.zeros(n, dtype=np.int64)
    if _positive_int(output_tokens):
        return np.full(n, int(output_tokens), dtype=np.int64)
    src = "output_tokens"
    if isinstance(output_tokens, Mapping):
        frame = pd.DataFrame({"query_id": list(output_tokens),
                              "output_tokens": list(output_tokens.values())})
    elif isinstance(output_tokens, pd.DataFrame):
        frame = output_tokens
    elif isinstance(output_tokens, str | os.PathLike):
        src = str(output_tokens)
        frame = _read_table(Path(output_tokens))
    else:
        raise InputError(f"output_tokens: expected an integer ≥ 1, a mapping, a DataFrame or "
                         f"a path, got {output_tokens!r}")
    key = next((c for c in ("custom_id", "query_id") if c in frame.columns), None)
    if key is None or "output_tokens" not in frame.columns:
        raise InputError(f"{src}: needs columns 'custom_id' (or 'query_id') and "
                         f"'output_tokens', has {list(frame.columns)}")
    est_ids = frame[key].astype(str).to_numpy()
    values = pd.to_numeric(frame["output_tokens"], errors="coerce").to_numpy(dtype=float)
    bad = ~(np.isfinite(values) & (values >= 1) & (values == np.floor(values)))
    dup = pd.Series(est_ids).duplicated().to_numpy()
    pos = ids.get_indexer(est_ids)
    checks = ((bad, "expected an integer ≥ 1", "output_tokens"), (dup, "duplicate id", key),
              (pos < 0, f"not a custom_id of {path}", key))
    for mask, msg, col in checks:
        if mask.any():
            i = int(np.flatnonzero(mask)[0])
            value = frame["output_tokens"].iloc[i] if col == "output_tokens" else est_ids[i]
            raise InputError(f"{src}: row {i + 1}, column {col!r}, value {str(value)!r}: {msg}")
    out = np.zeros(n, dtype=np.int64)
    out[pos] = values.astype(np.int64)
    return out


def _read_table(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if suffix in (".jsonl", ".ndjson", ".json"):
            return pd.read_json(path, lines=suffix != ".json", dtype=False)
        return pd.read_csv(path, dtype={"custom_id": str, "query_id": str})
    except (OSError, ValueError, ImportError) as exc:
        raise InputError(f"{path}: cannot read output-token estimates ({_first_line(exc)})"
                         ) from None


class _Request(NamedTuple):
    """One parsed line: what counting and dispatch need."""

    cid: str
    model: str | None
    messages: list[dict[str, Any]] | None  # chat requests only, content as text
    body: dict[str, Any]
    text: str  # prompt, or the chat contents joined; "" for a token-id prompt
    n_ids: int  # length of a token-id prompt, else 0
    cap: int  # max tokens × max(n, best_of); 0 when absent
    estimate: int  # top-level "output_tokens" field; 0 when absent


def _parse(line: bytes, fail: Any) -> _Request:
    try:
        req = json.loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        raise fail("<line>", f"bad JSON ({_first_line(exc)})") from None
    if not isinstance(req, dict):
        raise fail("<line>", "expected a JSON object")
    cid = req.get("custom_id")
    if cid is None or cid == "":
        raise fail("custom_id", "missing custom_id")
    if not isinstance(cid, str):
        raise fail("custom_id", "expected a string", cid)
    if req.get("method") != "POST":
        raise fail("method", "expected 'POST'", req.get("method"))
    url = req.get("url")
    if url not in URLS:
        raise fail("url", f"expected one of {', '.join(URLS)}", url)
    body = req.get("body")
    if not isinstance(body, dict):
        raise fail("body", "missing body object" if body is None else "expected an object")
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise fail("body.model", "expected a string", model)
    messages, n_ids = None, 0
    if url == "/v1/chat/completions":
        if "messages" not in body:
            raise fail("body.messages", "missing messages")
        messages, text = _chat_text(body["messages"], fail)
    else:
        if "prompt" not in body:
            raise fail("body.prompt", "missing prompt")
        p = _prompt(body["prompt"], fail)
        text, n_ids = (p, 0) if isinstance(p, str) else ("", p)
    for name in ("max_completion_tokens", "max_tokens", "n", "best_of"):
        if body.get(name) is not None and not _positive_int(body[name]):
            raise fail(f"body.{name}", "expected an integer ≥ 1", body[name])
    cap = body.get("max_completion_tokens") or body.get("max_tokens") or 0
    cap *= max(body.get("n") or 1, body.get("best_of") or 1)
    estimate = req.get("output_tokens")
    if estimate is not None and not _positive_int(estimate):
        raise fail("output_tokens", "expected an integer ≥ 1", estimate)
    return _Request(cid, model, messages, body, text, n_ids, cap, estimate or 0)


def _count_inputs(reqs: list[_Request], counter: TokenCounter | None, src: str,
                  numbers: np.ndarray) -> np.ndarray:
    """Input tokens per request; tokenizer calls batched over all requests."""
    tin = np.fromiter((r.n_ids for r in reqs), dtype=np.int64, count=len(reqs))
    need = np.flatnonzero(tin == 0)
    if need.size and counter is None:
        i = int(need[0])
        raise _fail(src, int(numbers[i]), _input_field(reqs[i]),
                    "counting input tokens needs a tokenizer (--tokenizer PATH)")
    if counter is not None and need.size:
        templated = np.fromiter((reqs[i].messages is not None for i in need), dtype=bool,
                                count=need.size) & counter.has_chat_template
        rendered = []
        for i in need[templated]:
            r = reqs[i]
            try:
                rendered.append(counter.render_chat(r.messages or [], r.body))
            except Exception as exc:  # noqa: BLE001 - template errors come in many types
                raise _fail(src, int(numbers[i]), "body.messages",
                            f"chat template failed ({_first_line(exc)})") from None
        if rendered:
            tin[need[templated]] = counter.count_texts(rendered, special_tokens=False)
        plain = need[~templated]
        if plain.size:
            tin[plain] = counter.count_texts([reqs[i].text for i in plain])
    if (tin < 1).any():
        i = int(np.flatnonzero(tin < 1)[0])
        raise _fail(src, int(numbers[i]), _input_field(reqs[i]), "the input counts 0 tokens")
    return tin


def _input_field(r: _Request) -> str:
    return "body.prompt" if r.messages is None else "body.messages"


def is_batch_file(path: object) -> bool:
    """Whether ``path`` is a JSON Lines file whose first record looks like a batch request.

    A batch request has ``custom_id`` and ``body``; anything else (a token table) is not.
    """
    if not isinstance(path, str | os.PathLike) or str(path) == "-":
        return False
    p = Path(path)
    if p.suffix.lower() not in (".jsonl", ".ndjson") or not p.is_file():
        return False
    try:
        with open(p, "rb") as fh:
            for line in fh:
                if line.strip():
                    obj = json.loads(line)
                    return isinstance(obj, dict) and "custom_id" in obj and "body" in obj
    except (OSError, ValueError):
        return False
    return False


def read_batch(path: str | os.PathLike[str], *, tokenizer: Any = None,
               output_tokens: Any = None) -> BatchWorkload:
    """Read an OpenAI Batch API input file and count each request's tokens.

    Args:
        path: the ``.jsonl`` batch input file.
        tokenizer: what counts input tokens (see :func:`load_tokenizer`); needed unless every
            prompt is given as token ids.
        output_tokens: per-request output estimates overriding ``max_tokens``: an integer for
            all, a mapping ``custom_id → tokens``, a DataFrame or a CSV/Parquet/JSON Lines
            file with columns ``custom_id`` (or ``query_id``) and ``output_tokens``.
            Requests without an estimate fall back to the line's ``output_tokens`` field,
            then to ``max_completion_tokens``/``max_tokens``.

    Returns:
        The requests, their raw lines and token counts.

    Raises:
        InputError: one line naming the file, line number and field: bad JSON, missing or
            duplicate ``custom_id``, bad ``method``/``url``, missing ``body``, ``messages`` or
            ``prompt``, no ``max_tokens`` and no estimate, or an unusable tokenizer.
    """
    src = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"{src}: cannot read batch file ({exc.strerror or exc})") from None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    counter = load_tokenizer(tokenizer) if tokenizer is not None else None
    reqs: list[_Request] = []
    raw: list[bytes] = []
    numbers: list[int] = []
    first_seen: dict[str, int] = {}
    for lineno, line in enumerate(data.split(b"\n"), start=1):
        line = line.rstrip(b"\r")
        if not line.strip():
            continue

        def fail(field: str, msg: str, value: Any = ..., _n: int = lineno) -> InputError:
            return _fail(src, _n, field, msg, value)

        r = _parse(line, fail)
        if r.cid in first_seen:
            raise fail("custom_id", f"duplicate custom_id (first on line {first_seen[r.cid]})",
                       r.cid)
        first_seen[r.cid] = lineno
        reqs.append(r)
        raw.append(line)
        numbers.append(lineno)
    if not reqs:
        raise InputError(f"{src}: no requests (empty batch file)")
    line_numbers = np.asarray(numbers, dtype=np.int64)
    tin = _count_inputs(reqs, counter, src, line_numbers)
    n = len(reqs)
    ids = _objects([r.cid for r in reqs])
    cap = np.fromiter((r.cap for r in reqs), dtype=np.int64, count=n)
    est = _estimates(output_tokens, pd.Index(ids), src)
    est = np.where(est > 0, est, np.fromiter((r.estimate for r in reqs), np.int64, count=n))
    over = (est > 0) & (cap > 0) & (est > cap)
    if over.any():
        warnings.warn(f"{src}: {int(over.sum())} output-token estimate(s) exceed the request's "
                      f"max_tokens; clipped to it", stacklevel=2)
    tout = np.where(est > 0, np.where(over, cap, est), cap)
    if (tout < 1).any():
        i = int(np.flatnonzero(tout < 1)[0])
        raise _fail(src, int(line_numbers[i]), "body.max_tokens",
                    "no max_tokens (or max_completion_tokens) and no output-token estimate")
    frame = pd.DataFrame({"query_id": ids, "input_tokens": tin, "output_tokens": tout})
    return BatchWorkload(frame=frame, lines=_objects(raw),
                         models=_objects([r.model for r in reqs]),
                         line_numbers=line_numbers, source=src)


def _objects(items: list[Any]) -> np.ndarray:
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out
