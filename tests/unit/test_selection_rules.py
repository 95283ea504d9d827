"""Choice rules scored against evaluation trials (tools/benchmark/selection_rules.py)."""
import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools", "benchmark"))

import selection_rules  # noqa: E402
from taocache.placement import Trial  # noqa: E402

TARGETS = [1.3, 1.4, 1.5]


def trials(errors_by_target, runs=(0, 1)):
    """errors_by_target: {target: {placement: error}}, the same error on every run."""
    return [Trial(p, t, 30, t + 0.01, e, run) for t, by in errors_by_target.items() for p, e in by.items() for run in runs]


def test_neighbours_outvote_one_noisy_target():
    # 'early alternate' is better at 1.3x and 1.5x; at 1.4x the calibration runs favour 'late spread'
    # a little: per target follows the noise, the neighbours rule does not
    cal = trials({1.3: {"early alternate": 0.01, "late spread": 0.02},
                  1.4: {"early alternate": 0.021, "late spread": 0.02},
                  1.5: {"early alternate": 0.03, "late spread": 0.06}})
    assert selection_rules.pick(cal, 1.4, "per target", TARGETS) == "late spread"
    assert selection_rules.pick(cal, 1.4, "neighbours", TARGETS) == "early alternate"


def test_a_target_only_some_placements_reach_is_not_pooled():
    # at 1.5x 'late spread' fell short of its target, so 1.5x cannot rank the pair: 1.4x decides alone
    cal = trials({1.4: {"early alternate": 0.021, "late spread": 0.02},
                  1.5: {"early alternate": 0.01}})
    cal.append(Trial("late spread", 1.5, 30, 1.45, 0.5, 0))
    assert selection_rules.pick(cal, 1.4, "neighbours", [1.4, 1.5]) == "late spread"


def test_regret_is_the_evaluation_gap_in_db():
    cal = trials({1.4: {"early alternate": 0.02, "late spread": 0.01}})
    ev = trials({1.4: {"early alternate": 0.01, "late spread": 0.02}}, runs=(2, 3))
    entries = ([{"role": "calibration", "trials": [t.to_dict() for t in cal]}]
               + [{"role": "evaluation", "trials": [t.to_dict() for t in ev]}])
    got = selection_rules.regrets(entries)
    assert math.isclose(got["per target"][1.4], -20 * math.log10(2))
