"""ImportanceSampler: exact selection laws, exclusion of a batch's own edges, loaders."""

from __future__ import annotations

import itertools

import dgl
import numpy as np
import pytest
import torch
from scipy.stats import chisquare

from data_prep.graph import RATED_BY, RATES
from gcfa_dgl.evaluator import score_candidates, score_candidates_by_user
from gcfa_dgl.loaders import edge_loader, layerwise_inference
from gcfa_dgl.negatives import VideoNegativeSampler
from gcfa_dgl.sampling import ImportanceSampler


def star_copies(weights: list[float], copies: int) -> dgl.DGLGraph:
    """`copies` videos, each rated by its own len(weights) users with these tightness values."""
    n = len(weights)
    users = torch.arange(copies * n)
    videos = torch.arange(copies).repeat_interleave(n)
    g = dgl.heterograph({RATES: (users, videos), RATED_BY: (videos, users)},
                        num_nodes_dict={"user": copies * n, "video": copies})
    t = torch.tensor(weights, dtype=torch.float32).repeat(copies)
    g.edges[RATES].data["tightness"] = t
    g.edges[RATED_BY].data["tightness"] = t
    return g


def pair_frequencies(g, sampler, copies, n, k):
    _, _, blocks = sampler.sample(g, {"video": torch.arange(copies)})
    b = blocks[0]
    eids = b.edges[RATES].data[dgl.EID]
    _, dst = b.edges(etype=RATES)
    local = (eids % n).numpy()
    video = b.dstdata[dgl.NID]["video"][dst].numpy()
    picks = {}
    for v, e in zip(video, local):
        picks.setdefault(int(v), []).append(int(e))
    assert all(len(p) == k for p in picks.values())
    return [tuple(sorted(p)) for p in picks.values()]


@pytest.mark.parametrize("kernel", ["torch", "dgl"])
def test_weighted_matches_without_replacement_law(kernel):
    dgl.seed(0)
    torch.manual_seed(0)
    t = [0.1, 0.2, 0.3, 0.4]
    alpha, k, copies = 2.0, 2, 6000
    g = star_copies(t, copies)
    s = ImportanceSampler([k], mode="weighted", alpha=alpha, kernel=kernel)
    s.prepare(g)
    draws = pair_frequencies(g, s, copies, len(t), k)
    w = np.asarray(t) ** alpha
    total = w.sum()
    pairs = list(itertools.combinations(range(len(t)), 2))
    # Successive sampling: first pick proportional to w, the second among the rest.
    expected = np.array([w[i] / total * w[j] / (total - w[i]) + w[j] / total * w[i] / (total - w[j])
                         for i, j in pairs])
    observed = np.array([draws.count(p) for p in pairs])
    assert abs(expected.sum() - 1) < 1e-12
    assert chisquare(observed, expected * len(draws)).pvalue > 1e-3
    # And it is not the uniform law.
    assert chisquare(observed, np.full(len(pairs), len(draws) / len(pairs))).pvalue < 1e-6


def successive_law(w: list[float], k: int) -> dict[frozenset, float]:
    """P(the k drawn edges are this set) under successive sampling, by enumerating orders."""
    law: dict[frozenset, float] = {}
    for order in itertools.permutations(range(len(w)), k):
        p, rest = 1.0, sum(w)
        for i in order:
            p, rest = p * w[i] / rest, rest - w[i]
        law[frozenset(order)] = law.get(frozenset(order), 0.0) + p
    return law


