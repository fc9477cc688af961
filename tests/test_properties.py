"""Property-based checks of every policy on random instances (hypothesis)."""

import numpy as np
from helpers import NoFeasibleInstance, binding_instance
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from offline_sched.studies.compare import default_policies, run_policies

SETTINGS = settings(max_examples=15, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(seed=st.integers(0, 10_000), n=st.integers(5, 120), n_systems=st.integers(2, 4),
       lam=st.floats(0.0, 1.0), shares=st.booleans())
def test_every_policy_assigns_each_query_once_to_an_eligible_system(seed, n, n_systems, lam,
                                                                    shares):
    try:
        p = binding_instance(seed, n=n, n_systems=n_systems, shares=shares)
    except NoFeasibleInstance:
        assume(False)  # nothing to check on an instance no window makes feasible
        raise
    schedules = run_policies(p, lam, default_policies(p))
    qc = p.classes.query_class
    for s in schedules:
        idx = s.system_index
        assert idx.shape == (p.n_queries,)
        assert ((idx >= 0) & (idx < p.n_systems)).all()
        assert p.eligible[qc, idx].all(), s.policy
        # counts and per-query assignment agree
        counts = np.zeros_like(s.counts)
        np.add.at(counts, (qc, idx), 1)
        np.testing.assert_array_equal(counts, s.counts)
        assert len(s.assignment) == p.n_queries
    milp = schedules[0]
    assert milp.policy == "milp" and milp.feasible
    busy = milp.by_system["busy_s"].to_numpy()
    assert (busy <= p.capacity_s * (1 + 1e-9) + 1e-9).all()
    for s in schedules[1:]:
        if s.feasible:
            assert milp.objective <= s.objective + 1e-9 * max(1.0, abs(s.objective)), s.policy
