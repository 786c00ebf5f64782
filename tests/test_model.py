"""GCFA on one real batch: every enabled component learns, every switch does what it says."""

from __future__ import annotations

import pytest
import torch
from conftest import compose_prep

from data_prep.pipeline import prepare
from gcfa_dgl.data import load_processed
from gcfa_dgl.loaders import edge_loader
from gcfa_dgl.models import GCFA
from gcfa_dgl.negatives import VideoNegativeSampler
from gcfa_dgl.sampling import ImportanceSampler


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("model")
    cfg = compose_prep(["dataset=synthetic", "dataset.synthetic.n_users=120", "dataset.synthetic.n_items=80",
                        "dataset.synthetic.n_interactions=2400", "dataset.synthetic.n_info=6",
                        "dataset.negatives.num=20", f"paths.processed_dir={d}"])
    return load_processed(prepare(cfg))


def make(data, **kw):
    torch.manual_seed(0)
    return GCFA(n_users=data.n_users, n_videos=data.n_videos, n_info=data.meta.counts.info,
                n_ratings=len(data.meta.rating_values), dim=8, dropout=0.0, **kw)


def batch(data, layers=2):
    sampler = ImportanceSampler([5] * max(1, layers), mode="weighted")
    loader = edge_loader(data.graph, torch.arange(data.graph.num_edges("rates")), sampler,
                         VideoNegativeSampler(2), batch_size=64)
    return next(iter(loader))


def grads(model, data, layers=2):
    input_nodes, pair, neg, blocks = batch(data, layers)
    pos, negs, reg = model(input_nodes, pair, neg, blocks)
    (model.loss(pos, negs) + reg).backward()
    return {n: p.grad for n, p in model.named_parameters()}


def test_every_enabled_component_receives_gradient(data):
    model = make(data)
    g = grads(model, data)
    missing = {n for n, v in g.items() if v is None or not torch.any(v != 0)}
    params = dict(model.named_parameters())
    # The last layer outputs users and videos only (the batch's seeds): its info self-loop is idle.
    idle = {n for n in missing if n.startswith("props.1.self_loop.info.")}
    # An attention logit's bias shifts every logit of a softmax equally, so its gradient is zero
    # in exact arithmetic (and zero or ~1e-9 in floats).
    shift = {n for n in g if n.startswith("hist.") and ".att." in n and n.endswith(".bias")
             and params[n].numel() == 1}
    assert "props.1.self_loop.info.bias" in missing
    assert missing - idle - shift == set(), missing - idle - shift
    for part in ("props.0", "props.1", "hist.user.att", "hist.video.g", "agg.similar.pool",
                 "agg.describes", "tower.user", "predictor.first", "opinion_emb"):
        assert any(n.startswith(part) for n in g), part


def names(model):
    return {n for n, _ in model.named_parameters()}


@pytest.mark.parametrize("switch, absent, present", [
    ({"attention": False}, ["hist.user.att."], ["hist.user.g."]),
    ({"social_edges": False}, ["agg.similar.", "agg.co_watched.", "props.0.msg.similar."], ["agg.describes."]),
    ({"info_edges": False}, ["agg.describes.", "props.0.msg.has."], ["agg.similar."]),
    ({"predictor": "dot"}, ["predictor."], ["tower.user."]),
    ({"aggregator": "weighted"}, ["agg.similar.pool."], ["agg.similar.out."]),
    ({"propagation_layers": 0}, ["props.0."], ["hist.user.g."]),
    ({"propagation_layers": 3}, [], ["props.2."]),
])
def test_switches_change_the_parameters(data, switch, absent, present):
    base, model = names(make(data)), names(make(data, **switch))
    for prefix in absent:
        assert any(n.startswith(prefix) for n in base), prefix  # the switch removes something that was there
        assert not any(n.startswith(prefix) for n in model), prefix
    for prefix in present:
        assert any(n.startswith(prefix) for n in model), prefix


def test_opinion_switch_changes_the_history_input(data):
    with_op = make(data).hist["user"].g[0].in_features
    without = make(data, opinion=False).hist["user"].g[0].in_features
    assert (with_op, without) == (16, 8)
    assert any(n.startswith("props.0.op.") for n in names(make(data)))
    assert not any(n.startswith("props.0.op.") for n in names(make(data, opinion=False)))


@pytest.mark.parametrize("kw, layers", [({"attention": False, "aggregator": "mean"}, 2),
                                        ({"propagation_layers": 0}, 0), ({"predictor": "dot"}, 2)])