@pytest.mark.parametrize("rounds", [0, 1, 4])
@pytest.mark.parametrize("excluded", [(), (5, 0)])
def test_weighted_draws_follow_successive_sampling(rounds, excluded):
    """Nodes of degree 9 > 2k: drawn with replacement and deduplicated in rounds (0 rounds: all
    by the exponential race), with two in-edges excluded in every node; each node's set must
    follow the successive-sampling law of its remaining edges exactly, not a near miss."""
    from gcfa_dgl.weighted import WeightedDraws

    torch.manual_seed(rounds)
    t = [0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 0.3, 0.0, 1.0]  # one zero: never drawn
    k, copies, n = 3, 4000, len(t)
    g = star_copies(t, copies)
    d = WeightedDraws(g, RATES, "tightness")
    d.rounds = rounds
    exclude = torch.tensor([c * n + e for c in range(copies) for e in excluded], dtype=torch.int64)
    _, dst, eid = d.sample(torch.arange(copies), k, exclude)
    assert torch.bincount(dst, minlength=copies).eq(k).all()
    assert not torch.isin(eid, exclude).any()
    assert torch.equal(d.slot, torch.full_like(d.slot, 2**31 - 1))  # scratch state reset for the next call
    order = torch.argsort(dst * n + eid % n)
    sets = [frozenset(x) for x in (eid[order] % n).view(copies, k).tolist()]
    keep = [i for i in range(n) if i not in excluded and t[i] > 0]
    law = {frozenset(keep[j] for j in s): p for s, p in successive_law([t[i] for i in keep], k).items()}
    observed = np.array([sets.count(s) for s in law])
    assert observed.sum() == copies
    expected = np.array(list(law.values())) * copies
    assert chisquare(observed, expected).pvalue > 1e-3
    # The test has the power to see a plausible mistake: sets in proportion to the product of
    # their weights (conditional Poisson sampling, a different without-replacement law).
    wrong = np.array([np.prod([t[i] for i in s]) for s in law])
    assert chisquare(observed, wrong / wrong.sum() * copies).pvalue < 1e-6


def test_weighted_kernel_is_reproducible_on_any_thread_count():
    g = random_graph(8, n_edges=900)
    seeds = {"user": torch.arange(43), "video": torch.arange(30)}
    batch = torch.arange(0, g.num_edges(RATES), 7)
    got = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        torch.manual_seed(5)
        s = ImportanceSampler([3, 2], mode="weighted")
        s.prepare(g)
        _, _, blocks = s.sample(g, seeds, exclude_eids={RATES: batch, RATED_BY: batch})
        got.append([(b.edges[et].data[dgl.EID].sort().values, b.srcdata[dgl.NID]["user"]) for b in blocks
                    for et in b.canonical_etypes])
    for (e1, u1), (e2, u2) in zip(*got):
        assert torch.equal(e1, e2) and torch.equal(u1, u2)
    # Sources are the edges' real sources, features the parent's, and the destinations the seeds.
    b = blocks[-1]
    for et in b.canonical_etypes:
        src_g, dst_g = g.find_edges(b.edges[et].data[dgl.EID], etype=et)
        assert torch.equal(b.srcdata[dgl.NID][et[0]][b.edges(etype=et)[0]], src_g)
        assert torch.equal(b.dstdata[dgl.NID][et[2]][b.edges(etype=et)[1]], dst_g)
        assert torch.equal(b.edges[et].data["tightness"], g.edges[et].data["tightness"][b.edges[et].data[dgl.EID]])
    assert all(torch.equal(b.dstdata[dgl.NID][nt], seeds[nt]) for nt in seeds)


def test_weighted_draws_reject_negative_weights():
    from gcfa_dgl.weighted import WeightedDraws

    g = star_copies([0.5, -0.1], 1)
    with pytest.raises(ValueError, match="'tightness'.*finite and >= 0"):
        WeightedDraws(g, RATES, "tightness")


def test_uniform_mode_ignores_tightness():
    dgl.seed(1)
    g = star_copies([0.01, 0.2, 0.3, 0.99], 6000)
    draws = pair_frequencies(g, ImportanceSampler([2], mode="uniform"), 6000, 4, 2)
    observed = np.array([draws.count(p) for p in itertools.combinations(range(4), 2)])
    assert chisquare(observed).pvalue > 1e-3


