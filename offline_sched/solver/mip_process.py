"""A HiGHS MIP in a child process, stopped at a wall-clock deadline wherever HiGHS is.

HiGHS checks its time limit and interrupt callbacks between the steps of its search, but not
inside every root-node heuristic: its central rounding (a line search from the LP optimum to
the analytic centre, propagating conflicts at every point) ran 5–43 s past a 3 s limit on the
planner's repair MIP of the 10^6-query benchmark, and a 27,644-column core of the exact
finish ran 22 s past a 1.8 s limit (seen under gdb in
``HighsPrimalHeuristics::linesearchRounding``). A MIP whose every improving plan is worth
keeping but whose time must be kept runs here instead: the child process streams each
improving solution back as HiGHS finds it, and is killed at the deadline; the best plan
received by then is the result.

The model travels as plain arrays (``pickle`` over a pipe) and the child builds a fresh HiGHS
instance from them, so nothing of the parent's HiGHS state (threads included) is shared.
The child runs this file as a script (``python -P path/to/mip_process.py``), not as
``-m offline_sched.solver.mip_process``: the package's imports (pandas, PuLP) took 0.45–0.55 s
of every child's start on the 2-core machine, the bare file with numpy and highspy 0.15 s, and
that start is time the MIP does not search. The model is therefore sent as a ``dict`` of its
fields (unpickling the dataclass would import the package after all).
"""

from __future__ import annotations

import os
import pickle
import struct
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import SimpleNamespace

import numpy as np

GRACE_S = 0.2
"""Seconds past the deadline granted to a child that is already reporting its end."""
CHILD_COMMAND = (sys.executable, "-P", str(Path(__file__).resolve()))
"""How the child is started (this file as a script, :func:`_child`; ``-P``: the script's
folder is not put on ``sys.path``, so its sibling modules cannot shadow anything)."""
_HEADER = struct.Struct("<Q")


@dataclass(frozen=True)
class MipModel:
    """A MIP as arrays: columns, rows and a column-wise (CSC) matrix.

    Attributes:
        cost: objective per column, (n,).
        col_lower: (n,) lower bounds.
        col_upper: (n,) upper bounds.
        row_lower: (m,) lower bounds (−inf allowed).
        row_upper: (m,) upper bounds (+inf allowed).
        start: (n + 1,) column starts of the matrix.
        index: row indices of the non-zeros.
        value: the non-zeros.
        integer: (n,) whether each column is integral.
        options: HiGHS options (name → value) other than the time limit.
        start_values: a feasible start, (n,), or None.
    """

    cost: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    row_lower: np.ndarray
    row_upper: np.ndarray
    start: np.ndarray
    index: np.ndarray
    value: np.ndarray
    integer: np.ndarray
    options: dict = field(default_factory=dict)
    start_values: np.ndarray | None = None


@dataclass(frozen=True)
class MipOutcome:
    """What the child reported by the deadline.

    Attributes:
        values: the best solution received, or None.
        objective: its objective (inf if none).
        dual_bound: HiGHS's proven bound when it ended by itself (−inf otherwise).
        finished: whether HiGHS ended by itself (optimal, a limit, infeasible), not killed.
        status: HiGHS's model status text when finished, else ``"killed"`` (at the
            deadline), ``"stalled"`` (a stall rule), ``"enough"`` (the caller's own plan was
            good enough) or ``"not started"`` (no child process could be started).
        nodes: branch-and-bound nodes HiGHS reported at its end (0 when killed).
    """

    values: np.ndarray | None
    objective: float
    dual_bound: float
    finished: bool
    status: str
    nodes: int = 0