def test_variants_train_and_embed(data, kw, layers):
    """Each variant learns from a batch (one small step lowers that batch's loss) and embeds every node."""
    model = make(data, **kw)
    input_nodes, pair, neg, blocks = batch(data, layers)

    def loss() -> torch.Tensor:
        pos, negs, reg = model(input_nodes, pair, neg, blocks)
        return model.loss(pos, negs) + reg

    before = loss()
    before.backward()
    with torch.no_grad():
        for p in model.parameters():
            if p.grad is not None:
                p -= 0.05 * p.grad
    assert loss().item() < before.item()
    model.eval()
    zu, zv = model.embed_all(data.graph, ImportanceSampler([5] * max(1, layers), mode="topk"))
    assert zu.shape[0] == data.n_users and zv.shape[0] == data.n_videos
    s = model.score_matrix(zu[:7], zv)
    pairs = model.score_pairs(zu[:7].repeat_interleave(data.n_videos, 0), zv.repeat(7, 1)).view(7, -1)
    assert torch.allclose(s, pairs, atol=1e-5)


def test_video_features_are_projected(data):
    feat = torch.randn(data.n_videos, 5)
    model = GCFA(n_users=data.n_users, n_videos=data.n_videos, n_info=6, n_ratings=5, video_feat=feat, dim=8)
    assert model.feat_proj is not None and model.feat_proj.in_features == 5
    assert make(data).feat_proj is None
    off = GCFA(n_users=data.n_users, n_videos=data.n_videos, video_feat=feat, dim=8, video_features=False)
    assert off.feat_proj is None


def test_gcmc_towers_are_not_rectified(data):
    """GC-MC's dense layer ends in the identity (as in its authors' code): with a ReLU there, whole
    towers of sparse videos were exactly zero and scored every user alike."""
    from gcfa_dgl.models.gcmc import GCMC

    torch.manual_seed(0)
    model = GCMC(n_users=data.n_users, n_videos=data.n_videos, n_ratings=len(data.meta.rating_values),
                 dim=8, dropout=0.0).eval()
    zu, zv = model.embed_all(data.graph, ImportanceSampler([-1], mode="full"))
    assert (zv < 0).any() and (zu < 0).any()
    assert not (zv == 0).all(dim=1).any()


def test_lightgcn_propagation_gradient_matches_dense(data):
    """LightGCN's sparse product reuses Ã in its backward (Ã is symmetric): the gradient must be
    the dense product's."""
    from gcfa_dgl.models.lightgcn import SymmetricSpMM, normalised_adjacency

    adj = normalised_adjacency(data.graph)
    dense = adj.to_dense()
    assert torch.equal(dense, dense.T)
    x = torch.randn(dense.shape[0], 4, requires_grad=True)
    w = torch.randn(dense.shape[0], 4)
    (SymmetricSpMM.apply(adj, x) * w).sum().backward()
    got = x.grad.clone()
    x.grad = None
    ((dense @ x) * w).sum().backward()
    assert torch.allclose(got, x.grad, atol=1e-5)


@pytest.mark.parametrize("attention, opinion, train, att_dim", [
    (True, True, False, None), (True, False, False, None), (False, True, False, None), (True, True, True, None),
    (True, True, True, 3)])
