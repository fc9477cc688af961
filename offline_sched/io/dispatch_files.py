"""Dispatch directories: one OpenAI Batch input file per replica, ready for a serving stack.

:func:`write_dispatch` splits a batch (see :mod:`offline_sched.io.batch`) along a per-replica
plan and writes, into one directory::

    <system>-r<replica>.jsonl   the replica's requests in plan order (by start time)
    plan.csv                    the plan (query_id, system, replica, slot, start_s, end_s)
    manifest.json               files, request counts, served model names, checksums,
                                source file, tool version and the offline_sched marker

Each request line is written back byte for byte as it was read, except that the body's
``model`` value is replaced for systems with a ``serve_model`` entry (only that value's bytes
change; the body gains a ``model`` member if it had none). Only replicas with at least one
request get a file. The directory is built beside its target and renamed into place, so a
failed run leaves the old directory (or none) behind; a non-empty directory that offline_sched
did not write is never replaced unless ``overwrite=True``.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from offline_sched.errors import InputError
from offline_sched.io.batch import BatchWorkload

from ..dispatch.plan import PLAN_COLUMNS  # noqa: E402

MANIFEST = "manifest.json"
MARKER = "offline_sched"
FORMAT = "offline_sched.dispatch/1"
_UNSAFE = re.compile(r"[^A-Za-z0-9._+=@-]")
_DECODER = json.JSONDecoder()
_MODEL_MEMBER = re.compile(rb'"model"[ \t\r\n]*:[ \t\r\n]*("(?:[^"\\]|\\.)*")')


@dataclass(frozen=True)
class DispatchFile:
    """One replica's batch file.

    Attributes:
        file: file name inside the dispatch directory.
        system: system the replica belongs to.
        replica: 0-based replica index within its system.
        requests: number of requests in the file.
        model: model name written into the bodies, or ``None`` when left as read.
    """

    file: str
    system: str
    replica: int
    requests: int
    model: str | None


@dataclass(frozen=True)
class DispatchResult:
    """What :func:`write_dispatch` wrote.

    Attributes:
        directory: the dispatch directory.
        files: one entry per replica file, in (system, replica) order.
        requests: total requests written.
    """

    directory: Path
    files: tuple[DispatchFile, ...]
    requests: int


def is_dispatch_dir(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` holds a manifest written by offline_sched."""
    try:
        manifest = json.loads((Path(path) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and manifest.get("written_by") == MARKER


def _skip(text: str, i: int) -> int:
    """Index of the first non-whitespace character at or after ``i``."""
    while i < len(text) and text[i] in " \t\n\r":
        i += 1
    return i


def _member_spans(text: str, start: int) -> tuple[dict[str, tuple[int, int]], int, int]:
    """Spans of the members of the JSON object at ``text[start]`` (last one wins on repeats).

    Returns:
        key → (value start, value end), the index just after ``{`` and the index of ``}``.
    """
    if text[start:start + 1] != "{":
        raise ValueError("expected an object")
    spans: dict[str, tuple[int, int]] = {}
    i = _skip(text, start + 1)
    open_end = start + 1
    if text[i:i + 1] == "}":
        return spans, open_end, i
    while True:
        key, i = json.decoder.scanstring(text, i + 1)  # type: ignore[attr-defined]
        i = _skip(text, i)
        i = _skip(text, i + 1)  # skip ':'
        _, end = _DECODER.raw_decode(text, i)
        spans[key] = (i, end)
        i = _skip(text, end)
        if text[i] == "}":
            return spans, open_end, i
        i = _skip(text, i + 1)  # skip ','


@functools.lru_cache(maxsize=64)
def _json_string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def with_model(line: bytes, model: str, *, body_has_model: bool = False) -> bytes:
    """Return the request line with ``body.model`` set to ``model``; all other bytes kept.

    Args:
        line: one batch-file line (a JSON object with a ``body`` object).
        model: the model name to write.
        body_has_model: the caller knows the body has a string ``model`` member. Then a line
            whose only ``"model"`` is spelled without ``\\u`` escapes is rewritten by a fast
            byte search: that occurrence must be the body's key. Otherwise (or when unsure)
            the line is scanned as JSON.

    Returns:
        The new line.
    """
    value = _json_string(model)
    if body_has_model and line.count(b'"model"') == 1 and b"\\u" not in line:
        hit = _MODEL_MEMBER.search(line)
        if hit is not None:
            return line[:hit.start(1)] + value.encode("utf-8") + line[hit.end(1):]
    text = line.decode("utf-8")
    top, _, _ = _member_spans(text, _skip(text, 0))
    b0, _ = top["body"]
    body, open_end, _ = _member_spans(text, b0)
    if "model" in body:
        m0, m1 = body["model"]
        return (text[:m0] + value + text[m1:]).encode("utf-8")
    sep = ", " if body else ""
    return (text[:open_end] + f'"model": {value}{sep}' + text[open_end:]).encode("utf-8")


def _mapped(line: bytes, model: str, batch: BatchWorkload, row: int) -> bytes:
    try:
        return with_model(line, model, body_has_model=batch.models[row] is not None)
    except (ValueError, KeyError, IndexError) as exc:
        raise InputError(f"{batch.source}: line {int(batch.line_numbers[row])}, field "
                         f"'body.model': cannot rewrite the model name ({exc})") from None


def _check_plan(batch: BatchWorkload, plan: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Validate the plan against the batch; return it sorted and each row's batch index."""
    missing = [c for c in PLAN_COLUMNS if c not in plan.columns]
    if missing:
        raise InputError(f"plan: missing column(s) {missing}; has {list(plan.columns)}")
    replica = pd.to_numeric(plan["replica"], errors="coerce").to_numpy(dtype=float)
    bad = ~(np.isfinite(replica) & (replica >= 0) & (replica == np.floor(replica)))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"plan: row {i + 1}, column 'replica', value "
                         f"{str(plan['replica'].iloc[i])!r}: expected an integer ≥ 0")
    ids = plan["query_id"].astype(str).to_numpy()
    dup = pd.Series(ids).duplicated().to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise InputError(f"plan: row {i + 1}, column 'query_id', value {ids[i]!r}: "
                         f"query planned twice")
    index = pd.Index(batch.frame["query_id"].astype(str))
    pos = index.get_indexer(ids)
    if (pos < 0).any():
        i = int(np.flatnonzero(pos < 0)[0])
        raise InputError(f"plan: row {i + 1}, column 'query_id', value {ids[i]!r}: "
                         f"not a custom_id of {batch.source}")
    if len(ids) != len(index):
        seen = np.zeros(len(index), dtype=bool)
        seen[pos] = True
        j = int(np.flatnonzero(~seen)[0])
        raise InputError(f"plan: custom_id {index[j]!r} of {batch.source} (line "
                         f"{int(batch.line_numbers[j])}) is not in the plan")
    frame = plan.assign(system=plan["system"].astype(str), replica=replica.astype(np.int64),
                        _row=np.arange(len(plan)))
    frame = frame.sort_values(["system", "replica", "start_s"], kind="stable")
    order = frame.pop("_row").to_numpy()
    return frame.reset_index(drop=True), pos[order]


def _file_stem(system: str) -> str:
    stem = _UNSAFE.sub("_", system)
    return "_" + stem[1:] if stem.startswith(".") else stem or "_"


def write_dispatch(directory: str | os.PathLike[str], batch: BatchWorkload,
                   plan_frame: pd.DataFrame, *, serve_model: Mapping[str, str] | None = None,
                   overwrite: bool = False) -> DispatchResult:
    """Write one batch file per (system, replica), the plan and a manifest, atomically.

    Args:
        directory: the dispatch directory to create (or replace, see ``overwrite``).
        batch: the :class:`~offline_sched.io.batch.BatchWorkload` the plan schedules.
        plan_frame: one row per request: ``query_id, system, replica, slot, start_s, end_s``;
            every request of ``batch`` exactly once.
        serve_model: system → model name to write into that system's request bodies;
            systems not in it keep their lines byte-identical.
        overwrite: replace ``directory`` even when it is non-empty and not a dispatch
            directory written by offline_sched.

    Returns:
        What was written.

    Raises:
        InputError: the plan does not cover the batch exactly once, a bad replica, or
            ``directory`` is a file or a foreign non-empty directory (nothing is written).
    """
    from offline_sched import __version__

    target = check_target(directory, overwrite=overwrite)
    plan, rows = _check_plan(batch, plan_frame)
    serve_model = dict(serve_model or {})
    system, replica = plan["system"].to_numpy(), plan["replica"].to_numpy()
    new_group = np.r_[True, (system[1:] != system[:-1]) | (replica[1:] != replica[:-1])]
    starts = np.flatnonzero(new_group)
    bounds = np.r_[starts, len(plan)]
    stems: dict[str, str] = {}
    for name in pd.unique(system):
        stem = _file_stem(str(name))
        if stem in stems.values():
            raise InputError(f"plan: systems {next(k for k, v in stems.items() if v == stem)!r}"
                             f" and {name!r} map to the same file name {stem!r}")
        stems[str(name)] = stem
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)
    try:
        files, entries = [], []
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            sys_name, rep = str(system[a]), int(replica[a])
            lines = batch.lines[rows[a:b]]
            model = serve_model.get(sys_name)
            if model is not None:
                lines = [_mapped(line, model, batch, r) for line, r in zip(lines, rows[a:b],
                                                                          strict=True)]
            payload = b"\n".join(lines) + b"\n"
            name = f"{stems[sys_name]}-r{rep}.jsonl"
            (tmp / name).write_bytes(payload)
            files.append(DispatchFile(name, sys_name, rep, int(b - a), model))
            entries.append({"file": name, "system": sys_name, "replica": rep,
                            "requests": int(b - a), "model": model,
                            "first_start_s": float(plan["start_s"].iloc[a]),
                            "last_end_s": float(plan["end_s"].iloc[a:b].max()),
                            "sha256": hashlib.sha256(payload).hexdigest()})
        plan.to_csv(tmp / "plan.csv", index=False)
        manifest = {"written_by": MARKER, "format": FORMAT, "tool_version": __version__,
                    "source": str(batch.source), "requests": int(len(plan)),
                    "plan": "plan.csv", "serve_model": serve_model, "files": entries}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n",
                                    encoding="utf-8")
        _swap_in(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return DispatchResult(directory=target, files=tuple(files), requests=int(len(plan)))


def check_target(directory: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Check up front that :func:`write_dispatch` may write ``directory``.

    Args:
        directory: the dispatch directory.
        overwrite: whether a foreign non-empty directory may be replaced.

    Returns:
        ``directory`` as a path.

    Raises:
        InputError: ``directory`` is a file, or a non-empty directory without an
            offline_sched manifest while ``overwrite`` is false.
    """
    target = Path(directory)
    if target.exists():
        if not target.is_dir():
            raise InputError(f"{target}: exists and is not a directory")
        if not overwrite and any(target.iterdir()) and not is_dispatch_dir(target):
            raise InputError(f"{target}: directory is not empty and has no offline_sched "
                             f"{MANIFEST}; refusing to replace it (pass overwrite=True)")
    return target


def _swap_in(tmp: Path, target: Path) -> None:
    """Rename ``tmp`` onto ``target``; an existing ``target`` is moved aside, then deleted."""
    if not target.exists():
        os.replace(tmp, target)
        return
    old = target.parent / f".{target.name}.{uuid.uuid4().hex[:8]}.old"
    os.replace(target, old)
    try:
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.replace(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)
