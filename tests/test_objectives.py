"""Each training objective against a hand computation on a small batch."""

from __future__ import annotations

import math

import pytest
import torch

from gcfa_dgl.objectives import Objective, bce, bpr, ccl, info_nce, softmax

POS = torch.tensor([2.0, -1.0])
NEG = torch.tensor([1.0, 3.0, 0.5, -2.0])  # two negatives per positive, each positive's together


def log_sigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x))


def test_bpr_pairs_each_positive_with_its_own_negatives():
    want = -(log_sigmoid(2 - 1) + log_sigmoid(2 - 3) + log_sigmoid(-1 - 0.5) + log_sigmoid(-1 + 2)) / 4
    assert bpr(POS, NEG).item() == pytest.approx(want, rel=1e-6)


def test_bce_labels_positives_one_and_negatives_zero():
    want = -(log_sigmoid(2) + log_sigmoid(-1) + sum(log_sigmoid(-x) for x in (1, 3, 0.5, -2))) / 6
    assert bce(POS, NEG).item() == pytest.approx(want, rel=1e-6)


def test_softmax_is_cross_entropy_over_each_positive_and_its_negatives():
    t = 0.5

    def row(p, negs, corr=(0.0, 0.0)):
        logits = [p / t] + [n / t - c for n, c in zip(negs, corr)]
        return -(logits[0] - math.log(sum(math.exp(x) for x in logits)))

    want = (row(2, [1, 3]) + row(-1, [0.5, -2])) / 2
    assert softmax(POS, NEG, t).item() == pytest.approx(want, rel=1e-6)
    # log-q correction: each negative logit minus log(k q(v))
    q = torch.tensor([0.1, 0.4, 0.25, 0.05])
    corr = [math.log(2 * x) for x in q.tolist()]
    want = (row(2, [1, 3], corr[:2]) + row(-1, [0.5, -2], corr[2:])) / 2
    assert softmax(POS, NEG, t, q.log()).item() == pytest.approx(want, rel=1e-6)
    # through the Objective, which looks the videos' log q up
    obj = Objective("softmax", t, log_q=lambda v: q.log()[v])
    assert obj(POS, NEG, torch.arange(4)).item() == pytest.approx(want, rel=1e-6)


def test_ccl_is_one_minus_the_positive_cosine_plus_weighted_hinges_over_the_margin():
    pos, neg = torch.tensor([0.9, 0.2]), torch.tensor([0.7, 0.1, -0.3, 0.95])
    m, w = 0.5, 3.0
    want = ((1 - 0.9) + w * (0.2 + 0.0) / 2 + (1 - 0.2) + w * (0.0 + 0.45) / 2) / 2
    assert ccl(pos, neg, m, w).item() == pytest.approx(want, rel=1e-6)
    assert Objective("ccl", margin=m, negative_weight=w)(pos, neg).item() == pytest.approx(want, rel=1e-6)


def test_info_nce_takes_each_row_of_one_view_as_the_class_of_the_same_row_of_the_other():
    x1 = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 2.0]])
    x2 = torch.tensor([[2.0, 0.0], [0.0, 1.0], [-1.0, 1.0]])
    t = 0.2

    def cos(a, b):
        return float(a @ b / (a.norm() * b.norm()))

    rows = []
    for i in range(3):
        logits = [cos(x1[i], x2[j]) / t for j in range(3)]
        rows.append(-(logits[i] - math.log(sum(math.exp(x) for x in logits))))
    assert info_nce(x1, x2, t).item() == pytest.approx(sum(rows) / 3, rel=1e-6)
    assert info_nce(x1, x2, t, "sum").item() == pytest.approx(sum(rows), rel=1e-6)


def test_bad_shapes_and_names_fail():
    with pytest.raises(ValueError, match="not k per positive"):
        bpr(POS, NEG[:3])
    with pytest.raises(ValueError, match="objective must be one of"):
        Objective("hinge")
    with pytest.raises(ValueError, match="temperature"):
        Objective("softmax", 0.0)