def test_opinion_attention_equals_its_per_edge_definition(data, monkeypatch, attention, opinion, train, att_dim):
    """The split first layers (applied per node and per rating level), g's last layer moved after
    the weighted sum and the chunked per-edge pass compute the paper's per-edge concatenations
    exactly, forward and backward (with the same dropout mask in training), for any width of the
    attention's hidden layer."""
    from dgl.nn.functional import edge_softmax

    from data_prep.graph import RATED_BY
    from gcfa_dgl.models import history
    from gcfa_dgl.models.layers import OpinionAttention

    torch.manual_seed(0)
    layer = OpinionAttention(8, attention=attention, opinion=opinion, dropout=0.5, attention_dim=att_dim).train(train)
    if attention:
        assert layer.att[0].out_features == (att_dim or 8)
    block = batch(data)[3][-1]
    sub = block[RATED_BY]
    src, dst = sub.edges()
    h_src = torch.randn(block.num_src_nodes("video"), 8, requires_grad=True)
    h_dst = torch.randn(block.num_dst_nodes("user"), 8, requires_grad=True)
    levels = block.edges[RATED_BY].data["rating_level"]
    table = torch.randn(int(levels.max()) + 1, 8, requires_grad=True)
    # One dropout mask for both computations: the chunked pass takes it in destination order.
    mask = (torch.rand(len(src), 8) > 0.5).float() * 2
    rows = iter(mask[sub.adj_tensors("csc")[2].long()].split(1))  # the edges grouped by destination
    monkeypatch.setattr(history, "CHUNK", 7)  # several chunks even on this small batch
    monkeypatch.setattr(history, "noise", lambda gen, n, dim, p: torch.cat([next(rows) for _ in range(n)]))
    got = layer(block, RATED_BY, h_src, h_dst, levels, table)
    first, drop_and_relu, last = layer.g[0], layer.g[1], layer.g[-1]
    hidden = drop_and_relu(first(torch.cat([h_src[src], table[levels]], 1) if opinion else h_src[src]))
    x = last(hidden * mask if train else hidden)
    if attention:
        beta = edge_softmax(sub, layer.att(torch.cat([x, h_dst[dst]], 1)))
    else:
        beta = (1.0 / sub.in_degrees().clamp(min=1).float())[dst].unsqueeze(1)
    want = torch.relu(layer.out(torch.zeros(len(h_dst), 8).index_add_(0, dst, x * beta)))
    assert torch.allclose(got, want, atol=1e-5)
    weights = torch.randn_like(want)
    inputs = [h_src, h_dst, *([table] if opinion else []), *layer.parameters()]
    shift = [layer.att[-1].bias] if attention else []  # moves every logit of a softmax alike: no gradient
    inputs = [t for t in inputs if all(t is not s for s in shift)]
    g_got = torch.autograd.grad((got * weights).sum(), inputs, allow_unused=True)
    g_want = torch.autograd.grad((want * weights).sum(), inputs, allow_unused=True)
    for t, a, b in zip(inputs, g_got, g_want):
        assert (a is None) == (b is None)
        assert a is None or torch.allclose(a, b, atol=1e-5), (t.shape, (a - b).abs().max())


def test_propagation_equals_its_per_edge_definition(data):
    """The opinion part of a propagation message, taken through each node's share of every rating
    level, equals the per-edge mean of W_h e_src + W_r e_r (eqs 11-12)."""
    from data_prep.graph import CO_WATCHED, DESCRIBES, HAS, RATED_BY, RATES, SIMILAR
    from gcfa_dgl.models.layers import Propagation

    torch.manual_seed(0)
    etypes = [RATES, RATED_BY, SIMILAR, CO_WATCHED, HAS, DESCRIBES]
    layer = Propagation(8, etypes, opinion=True).eval()
    block = batch(data)[3][0]
    h = {nt: torch.randn(block.num_src_nodes(nt), 8) for nt in block.srctypes}
    table = torch.randn(len(data.meta.rating_values), 8)
    got = layer(block, h, table)
    for nt in ("user", "video"):
        n = block.num_dst_nodes(nt)
        want = layer.self_loop[nt](h[nt][:n])
        for et in etypes:
            if et[2] != nt or et not in block.canonical_etypes or not block.num_edges(et):
                continue
            src, dst = block.edges(etype=et)
            m = layer.msg[et[1]](h[et[0]])[src]
            if et[1] in layer.op:
                m = m + layer.op[et[1]](table)[block.edges[et].data["rating_level"]]
            deg = torch.zeros(n).index_add_(0, dst, torch.ones(len(dst))).clamp(min=1)
            want = want + torch.zeros(n, 8).index_add_(0, dst, m) / deg[:, None]
        assert torch.allclose(got[nt], torch.nn.functional.leaky_relu(want, 0.2), atol=1e-5), nt


def test_gcmc_encoder_equals_its_per_edge_definition(data):
    """The level-pair block computes μ = relu(mean over edges of W_r e_src), r the edge's rating."""
    from data_prep.graph import RATED_BY, RATES
    from gcfa_dgl.models.gcmc import GCMC

    torch.manual_seed(0)
    model = GCMC(data.n_users, data.n_videos, n_ratings=len(data.meta.rating_values), dim=8, dropout=0.0).eval()
    block = batch(data)[3][-1]
    h = {nt: torch.randn(block.num_src_nodes(nt), 8) for nt in ("user", "video")}
    got = model.encode(block, h)
    for et, dst in ((RATED_BY, "user"), (RATES, "video")):
        n = block.num_dst_nodes(dst)
        src, d = block.edges(etype=et)
        proj = model.w_rating[et[1]](h[et[0]]).view(-1, model.n_ratings, model.hidden)
        m = proj[src, block.edges[et].data["rating_level"]]
        deg = torch.zeros(n).index_add_(0, d, torch.ones(len(d))).clamp(min=1)
        mu = torch.relu(torch.zeros(n, model.hidden).index_add_(0, d, m) / deg[:, None])
        assert torch.allclose(got[dst], model.dense[dst](mu), atol=1e-5), dst


