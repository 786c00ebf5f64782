"""EASE: the closed form against a brute-force solve, and λ chosen on validation through the entry point."""

from __future__ import annotations

import dgl
import pytest
import torch

from data_prep.graph import RATES
from gcfa_dgl.models.ease import EASE


def brute_force(x: torch.Tensor, l2: float) -> torch.Tensor:
    """argmin_B ||X - XB||² + λ||B||² with diag(B) = 0, one column at a time: column j regresses
    X_j on the other columns (ridge), its own entry fixed at 0."""
    n = x.shape[1]
    b = torch.zeros(n, n, dtype=torch.float64)
    for j in range(n):
        rest = [i for i in range(n) if i != j]
        a = x[:, rest]
        b[rest, j] = torch.linalg.solve(a.T @ a + l2 * torch.eye(n - 1, dtype=torch.float64), a.T @ x[:, j])
    return b


def graph(x: torch.Tensor) -> dgl.DGLGraph:
    u, v = x.nonzero(as_tuple=True)
    return dgl.heterograph({RATES: (u, v), ("video", "rated_by", "user"): (v, u)},
                           num_nodes_dict={"user": x.shape[0], "video": x.shape[1]})


@pytest.mark.parametrize("l2", [0.5, 10.0])
def test_closed_form_equals_a_brute_force_solve(l2):
    gen = torch.Generator().manual_seed(0)
    x = (torch.rand(40, 12, generator=gen) < 0.3).double()
    model = EASE(40, 12, l2=l2)
    zu, zv = model.embed_all(graph(x))
    assert torch.equal(zu, x.float())
    want = brute_force(x, l2)
    assert torch.allclose(zv.T.double(), want, atol=1e-5) and torch.all(zv.diagonal() == 0)
    # user x video scores as the evaluator computes them: X B
    assert torch.allclose(model.score_matrix(zu, zv).double(), x @ want, atol=1e-4)
    u, v = torch.tensor([0, 3, 7]), torch.tensor([1, 5, 11])
    assert torch.allclose(model.score_pairs(zu[u], zv[v]).double(), (x @ want)[u, v], atol=1e-4)


def test_a_new_l2_refits_and_a_large_catalogue_is_refused():
    x = (torch.rand(30, 8, generator=torch.Generator().manual_seed(1)) < 0.4).double()
    model = EASE(30, 8, l2=1.0)
    g = graph(x)
    a = model.embed_all(g)[1].clone()
    model.l2 = 100.0
    b = model.embed_all(g)[1]
    assert torch.allclose(b.T.double(), brute_force(x, 100.0), atol=1e-5) and not torch.allclose(a, b)
    with pytest.raises(ValueError, match="model.max_videos"):
        EASE(10, 50_000)
