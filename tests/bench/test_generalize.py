"""The multi-corpus harness's pure parts: the logistic fit, the metrics and the calibration table."""

import numpy as np
import pytest

from bench.generalize import Question, calibration_table, fit_logistic, metrics
from retrieval.query.confidence import Evidence
from retrieval.types import Answer, Citation, Result


def test_weighted_logistic_fit_recovers_a_known_model():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4000, 2))
    p = 1 / (1 + np.exp(-(0.5 + 2.0 * X[:, 0] - 1.0 * X[:, 1])))
    y = (rng.random(4000) < p).astype(float)
    beta = fit_logistic(X, y, np.ones(4000), l2=0.01)
    assert beta == pytest.approx([0.5, 2.0, -1.0], abs=0.2)


def _rec(q, answered, hit_text, conf=0.5):
    c = Citation(1, "d", None, None, None, None, 1, "d.html")
    r = Result(1, "d", 1, hit_text, hit_text, 0, 1.0, 0.5, c)
    return {"q": q, "answer": Answer(q.q, answered, [r], conf, "v"), "ev": Evidence(), "pa": 0.5, "docs": ["d"]}


def test_metrics_count_hits_abstentions_and_foreign_questions():
    recs = [
        _rec(Question("a", ["gold a"], file="d.html"), True, "has gold a"),
        _rec(Question("b", ["gold b"], file="x.html"), False, "nothing"),          # miss and a false abstention
        _rec(Question("c", [], kind="unanswerable"), False, "x"),
        _rec(Question("d", []), True, "x"),                                         # off-topic answered
        _rec(Question("e", [], kind="foreign"), False, "x"),
    ]
    m = metrics(recs)
    assert m["R@1"] == 0.5 and m["docR@1"] == 0.5 and m["false_abst"] == 1
    assert m["unanswerable"] == "1/1" and m["offtopic"] == "0/1" and m["foreign"] == "1/1"


def test_calibration_table_bins_confidence_against_accuracy():
    recs = [_rec(Question("a", ["g"]), True, "g", 0.9), _rec(Question("b", ["g"]), True, "x", 0.85),
            _rec(Question("c", []), False, "x", 0.1)]
    rows = calibration_table(recs)
    assert "| 0.0–0.2 | 1 | 0.10 | 0.00 |" in rows and "| 0.8–1.0 | 2 | 0.88 | 0.50 |" in rows