def test_perturbation_has_length_eps_and_keeps_each_coordinate_in_its_orthant():
    from gcfa_dgl.models.lightgcn import perturb

    torch.manual_seed(0)
    e = torch.randn(50, 8)
    d = perturb(e, 0.2) - e
    assert torch.allclose(d.norm(dim=1), torch.full((50,), 0.2), atol=1e-6)
    assert torch.all(d * e >= 0)  # same sign as the coordinate (U(0, 1) noise times sign(e))


@pytest.mark.parametrize("name", ["simgcl", "xsimgcl"])
def test_contrastive_models_train_on_noise_and_evaluate_without_it(data, name):
    from gcfa_dgl.models.simgcl import SimGCL
    from gcfa_dgl.models.xsimgcl import XSimGCL

    torch.manual_seed(0)
    cls = {"simgcl": SimGCL, "xsimgcl": XSimGCL}[name]
    m = cls(data.n_users, data.n_videos, graph=data.graph, dim=8, layers=2, cl_weight=1.0)
    # evaluation: the clean mean of layers 1..K, the same on every call
    zu, zv = m.embed_all(data.graph)
    clean = torch.stack(m.layer_outputs()).mean(0)
    assert torch.equal(torch.cat([zu, zv]), clean) and torch.equal(m.embed_all(data.graph)[0], zu)
    # training: the contrastive term is part of the returned regulariser, and noisy
    input_nodes, pair, neg, blocks = batch(data, layers=0)
    torch.manual_seed(1)
    _, _, reg1 = m(input_nodes, pair, neg, blocks)
    torch.manual_seed(2)
    _, _, reg2 = m(input_nodes, pair, neg, blocks)
    m.cl_weight = 0.0
    _, _, l2_only = m(input_nodes, pair, neg, blocks)
    assert reg1 > l2_only and reg2 > l2_only and reg1 != reg2


def test_contrastive_models_initialise_users_and_videos_as_two_tables():
    """As the reference code's separate user and item embeddings: each block's Xavier bound comes
    from its own number of rows, which sets the scale the noise length is chosen against."""
    import math

    from gcfa_dgl.models.xsimgcl import XSimGCL

    torch.manual_seed(0)
    m = XSimGCL(600, 200, dim=16)
    for rows, n in ((m.emb.weight[:600], 600), (m.emb.weight[600:], 200)):
        bound = math.sqrt(6 / (n + 16))
        assert 0.9 * bound < rows.abs().max().item() <= bound


@pytest.mark.parametrize("hidden, sizes", [(None, [16, 8, 4]), ([6, 3, 2], [16, 6, 3, 2]), ([5], [16, 5])])
def test_neumf_training_scores_equal_its_row_aligned_definition(data, hidden, sizes):
    """NeuMF's training step applies its first MLP layer per seed node, not per pair: the scores and
    the L2 term equal score_pairs and ‖z‖² on the gathered rows, for the default tower (2·dim ->
    dim -> dim / 2) and configured ones."""
    from gcfa_dgl.models.mf import NeuMF

    torch.manual_seed(0)
    model = NeuMF(data.n_users, data.n_videos, dim=8, l2=1e-3, dropout=0.0, hidden=hidden)
    linears = [model.first, *(m for m in model.rest if isinstance(m, torch.nn.Linear))]
    assert [linears[0].in_features] + [m.out_features for m in linears] == sizes
    assert model.out.in_features == 8 + sizes[-1]
    input_nodes, pair, neg, blocks = batch(data, 1)
    pos, negs, reg = model(input_nodes, pair, neg, blocks)
    seeds = blocks[-1].dstdata["_ID"]
    zu, zv = model._z(seeds["user"], seeds["video"])
    (u, v), (nu, nv) = model.pair_index(pair), model.pair_index(neg)
    assert torch.allclose(pos, model.score_pairs(zu[u], zv[v]), atol=1e-6)
    assert torch.allclose(negs, model.score_pairs(zu[nu], zv[nv]), atol=1e-6)
    want = (zu[u].pow(2).sum() + zv[v].pow(2).sum() + zv[nv].pow(2).sum()) * 1e-3 / 2 / len(pos)
    assert torch.allclose(reg, want)


@pytest.mark.parametrize("n_pairs", [5, 400])
def test_mlp_scorer_on_indexed_pairs_equals_its_definition(n_pairs):
    """With few pairs the rows are gathered first; with many, the first layer runs per row (GraphRec
    with many negatives per positive)."""
    from gcfa_dgl.models.base import MLPScorer

    torch.manual_seed(0)
    scorer, zu, zv = MLPScorer(8, 6), torch.randn(10, 8), torch.randn(12, 8)
    u, v = torch.randint(0, 10, (n_pairs,)), torch.randint(0, 12, (n_pairs,))
    assert torch.allclose(scorer.index(zu, zv, u, v), scorer(zu[u], zv[v]), atol=1e-6)


