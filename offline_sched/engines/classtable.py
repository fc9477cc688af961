"""Workloads known only by their class table: how many queries share each (τin, τout).

The solve needs nothing per query: :func:`~offline_sched.problem.build_problem` works on the
classes. A distributed engine (:mod:`offline_sched.engines.dask`) therefore groups the job list
where it lives, hands the small class table to the solver as a :class:`ClassTable`, and
expands the per-class counts back to queries partition by partition.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import InputError
from ..workload import QueryClasses, split_keys


@dataclass(frozen=True)
class ClassTable:
    """A workload given by its classes, sorted by (τin, τout) like :meth:`Workload.classes`.

    It stands in for a :class:`~offline_sched.workload.Workload` in
    :func:`~offline_sched.problem.build_problem`: it has a length (the number of queries) and
    classes, but no per-query arrays (``query_class`` is empty) and no ids.

    Attributes:
        input_tokens: τin per class, (C,).
        output_tokens: τout per class, (C,).
        count: queries per class, (C,).
        source: where the queries live, for messages.
    """

    input_tokens: np.ndarray
    output_tokens: np.ndarray
    count: np.ndarray
    source: str = "<classes>"
    _classes: list = field(default_factory=list, repr=False, compare=False)

    def __len__(self) -> int:
        return int(self.count.sum())

    def classes(self) -> QueryClasses:
        """The classes (``query_class`` is empty: queries are not held in-process)."""
        if not self._classes:
            self._classes.append(QueryClasses(
                input_tokens=self.input_tokens, output_tokens=self.output_tokens,
                count=self.count, query_class=np.empty(0, dtype=np.int64)))
        return self._classes[0]

    @property
    def ids(self) -> np.ndarray:
        """Not available: the queries live in the distributed frame."""
        raise InputError(f"{self.source}: per-query ids are not held in-process for a "
                         "class table")


def class_table_from_counts(counts: pd.Series, source: str = "<classes>") -> ClassTable:
    """Build a :class:`ClassTable` from query counts indexed by :func:`class_keys`.

    Args:
        counts: number of queries per class key (any order; zero counts are dropped).
        source: where the queries live, for messages.
    """
    counts = counts[counts > 0].sort_index()
    keys = counts.index.to_numpy(dtype=np.int64)
    tin, tout = split_keys(keys)
    return ClassTable(input_tokens=tin,
                      output_tokens=tout,
                      count=counts.to_numpy(dtype=np.int64), source=source)
