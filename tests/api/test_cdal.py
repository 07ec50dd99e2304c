"""CDAL: the symmetric KL divergence by hand, its k-center against the oracle's
brute-force greedy on fresh random inputs, the strategy, and bad inputs."""

import math

import pytest
import torch

import dacs_ext
import margins
import oracle
from dacs_ext.al import CDAL, PoolState


def log_probs(n, classes, *, gen, sharpness=3.0):
    return torch.log_softmax(sharpness * torch.randn(n, classes, generator=gen, dtype=torch.float64), dim=1)


def test_symmetric_kl_by_hand():
    p, q = torch.tensor([[0.5, 0.5], [0.2, 0.8]]), torch.tensor([[0.9, 0.1], [0.2, 0.8]])
    by_hand = 0.5 * ((0.5 - 0.9) * (math.log(0.5) - math.log(0.9)) + (0.5 - 0.1) * (math.log(0.5) - math.log(0.1)))
    got = dacs_ext.symmetric_kl(p.log(), q.log())
    assert got[0].item() == pytest.approx(by_hand, rel=1e-6) and got[1].item() == pytest.approx(0.0, abs=1e-7)
    kl = lambda a, b: float((a * (a / b).log()).sum())
    assert got[0].item() == pytest.approx(0.5 * kl(p[0], q[0]) + 0.5 * kl(q[0], p[0]), rel=1e-6)


@pytest.mark.parametrize("n,m,classes,budget", [(50, 7, 3, 10), (300, 40, 10, 60), (120, 0, 4, 30), (64, 1, 2, 64)])
@pytest.mark.parametrize("sharpness", [0.5, 3.0, 20.0])
@pytest.mark.parametrize("api", [dacs_ext, dacs_ext.reference], ids=["extension", "reference"])
def test_cdal_kcenter_equals_brute_force_greedy(n, m, classes, budget, sharpness, api, device, gen):
    for _ in range(3):  # fresh random inputs
        unlabeled = log_probs(n, classes, gen=gen, sharpness=sharpness)
        labeled = log_probs(m, classes, gen=gen, sharpness=sharpness)
        seed = int(torch.randint(0, 2**31, (1,), generator=gen))
        got = api.cdal_kcenter(unlabeled.to(device), labeled.to(device), budget, generator=torch.Generator().manual_seed(seed))
        want = oracle.kcenter_greedy(unlabeled, labeled, budget, metric="symmetric_kl", generator=torch.Generator().manual_seed(seed))
        if sharpness < 20:
            assert got.tolist() == want
        else:
            # Near one-hot distributions: many divergences below 1e-15, where the
            # kernels' 1 + 2 d cannot tell them apart and ties may go either way;
            # every pick must still be a farthest remaining row.
            assert got[0] == want[0]
            assert_farthest_first(unlabeled, labeled, got.cpu(), tol=1e-12)


def assert_farthest_first(unlabeled, labeled, picks, tol):
    """Each pick a farthest remaining row (oracle distances, float64) up to tol,
    relative to the largest distance when that is above 1."""
    x = unlabeled.double()
    nearest = torch.full((x.shape[0],), float("inf"), dtype=torch.float64)
    for c in labeled.double():
        nearest = torch.minimum(nearest, oracle.distances(x, c, "symmetric_kl"))
    assert torch.unique(picks).numel() == picks.numel()
    worst = 0.0
    for step, pick in enumerate(picks.tolist()):
        if step or labeled.shape[0]:  # with no labeled rows the first pick is drawn at random
            top = float(nearest.max())
            allowed = tol * max(1.0, top)
            short = top - float(nearest[pick])
            assert not short > allowed, pick
            worst = max(worst, short / allowed) if math.isfinite(short) else worst
        nearest = torch.minimum(nearest, oracle.distances(x, x[pick], "symmetric_kl"))
        nearest[pick] = float("-inf")
    margins.record_share(worst)


def test_cdal_kcenter_in_float32_picks_farthest_rows(device, gen):
    unlabeled, labeled = log_probs(2000, 10, gen=gen).float(), log_probs(100, 10, gen=gen).float()
    picks = dacs_ext.cdal_kcenter(unlabeled.to(device), labeled.to(device), 200).cpu()
    assert_farthest_first(unlabeled, labeled, picks, tol=1e-4)  # up to float32 rounding


def test_copies_of_a_center_are_picked_last(device, gen):
    labeled = log_probs(5, 4, gen=gen)
    unlabeled = torch.cat([labeled[[0, 2]], log_probs(8, 4, gen=gen)])
    picks = dacs_ext.cdal_kcenter(unlabeled.to(device), labeled.to(device), 10).cpu()
    assert sorted(picks[-2:].tolist()) == [0, 1]


def test_without_labeled_rows_the_first_pick_is_never_picked_again(device):
    # Four copies of one distribution: every divergence is 0, so only the
    # exclusion of the random first pick keeps it from being picked again.
    copies = torch.log_softmax(torch.tensor([[2.0, 0.5, -1.0]], dtype=torch.float64), dim=1).repeat(4, 1).to(device)
    for seed in range(8):
        picks = dacs_ext.cdal_kcenter(copies, None, 4, generator=torch.Generator().manual_seed(seed))
        assert sorted(picks.tolist()) == [0, 1, 2, 3]


def test_the_strategy_is_cdal_on_the_softmax(gen):
    n = 200
    mask = torch.zeros(n, dtype=torch.bool)
    mask[torch.randperm(n, generator=gen)[:25]] = True
    logits = 4 * torch.randn(n, 6, generator=gen)
    pool = PoolState(mask, {"logits": logits}, torch.Generator().manual_seed(0), 1)
    unlabeled, labeled = pool.unlabeled_indices(), pool.labeled_indices()
    log_p = torch.log_softmax(logits.double(), dim=1)
    want = oracle.kcenter_greedy(log_p[unlabeled], log_p[labeled], 30, metric="symmetric_kl")
    got = CDAL().select(pool, 30)
    assert got.tolist() == unlabeled[want].tolist()


@pytest.mark.parametrize(
    "call,error,message",
    [
        (lambda lp: dacs_ext.cdal_kcenter(lp.exp(), lp, 3), ValueError, "unlabeled must hold log-probabilities"),
        (lambda lp: dacs_ext.cdal_kcenter(lp, torch.log_softmax(lp[:, :2], dim=1), 3), ValueError, "labeled must have d = 4 columns"),
        (lambda lp: dacs_ext.cdal_kcenter(lp, lp, 11), ValueError, "budget must be"),
        (lambda lp: dacs_ext.cdal_kcenter(torch.where(torch.eye(10, 4).bool(), float("nan"), lp), lp, 3), ValueError, "unlabeled"),
        (lambda lp: dacs_ext.cdal_kcenter(lp[0], lp, 1), ValueError, "2-D"),
        (lambda lp: dacs_ext.symmetric_kl(lp, torch.log_softmax(lp[:, :3], dim=1)), ValueError, "log_q must have d = 4 columns"),
    ],
)
def test_cdal_rejects(call, error, message, gen):
    with pytest.raises(error, match=message):
        call(log_probs(10, 4, gen=gen))