@pytest.mark.parametrize("name", ["bpr", "lightgcn", "gcfa"])
@pytest.mark.parametrize("cosine", [False, True])
def test_dot_training_scores_equal_their_row_aligned_definition(data, name, cosine):
    """Dot-product models score a batch's pairs in place (DGL's SDDMM) and take L2 from per-row
    norms: the scores, their gradients and the L2 term equal `dot` and ‖z‖² on gathered rows."""
    from gcfa_dgl.models.lightgcn import LightGCN
    from gcfa_dgl.models.mf import BPR

    torch.manual_seed(0)
    model = {"bpr": lambda: BPR(data.n_users, data.n_videos, dim=8, l2=1e-3),
             "lightgcn": lambda: LightGCN(data.n_users, data.n_videos, graph=data.graph, dim=8, l2=1e-3),
             "gcfa": lambda: make(data, predictor="dot")}[name]()
    model.cosine = cosine
    _, pair, neg, _ = batch(data, 1)
    zu = torch.randn(pair.num_nodes("user"), 8, requires_grad=True)
    zv = torch.randn(pair.num_nodes("video"), 8, requires_grad=True)
    (u, v), (nu, nv) = model.pair_index(pair), model.pair_index(neg)
    assert len(nu) > zv.shape[0]  # repeats: more negative pairs than videos
    got = torch.cat([model.dot_pairs(pair, zu, zv), model.dot_pairs(neg, zu, zv)])
    want = torch.cat([model.dot(zu[u], zv[v]), model.dot(zu[nu], zv[nv])])
    assert torch.allclose(got, want, atol=1e-6)
    w = torch.randn(len(got))
    g_got = torch.autograd.grad((got * w).sum(), (zu, zv))
    g_want = torch.autograd.grad((want * w).sum(), (zu, zv))
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(g_got, g_want))
    assert torch.allclose(model.sq_norms(zv, nv), zv[nv].pow(2).sum())


@pytest.mark.parametrize("name", ["bpr", "lightgcn"])
def test_dot_baselines_forward_equals_gathered_scores(data, name):
    """The whole training forward of BPR and LightGCN: scores and L2 as on gathered seed rows."""
    from gcfa_dgl.models.lightgcn import LightGCN
    from gcfa_dgl.models.mf import BPR

    torch.manual_seed(0)
    if name == "bpr":
        model = BPR(data.n_users, data.n_videos, dim=8, l2=1e-3)
    else:
        model = LightGCN(data.n_users, data.n_videos, graph=data.graph, dim=8, l2=1e-3)
    input_nodes, pair, neg, blocks = batch(data, 1)
    pos, negs, reg = model(input_nodes, pair, neg, blocks)
    seeds = blocks[-1].dstdata["_ID"]
    if name == "bpr":
        zu, zv = model.user(seeds["user"]), model.video(seeds["video"])
        eu, ev = zu, zv
    else:
        z = model.propagate()
        zu, zv = z[seeds["user"]], z[seeds["video"] + data.n_users]
        eu, ev = model.emb.weight[seeds["user"]], model.emb.weight[seeds["video"] + data.n_users]
    (u, v), (nu, nv) = model.pair_index(pair), model.pair_index(neg)
    assert torch.allclose(pos, (zu[u] * zv[v]).sum(-1), atol=1e-5)
    assert torch.allclose(negs, (zu[nu] * zv[nv]).sum(-1), atol=1e-5)
    want = (eu[u].pow(2).sum() + ev[v].pow(2).sum() + ev[nv].pow(2).sum()) * 1e-3 / 2 / len(pos)
    assert torch.allclose(reg, want, rtol=1e-5)


def test_history_chunks_cut_at_destination_boundaries():
    """Chunks cover every edge once, in order, and never split a destination's edges (its softmax
    must see all of them); a destination with more edges than a chunk gets one of its own."""
    from gcfa_dgl.models.history import chunks

    dst = torch.tensor([0, 0, 1, 1, 1, 1, 1, 1, 2, 4, 4, 5])
    bounds = chunks(dst, 3)
    assert bounds[0][0] == 0 and bounds[-1][1] == len(dst)
    assert all(a1 == b0 for (_, a1), (b0, _) in zip(bounds, bounds[1:]))
    assert all(dst[a - 1] != dst[a] for a, _ in bounds[1:])
    assert (2, 8) in bounds  # destination 1's six edges, alone