def from_highs(h, start_values: np.ndarray | None, options: dict) -> MipModel:
    """The model held by a highspy ``Highs`` instance, as arrays."""
    import highspy

    lp = h.getLp()
    start = np.asarray(lp.a_matrix_.start_, dtype=np.int64)
    index = np.asarray(lp.a_matrix_.index_, dtype=np.int64)
    value = np.asarray(lp.a_matrix_.value_, dtype=np.float64)
    if lp.a_matrix_.format_ != highspy.MatrixFormat.kColwise:  # row-wise: transpose
        rows = np.repeat(np.arange(lp.num_row_), np.diff(start[:lp.num_row_ + 1]))
        order = np.lexsort((rows, index))
        counts = np.bincount(index, minlength=lp.num_col_)
        start = np.r_[0, np.cumsum(counts)].astype(np.int64)
        index, value = rows[order], value[order]
    integer = np.asarray(lp.integrality_, dtype=object)  # empty for a pure LP
    is_int = (np.asarray(integer == highspy.HighsVarType.kInteger, dtype=bool)
              if integer.size else np.zeros(lp.num_col_, dtype=bool))
    return MipModel(cost=np.asarray(lp.col_cost_, dtype=np.float64),
                    col_lower=np.asarray(lp.col_lower_, dtype=np.float64),
                    col_upper=np.asarray(lp.col_upper_, dtype=np.float64),
                    row_lower=np.asarray(lp.row_lower_, dtype=np.float64),
                    row_upper=np.asarray(lp.row_upper_, dtype=np.float64),
                    start=start, index=index, value=value,
                    integer=is_int, options=dict(options),
                    start_values=None if start_values is None
                    else np.asarray(start_values, dtype=np.float64))


def solve_with_deadline(model: MipModel, seconds: float, stall_s: float | None = None,
                        meanwhile: Callable[[], object] | None = None,
                        first_plan_s: float | None = None) -> MipOutcome:
    """Solve ``model`` in a child process; kill it after ``seconds``.

    HiGHS gets ``seconds`` as its own time limit too, so it usually ends by itself; the kill
    is the guarantee. With ``stall_s``, the child is also killed once no improving plan has
    come for ``stall_s`` seconds *and* for as long as the search took to find the last one
    (status ``"stalled"``): a plan found late earns a proportionally longer wait. Before the
    first plan that beats the start given (HiGHS reports the start itself as its first
    improving plan) only the deadline counts.

    With ``first_plan_s``, the child is also killed (status ``"stalled"``) when no plan
    beating the start has come within that many seconds.

    ``meanwhile``, if given, is called once in this process while the child solves (its
    plans are still received and timed meanwhile; where no child could start, before the
    return); the deadline and the stall rules are applied when it returns, so work that takes
    longer than ``seconds`` delays the kill. When it returns ``True`` (the caller's own plan
    is good enough), the child is killed at once (status ``"enough"``); the plans it sent
    until then are still returned.

    Returns:
        The best solution received and how the child ended.
    """
    seconds = max(float(seconds), 0.05)  # may be inf: no kill, HiGHS's own limits only
    plain = {f.name: getattr(model, f.name) for f in fields(model)}
    payload = pickle.dumps((plain, seconds, time.time()), protocol=pickle.HIGHEST_PROTOCOL)
    errors = tempfile.TemporaryFile()
    try:
        proc = subprocess.Popen(list(CHILD_COMMAND), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=errors)
    except OSError as exc:  # no child process possible here: no MIP plan, say why
        errors.close()
        warnings.warn(f"a MIP could not start a child process ({exc}); its start (or none) "
                      "stands", RuntimeWarning, stacklevel=2)
        if meanwhile is not None:  # the caller's work all the same
            meanwhile()
        return MipOutcome(None, np.inf, -np.inf, False, "not started")
    assert proc.stdin is not None and proc.stdout is not None
    frames: list[tuple] = []
    last_plan: list[float] = []  # when the latest improving plan arrived
    # HiGHS reports the start it was given as its first 'improving' plan: only plans that
    # beat it count for the stall rule
    start_obj = np.inf if model.start_values is None else \
        float(np.dot(model.cost, model.start_values))
    beats = start_obj - 1e-9 * max(abs(start_obj), 1.0) if np.isfinite(start_obj) else np.inf
    out = proc.stdout

    def read() -> None:
        while True:
            head = out.read(_HEADER.size)
            if len(head) < _HEADER.size:
                return
            body = out.read(_HEADER.unpack(head)[0])
            try:
                frames.append(pickle.loads(body))
            except Exception:  # a frame cut short by the kill
                return
            if frames[-1][0] == "sol" and frames[-1][1] < beats:
                last_plan[:] = [time.perf_counter()]

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    begun = time.perf_counter()
    deadline = begun + seconds
    killed = True
    try:
        try:
            proc.stdin.write(payload)
            proc.stdin.close()
        except BrokenPipeError:
            pass
        enough = meanwhile is not None and meanwhile() is True  # the caller's own work
        stalled = False
        while reader.is_alive() and not enough:  # until the child ends, the deadline, a stall
            now = time.perf_counter()
            if now >= deadline + GRACE_S:
                break
            if stall_s is not None and last_plan \
                    and now - last_plan[0] >= max(stall_s, last_plan[0] - begun):
                stalled = True
                break
            if first_plan_s is not None and not last_plan and now - begun >= first_plan_s:
                stalled = True  # nothing better than the start so far
                break
            reader.join(min(0.05, deadline + GRACE_S - now))
        killed = reader.is_alive() or proc.poll() is None
    except BaseException:  # Ctrl-C, or an error in meanwhile
        errors.close()
        raise
    finally:  # in every case: no child is left running, no pipe left open
        if killed:
            proc.kill()
        proc.wait()
        reader.join(1.0)
        out.close()
    if not killed and not any(frame[0] == "end" for frame in frames):  # the child failed
        errors.seek(0)
        tail = errors.read().decode(errors="replace").strip().splitlines()[-1:]
        warnings.warn(f"a MIP's child process failed ({proc.returncode}): "
                      f"{tail[0] if tail else 'no message'}", RuntimeWarning, stacklevel=2)
    errors.close()
    best: np.ndarray | None = None
    best_obj = np.inf
    bound, finished, status, nodes = -np.inf, False, "killed", 0
    if killed and stalled:
        status = "stalled"
    if killed and enough:
        status = "enough"
    for frame in frames:  # loop over the few improving plans reported
        if frame[0] == "sol" and frame[1] < best_obj:
            best_obj, best = float(frame[1]), frame[2]
        elif frame[0] == "end":
            finished, status, bound = True, str(frame[1]), float(frame[2])
            nodes = int(frame[5])
            if frame[4] is not None and frame[3] < best_obj:
                best_obj, best = float(frame[3]), frame[4]
    return MipOutcome(best, best_obj, bound, finished, status, nodes)