def random_graph(seed=0, n_users=40, n_videos=30, n_edges=400):
    rng = np.random.default_rng(seed)
    codes = np.unique(rng.integers(0, n_users * n_videos, n_edges))
    u, v = torch.as_tensor(codes // n_videos), torch.as_tensor(codes % n_videos)
    g = dgl.heterograph(
        {RATES: (u, v), RATED_BY: (v, u), ("user", "similar", "user"): (u[:50], torch.flip(u[:50], [0]))},
        num_nodes_dict={"user": n_users + 3, "video": n_videos},  # three isolated users
    )
    for et in g.canonical_etypes:
        g.edges[et].data["tightness"] = torch.as_tensor(rng.random(g.num_edges(et)), dtype=torch.float32)
    return g


def test_topk_returns_exactly_the_k_tightest():
    g = random_graph()
    k = 3
    _, _, blocks = ImportanceSampler([k], mode="topk").sample(g, {"video": torch.arange(30)})
    b = blocks[0]
    got = {}
    for eid, d in zip(b.edges[RATES].data[dgl.EID].tolist(), b.edges(etype=RATES)[1].tolist()):
        got.setdefault(int(b.dstdata[dgl.NID]["video"][d]), set()).add(eid)
    src, dst, eids = g.edges(etype=RATES, form="all")
    t = g.edges[RATES].data["tightness"]
    for v in range(30):
        mine = eids[dst == v]
        best = set(mine[torch.argsort(t[mine], descending=True)[:k]].tolist())
        assert got.get(v, set()) == best


@pytest.mark.parametrize("mode", ["weighted", "topk", "uniform"])
def test_fanout_above_degree_returns_every_neighbour(mode):
    g = random_graph(1)
    s = ImportanceSampler([1000], mode=mode)
    s.prepare(g)
    _, _, blocks = s.sample(g, {"video": torch.arange(30), "user": torch.arange(43)})
    assert blocks[0].num_edges(RATES) == g.num_edges(RATES)
    assert blocks[0].num_edges(RATED_BY) == g.num_edges(RATED_BY)


@pytest.mark.parametrize("mode", ["weighted", "topk", "uniform", "full"])
def test_isolated_nodes_and_missing_edge_types(mode):
    g = random_graph(2)
    # "describes" is a known type this graph lacks (no side information): skipped, not an error.
    s = ImportanceSampler([{"rates": 2, "describes": 3}, 2], mode=mode)
    s.prepare(g)
    isolated = torch.tensor([40, 41, 42])
    inp, out, blocks = s.sample(g, {"user": isolated})
    assert blocks[-1].num_edges() == 0
    assert torch.equal(out["user"], isolated)
    with pytest.raises(KeyError, match="unknown edge type"):
        ImportanceSampler([{"ratez": 2}], mode=mode)


def test_per_type_fanouts_are_respected():
    g = random_graph(3)
    s = ImportanceSampler([{"rated_by": 2, "similar": 0}], mode="weighted")
    s.prepare(g)
    _, _, blocks = s.sample(g, {"user": torch.arange(40), "video": torch.arange(30)})
    b = blocks[0]
    assert b.num_edges("similar") == 0 and b.num_edges("rates") == 0
    assert torch.bincount(b.edges(etype=RATED_BY)[1]).max() <= 2


@pytest.mark.parametrize("mode, fanout", [("weighted", -1), ("weighted", 3), ("topk", -1)])
@pytest.mark.parametrize("workers, scope", [(0, "blocks"), (2, "blocks"), (0, "graph")])
def test_batch_edges_never_inform_their_own_endpoints(mode, fanout, workers, scope):
    g = random_graph(4, n_edges=600)
    # -1, every neighbour: exclusion is the only filter
    s = ImportanceSampler([fanout, fanout], mode=mode, scope=scope)
    loader = edge_loader(g, torch.arange(g.num_edges(RATES)), s, VideoNegativeSampler(2), batch_size=64,
                         num_workers=workers, persistent_workers=workers > 0)
    seen = 0
    for _, pair, neg, blocks in loader:
        batch = set(pair.edges[RATES].data[dgl.EID].tolist())
        for b in blocks:
            for et in (RATES, RATED_BY):
                assert not batch & set(b.edges[et].data[dgl.EID].tolist())
        assert neg.num_edges(RATES) == 2 * pair.num_edges(RATES)
        seen += pair.num_edges(RATES)
    assert seen == g.num_edges(RATES)


def test_whole_graph_scope_with_a_fanout_per_layer_draws_each_layer():
    """Layers with different fanouts cannot share one draw: the inner layer draws every node's
    neighbours with its own fanout, the last the seeds' with its own."""
    g = random_graph(7, n_edges=600)
    s = ImportanceSampler([2, 4], mode="weighted", scope="graph")
    s.prepare(g)
    seeds = {"user": torch.tensor([0, 1, 2]), "video": torch.tensor([5])}
    _, _, (inner, last) = s.sample(g, seeds)
    assert inner.num_dst_nodes("user") == g.num_nodes("user") and last.num_dst_nodes("user") == 3
    in_inner = torch.bincount(inner.edges(etype=RATED_BY)[1])
    in_last = torch.bincount(last.edges(etype=RATED_BY)[1], minlength=3)
    assert in_inner.max() <= 2 and in_last.max() <= 4 and in_last.max() > 2


def test_topk_ties_do_not_favour_low_ids():
    """Implicit data makes every user-video edge equally tight: top-k must then not keep each
    node's lowest-numbered neighbours, but a spread, the same on every call; with distinct
    tightness it keeps the tightest."""
    g = star_copies([1.0] * 200, 1)
    s = ImportanceSampler([10], mode="topk")
    picks = [set(s.sample(g, {"video": torch.tensor([0])})[2][0].edges[RATES].data[dgl.EID].tolist()) for _ in range(2)]
    assert picks[0] == picks[1] and len(picks[0]) == 10
    assert picks[0] != set(range(10)) and max(picks[0]) >= 100 and min(picks[0]) < 100
    assert len({tie_hash(e) for e in range(5000)}) == 5000  # a bijection: ties never stay unbroken
    g = star_copies([0.5] * 100 + [0.9, 0.8], 1)
    assert set(s.sample(g, {"video": torch.tensor([0])})[2][0].edges[RATES].data[dgl.EID].tolist()) >= {100, 101}


def test_topk_with_exclusion_refills_from_the_next_tightest():
    g = star_copies([0.9, 0.8, 0.1, 0.2], 1)
    s = ImportanceSampler([2], mode="topk")
    _, _, blocks = s.sample(g, {"video": torch.tensor([0])}, exclude_eids={RATES: torch.tensor([0])})
    assert set(blocks[0].edges[RATES].data[dgl.EID].tolist()) == {1, 3}


def tie_hash(e: int) -> int:
    """The documented tie order, written out in plain Python: a 32-bit integer hash of the edge id."""
    for _ in range(2):
        e = (((e >> 16) ^ e) * 0x45D9F3B) & 0xFFFFFFFF
    return (e >> 16) ^ e


def brute_force_topk(g, et, nodes, k, excluded):
    """Per node, the k tightest in-edges not excluded, ties in `tie_hash` order (plain Python)."""
    src, dst, eids = (x.tolist() for x in g.edges(etype=et, form="all"))
    t = g.edges[et].data["tightness"].tolist()
    out = {}
    for v in nodes.tolist():
        mine = sorted((e for e, d in zip(eids, dst) if d == v and e not in excluded), key=lambda e: (-t[e], tie_hash(e)))
        out[v] = set(mine if k < 0 else mine[:k])
    return out


SIMILAR = ("user", "similar", "user")


@pytest.mark.parametrize("exclude", [True, False])
@pytest.mark.parametrize("fanout", [{"rates": 3, "rated_by": 4, "similar": -1}, {"rates": -1, "rated_by": 1}])
@pytest.mark.parametrize("spare", [0, 1, 16])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_topk_matches_brute_force(seed, spare, fanout, exclude):
    # Tightness on a coarse grid makes ties common. spare=0 sends every seed that lost one of its
    # k to the exact path, spare=16 almost none; -1 keeps every edge that is not excluded.
    g = random_graph(10 + seed, n_edges=500)
    rng = np.random.default_rng(seed)
    for et in g.canonical_etypes:
        g.edges[et].data["tightness"] = torch.as_tensor(rng.integers(1, 6, g.num_edges(et)) / 5, dtype=torch.float32)
    s = ImportanceSampler([fanout], mode="topk")
    s.spare = spare
    batch = torch.as_tensor(rng.choice(g.num_edges(RATES), 120, replace=False))
    seeds = {"user": torch.arange(43), "video": torch.arange(30)}
    _, _, blocks = s.sample(g, seeds, exclude_eids={RATES: batch, RATED_BY: batch} if exclude else None)
    b = blocks[0]
    for et in (RATES, RATED_BY, SIMILAR):
        k = fanout.get(et[1], 0)
        got = topk_sets(g, blocks, et)
        excluded = set(batch.tolist()) if exclude and et != SIMILAR else set()
        want = brute_force_topk(g, et, seeds[et[2]], k, excluded) if k else {}
        assert {v: got.get(v, set()) for v in want} == want and set(got) <= set(want)
        # Sources are the edges' real sources, and features are the parent's.
        src_g, _ = g.find_edges(b.edges[et].data[dgl.EID], etype=et)
        assert torch.equal(b.srcdata[dgl.NID][et[0]][b.edges(etype=et)[0]], src_g)
        assert torch.equal(b.edges[et].data["tightness"], g.edges[et].data["tightness"][b.edges[et].data[dgl.EID]])


def test_negative_samplers():
    torch.manual_seed(0)
    g = random_graph(5, n_users=20, n_videos=10, n_edges=120)  # dense: about half are positives
    eids = torch.arange(g.num_edges(RATES))
    src, dst = VideoNegativeSampler(5, reject_positives=True)(g, {RATES: eids})[RATES]
    assert len(src) == 5 * len(eids)
    assert not g.has_edges_between(src, dst, etype=RATES).any()
    # Same draws as re-checking every pair each round (only redrawn pairs are checked again).
    # Positives are looked up in a users x videos bitmap, or by DGL's search above its size cap.
    torch.manual_seed(1)
    ref = torch.randint(0, 10, (5 * len(eids),))
    users = g.find_edges(eids, etype=RATES)[0].repeat_interleave(5)
    while (bad := torch.nonzero(g.has_edges_between(users, ref, etype=RATES)).squeeze(1)).numel():
        ref[bad] = torch.randint(0, 10, (len(bad),))
    for cap in (VideoNegativeSampler.max_bitmap_cells, 0):
        sampler = VideoNegativeSampler(5, reject_positives=True)
        sampler.max_bitmap_cells = cap
        torch.manual_seed(1)
        assert torch.equal(sampler(g, {RATES: eids})[RATES][1], ref)
        assert (sampler._positives is None) == (cap == 0)
    _, dst = VideoNegativeSampler(50, distribution="popularity")(g, {RATES: eids})[RATES]
    deg = g.in_degrees(etype=RATES).double()
    freq = torch.bincount(dst, minlength=10).double() / len(dst)
    expected = deg.pow(0.75) / deg.pow(0.75).sum()
    assert torch.allclose(freq, expected, atol=0.01)


def test_in_batch_negatives_are_the_batch_own_positive_videos_drawn_by_train_degree():
    from gcfa_dgl.negatives import draw_probabilities

    torch.manual_seed(0)
    g = random_graph(5, n_users=20, n_videos=10, n_edges=120)
    eids = torch.tensor([0, 5, 9, 17])
    _, batch_videos = g.find_edges(eids, etype=RATES)
    src, dst = VideoNegativeSampler(40, distribution="in_batch")(g, {RATES: eids})[RATES]
    assert set(dst.tolist()) <= set(batch_videos.tolist()) and len(dst) == 160
    # over uniformly drawn batches a video is drawn as often as it is a train positive
    all_eids = torch.arange(g.num_edges(RATES))
    _, dst = VideoNegativeSampler(200, distribution="in_batch")(g, {RATES: all_eids})[RATES]
    freq = torch.bincount(dst, minlength=10).double() / len(dst)
    assert torch.allclose(freq, draw_probabilities(g, "in_batch"), atol=0.01)


def test_layerwise_inference_matches_full_graph():
    g = random_graph(6)
    s = ImportanceSampler([-1, -1], mode="full")
    x = {"user": torch.randn(43, 4), "video": torch.randn(30, 4)}

    def mean_layer(layer, block, h):
        out = {}
        with block.local_scope():
            for nt in block.dsttypes:
                if block.num_dst_nodes(nt):
                    out[nt] = h[nt][: block.num_dst_nodes(nt)].clone()
            for et in block.canonical_etypes:
                s_t, _, d_t = et
                if block.num_edges(et) == 0:
                    continue
                block.srcnodes[s_t].data["h"] = h[s_t]
                block.update_all(dgl.function.copy_u("h", "m"), dgl.function.mean("m", "a"), etype=et)
                out[d_t] = out[d_t] + block.dstnodes[d_t].data.pop("a")
        return out

    got = layerwise_inference(g, s, mean_layer, x, batch_size=7)
    # Reference: the same two layers on the whole graph at once.
    h = x
    for layer in range(2):
        full = dgl.to_block(g, {nt: torch.arange(g.num_nodes(nt)) for nt in g.ntypes})
        h = mean_layer(layer, full, h)
    for nt in ("user", "video"):
        assert torch.allclose(got[nt], h[nt], atol=1e-5)


def test_score_candidates_layout():
    users = torch.tensor([0, 2, 1])
    pos = torch.tensor([5, 6, 7])
    neg = torch.tensor([[1, 2], [3, 4], [0, 9]])
    scores = score_candidates(lambda u, v: (u * 100 + v).float(), users, pos, neg, batch_size=2)
    assert scores.tolist() == [[5, 1, 2], [206, 203, 204], [107, 100, 109]]
    # wide representations shrink the chunks (one user at a time here), with the same scores
    seen = []
    wide = score_candidates(lambda u, v: seen.append(len(u)) or (u * 100 + v).float(), users, pos, neg,
                            batch_size=2, width=1000, max_cells=3000)
    assert wide.tolist() == scores.tolist() and seen == [3, 3, 3]


def test_candidates_read_from_user_rows_equal_scored_pairs():
    """EASE's path: each chunk of distinct users scored against every video once, candidates read
    from those rows; the same scores as pair by pair, whatever the order of the rows."""
    users = torch.tensor([3, 0, 3, 1, 0, 3])
    pos = torch.tensor([5, 6, 7, 8, 9, 1])
    neg = torch.tensor([[1, 2], [3, 4], [0, 9], [2, 2], [5, 7], [8, 0]])
    pairs = score_candidates(lambda u, v: (u * 100 + v).float(), users, pos, neg)
    chunks = []

    def matrix(u):
        chunks.append(u.tolist())
        return (u[:, None] * 100 + torch.arange(10)[None, :]).float()

    for step_cells in (10, 20, 1000):  # one, two or all distinct users per product
        chunks.clear()
        got = score_candidates_by_user(matrix, users, pos, neg, n_videos=10, max_cells=step_cells)
        assert got.tolist() == pairs.tolist()
        assert sorted(u for c in chunks for u in c) == [0, 1, 3]  # each user's row computed once


@pytest.mark.slow
def test_sampler_benchmark_runs_on_a_small_graph(tmp_path, monkeypatch):
    """The benchmark's code path end to end (on ML-1M-sized synthetic data: a few seconds)."""
    from gcfa_dgl.bench import sampler as bench

    monkeypatch.delenv("GCFA_RAW_DIR", raising=False)
    monkeypatch.setenv("GCFA_PROCESSED_DIR", str(tmp_path))
    res = bench.run([5, 5], batch=256, batches=3, repeats=1)
    assert set(res["seeds_per_second"]) >= {"weighted", "topk", "DGL NeighborSampler, second instance"}
    assert all(v > 0 for v in res["seeds_per_second"].values())


def test_layer_samplers_share_the_ranked_topk_lists():
    g = random_graph(7)
    s = ImportanceSampler([3, 3], mode="topk")
    seeds = {"user": torch.arange(43), "video": torch.arange(30)}
    s.layer(0).sample(g, seeds)
    cached = {k: v for k, v in s._topk_graphs.items() if k != "graph"}
    assert len(cached) == 1  # built by the first layer sampler, kept by the parent
    s.layer(1).sample(g, seeds)
    assert {k: v for k, v in s._topk_graphs.items() if k != "graph"} == cached
    # Another graph resets the shared cache rather than reusing lists of the first.
    h = random_graph(8)
    s.layer(0).sample(h, seeds)
    assert s._topk_graphs["graph"] is h and all(v is not cached[k] for k, v in s._topk_graphs.items() if k in cached)


def topk_sets(g, blocks, et):
    b = blocks[0]
    _, dst = b.edges(etype=et)
    got = {}
    for e, d in zip(b.edges[et].data[dgl.EID].tolist(), b.dstdata[dgl.NID][et[2]][dst].tolist()):
        got.setdefault(d, set()).add(e)
    return got


def test_topk_cache_follows_the_graph_across_shared_layer_samplers():
    g, h = random_graph(0), random_graph(8)
    seeds = {"user": torch.arange(43), "video": torch.arange(30)}
    s = ImportanceSampler([3], mode="topk")
    s.sample(g, seeds)
    s.layer(0).sample(h, seeds)  # rebuilds the shared cache for h
    got = topk_sets(g, s.sample(g, seeds)[2], RATES)
    want = brute_force_topk(g, RATES, seeds["video"], 3, set())
    assert {v: got.get(v, set()) for v in want} == want


def test_topk_on_an_int32_graph_with_exclusions():
    g = random_graph(10, n_edges=500).int()
    seeds = {"user": torch.arange(43, dtype=torch.int32), "video": torch.arange(30, dtype=torch.int32)}
    batch = torch.arange(0, 200, 3, dtype=torch.int32)
    _, _, blocks = ImportanceSampler([3], mode="topk").sample(g, seeds, exclude_eids={RATES: batch, RATED_BY: batch})
    got = topk_sets(g, blocks, RATES)
    want = brute_force_topk(g, RATES, seeds["video"], 3, set(batch.tolist()))
    assert {v: got.get(v, set()) for v in want} == want


@pytest.mark.parametrize("exclude", [True, False])
def test_topk_blocks_read_the_graphs_current_edge_features(exclude):
    g = random_graph(11)
    seeds = {"user": torch.arange(43), "video": torch.arange(30)}
    s = ImportanceSampler([3], mode="topk")
    ex = {RATES: torch.arange(0, 200, 2), RATED_BY: torch.arange(0, 200, 2)} if exclude else None
    s.sample(g, seeds, exclude_eids=ex)
    g.edges[RATES].data["extra"] = torch.arange(g.num_edges(RATES), dtype=torch.float32)
    b = s.sample(g, seeds, exclude_eids=ex)[2][0]
    assert torch.equal(b.edges[RATES].data["extra"], b.edges[RATES].data[dgl.EID].float())


def test_whole_graph_scope_draws_every_node_under_the_same_law():
    """In graph scope the inner layer draws the in-neighbours of every node, not only of those a
    batch reaches, with the law of the blocks (the successive-sampling check of the test above,
    on the inner layer's draws for nodes that are no seed); the last layer reuses that draw."""
    torch.manual_seed(0)
    t = [0.1, 0.2, 0.3, 0.4]
    copies, k = 6000, 2
    g = star_copies(t, copies)
    s = ImportanceSampler([k, k], mode="weighted", alpha=2.0, scope="graph")
    s.prepare(g)
    seeds = {"video": torch.arange(3), "user": torch.arange(2)}
    input_nodes, _, blocks = s.sample(g, seeds)
    inner, last = blocks
    assert inner.num_dst_nodes("video") == copies and inner.num_dst_nodes("user") == len(t) * copies
    assert last.num_dst_nodes("video") == 3 and last.num_src_nodes("video") == copies
    assert torch.equal(inner.dstdata[dgl.NID]["video"][:3], seeds["video"])  # seeds lead every node order
    assert torch.equal(last.srcdata[dgl.NID]["video"], inner.dstdata[dgl.NID]["video"])
    # one draw per step: the last layer holds the inner layer's draws for the seeds
    for et in inner.canonical_etypes:
        src, dst = inner.edges(etype=et)
        into_seeds = dst < last.num_dst_nodes(et[2])
        assert torch.equal(last.edges[et].data[dgl.EID], inner.edges[et].data[dgl.EID][into_seeds])
        assert torch.equal(last.edges(etype=et)[0], src[into_seeds])
    eids, dst = inner.edges[RATES].data[dgl.EID], inner.dstdata[dgl.NID]["video"][inner.edges(etype=RATES)[1]]
    picks: dict[int, list[int]] = {}
    for v, e in zip(dst.tolist(), (eids % len(t)).tolist()):
        picks.setdefault(v, []).append(e)
    draws = [tuple(sorted(p)) for p in picks.values()]
    assert len(draws) == copies and all(len(p) == k for p in draws)
    w = np.asarray(t) ** 2.0
    pairs = list(itertools.combinations(range(len(t)), 2))
    expected = np.array([w[i] / w.sum() * w[j] / (w.sum() - w[i]) + w[j] / w.sum() * w[i] / (w.sum() - w[j])
                         for i, j in pairs])
    observed = np.array([draws.count(p) for p in pairs])
    assert chisquare(observed, expected * len(draws)).pvalue > 1e-3


def test_both_scopes_give_a_model_the_same_scores_on_the_same_neighbourhoods():
    """With top-k, whose neighbourhoods do not depend on the draw, a GCFA batch scores the same
    whether the step sampled per-batch blocks or every node's neighbours."""
    from gcfa_dgl.models.gcfa import GCFA

    g = random_graph(5, n_edges=500)
    g.edges[RATES].data["rating_level"] = (g.edges[RATES].data["tightness"] * 4).long()
    g.edges[RATED_BY].data["rating_level"] = g.edges[RATES].data["rating_level"]
    torch.manual_seed(0)
    model = GCFA(n_users=g.num_nodes("user"), n_videos=g.num_nodes("video"), n_ratings=5, dim=8, dropout=0.0,
                 social_edges=False, info_edges=False).eval()
    scores = []
    for scope in ("blocks", "graph"):
        torch.manual_seed(1)  # the same batch and negatives
        s = ImportanceSampler([3, 3], mode="topk", scope=scope)
        batch = next(iter(edge_loader(g, torch.arange(g.num_edges(RATES)), s, VideoNegativeSampler(1), 64,
                                      shuffle=False)))
        with torch.no_grad():
            scores.append(torch.cat(model(*batch)[:2]))
    assert torch.allclose(scores[0], scores[1], atol=1e-6)


def test_whole_graph_scope_regularises_the_embeddings_a_batch_reaches():
    """An L2 term "on the batch's parameters" covers, in graph scope, exactly the nodes per-batch
    blocks would hold: with top-k (the same neighbourhoods in both scopes) the nodes `reached`
    marks are the blocks' input nodes."""
    from gcfa_dgl.models.base import Recommender

    g = random_graph(6, n_edges=300)
    sets = []
    for scope in ("blocks", "graph"):
        s = ImportanceSampler([2, 2], mode="topk", scope=scope)
        seeds = {"user": torch.tensor([3, 7]), "video": torch.tensor([1])}
        input_nodes, _, blocks = s.sample(g, seeds)
        need = Recommender.reached(blocks)
        sets.append({(nt, int(i)) for nt, ids in input_nodes.items() for i in ids[need[nt]]})
        if scope == "blocks":
            assert all(m.all() for m in need.values())
        else:
            assert sum(len(v) for v in input_nodes.values()) == g.num_nodes() > len(sets[-1])
    assert sets[0] == sets[1]