def _child() -> None:
    """Child side: read the model, solve it, report every improving plan and the end."""
    channel = os.fdopen(os.dup(1), "wb")
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)  # HiGHS's banner and logs must not reach the frame channel
    plain, seconds, spawned = pickle.loads(sys.stdin.buffer.read())
    model = SimpleNamespace(**plain)
    import highspy

    lock = threading.Lock()

    def send(frame: tuple) -> None:
        body = pickle.dumps(frame, protocol=pickle.HIGHEST_PROTOCOL)
        with lock:
            channel.write(_HEADER.pack(len(body)) + body)
            channel.flush()

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = int(model.cost.size), int(model.row_lower.size)
    lp.col_cost_ = model.cost
    lp.col_lower_, lp.col_upper_ = model.col_lower, model.col_upper
    inf = highspy.kHighsInf
    lp.row_lower_ = np.where(np.isfinite(model.row_lower), model.row_lower, -inf)
    lp.row_upper_ = np.where(np.isfinite(model.row_upper), model.row_upper, inf)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = model.start.astype(np.int32)
    lp.a_matrix_.index_ = model.index.astype(np.int32)
    lp.a_matrix_.value_ = model.value
    lp.integrality_ = [highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous
                       for i in model.integer]
    h.passModel(lp)
    for name, value in model.options.items():  # loop over the few options given
        h.setOptionValue(name, value)
    h.setOptionValue("time_limit", max(float(seconds) - (time.time() - spawned), 0.05))
    if model.start_values is not None:
        sol = highspy.HighsSolution()
        sol.col_value = model.start_values
        sol.value_valid = True
        h.setSolution(sol)

    def improving(event) -> None:
        send(("sol", float(event.data_out.objective_function_value),
              np.array(event.data_out.mip_solution, dtype=np.float64)))

    h.cbMipImprovingSolution.subscribe(improving)
    h.run()
    info = h.getInfo()
    values = None
    if info.primal_solution_status == 2:
        values = np.asarray(h.getSolution().col_value, dtype=np.float64)
    status = h.modelStatusToString(h.getModelStatus())
    send(("end", status, float(info.mip_dual_bound), float(info.objective_function_value),
          values, max(int(info.mip_node_count), 0)))
    channel.close()


if __name__ == "__main__":
    _child()
