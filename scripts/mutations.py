"""Deliberate bugs that the test suite must catch (``scripts/mutation_check.sh``).

Each mutation replaces one snippet of the source, which must occur exactly once,
and names the tests that should fail: the fast run (CI) runs only those, with
``-x``; ``--full`` runs the whole suite against each mutation. A later issue that
adds an algorithm adds the bugs its tests are meant to catch here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str
    before: str
    after: str
    tests: tuple[str, ...]
    why: str


ORACLE = "tests/api/test_oracle.py"
API = "tests/api/test_api.py"
SELECTION = "tests/api/test_selection.py"
TRAINING = "tests/al/test_training.py"
LOOP = "tests/al/test_loop.py"
MNIST = "tests/experiments/test_mnist.py"
EXPERIMENTS = "tests/experiments/test_experiments.py"
AL = "tests/al/test_al.py"
LEARNLOSS = "tests/al/test_learnloss.py"
NCE = "tests/al/test_nce.py"
CDAL = "tests/api/test_cdal.py"
DAVIS = "tests/experiments/test_davis.py"
CIFAR = "tests/experiments/test_cifar10.py"
ABLATION = "tests/experiments/test_ablation.py"
FIGURES = "tests/experiments/test_figures.py"
KNN = "tests/api/test_knn.py"
HEALTH = "tests/api/test_health.py"
UNCERTAINTY = "tests/al/test_uncertainty.py"
FEATURES = "tests/experiments/test_features.py"
NUMPY = "tests/api/test_numpy.py"
SESSION = "tests/api/test_session.py"
CLI = "tests/api/test_cli.py"

# One bug, met by each test whose verdict rests on a training run: every row
# trains on its neighbour's label, so nothing generalises. Each of these tests
# must catch it on its own, on either CPU family (tests/MARGINS.md).
LEARNED = (
    ("training", "tests/al/test_training.py", "the blob classifier"),
    ("resnet", "tests/experiments/test_cifar10.py", "the CIFAR ResNet"),
    ("nce", "tests/al/test_nce.py", "the softmax and prototype classifiers"),
    ("regression", "tests/experiments/test_davis.py", "the DeepDTA regression"),
    ("readme", "tests/test_readme.py::test_runnable_block[active-learning]", "the active-learning example of docs/api.md"),
)
LABELS_MISALIGNED = tuple(
    Mutation(
        f"labels-misaligned-{name}", "dacs_ext/al/training.py",
        "main = model.classifier.loss(out.logits, y[batch])", "main = model.classifier.loss(out.logits, y[batch.roll(1)])",
        (test,), f"every row trains on its neighbour's label, and {what} still passes",
    )
    for name, test, what in LEARNED
)

MUTATIONS = (
    # The fourteen bugs that the review of issue 8 found the suite missed.
    Mutation(
        "density-rounds-reuse-round-0", "dacs_ext/density.py",
        "backend.bucket_sort(hashed[r], math.prod(per_level))", "backend.bucket_sort(hashed[0], math.prod(per_level))",
        (ORACLE, API), "every hash round reuses round 0's buckets",
    ),
    Mutation(
        "density-rounds-summed", "dacs_ext/density.py",
        "result = result / rounds if rounds > 1 else result", "result = result",
        (ORACLE, API), "rounds are summed rather than averaged",
    ),
    Mutation(
        "select-ignores-labeled", "dacs_ext/selection.py",
        "centers = [labeled] if labeled is not None else []", "centers = []",
        (ORACLE, SELECTION), "select ignores the labeled rows as centers",
    ),
    Mutation(
        "select-ignores-share-centers", "dacs_ext/selection.py",
        "        if settings.share_centers:\n", "        if False:\n",
        (ORACLE, SELECTION), "share_centers is ignored",
    ),
    Mutation(
        "kcenter-first-center-not-excluded", "dacs_ext/kcenter.py",
        '    min_dist[first] = float("-inf")\n', "",
        (ORACLE, API), "with no labeled rows and duplicated rows the first center can be picked again",
    ),
    Mutation(
        "loop-skips-guard", "dacs_ext/al/loop.py",
        "picked = check_selection(strategy, pool, budget, strategy.select(pool, budget))",
        "picked = strategy.select(pool, budget)",
        (LOOP,), "the loop no longer calls its selection guard",
    ),
    Mutation(
        "resume-without-jsonl-rewrite", "dacs_ext/al/loop.py",
        "    atomic_write_jsonl(records, os.path.join(directory, CYCLES))  # in case",
        "    pass  # in case",
        (LOOP, EXPERIMENTS), "a crash between the checkpoint and the JSON-lines write loses cycles.jsonl lines",
    ),
    Mutation(
        "trials-share-a-seed", "experiments/runner.py",
        "seed=seed + trial,", "seed=seed,",
        (EXPERIMENTS,), "every trial uses the same seed",
    ),
    Mutation(
        "lr-drop-never-applied", "dacs_ext/al/training.py",
        'group["lr"] *= config.lr_drop_factor', 'group["lr"] *= 1.0',
        (TRAINING,), "the learning-rate drop is never applied",
    ),
    Mutation(
        "aux-gradient-never-stopped", "dacs_ext/al/training.py",
        "stop_gradient_epoch=config.aux_stop_epoch", 'stop_gradient_epoch=float("inf")',
        (TRAINING,), "the auxiliary gradient is never stopped",
    ),
    Mutation(
        "weight-decay-dropped", "dacs_ext/al/training.py",
        "momentum=config.momentum, weight_decay=config.weight_decay)", "momentum=config.momentum)",
        (TRAINING,), "weight decay is dropped",
    ),
    Mutation(
        "mnist-label-range-unchecked", "experiments/tasks/mnist.py",
        "if labels.size and int(labels.max()) > 9:", "if False:",
        (MNIST,), "the label-range check is removed",
    ),
    Mutation(
        "mnist-trailing-bytes-accepted", "experiments/tasks/mnist.py",
        "if len(data) != expected:", "if len(data) < expected:",
        (MNIST,), "trailing bytes after the data are accepted",
    ),
    Mutation(
        "mnist-test-own-statistics", "experiments/tasks/mnist.py",
        "test = (data.test_images.reshape(len(data.test_images), -1).float() / 255 - mean) / std",
        "test = data.test_images.reshape(len(data.test_images), -1).float() / 255\n    test = (test - test.mean()) / test.std()",
        (MNIST,), "the test set is normalised with its own statistics",
    ),
    # Bugs behind the weak checks of issue 8 and other semantics the oracle pins down.
    Mutation(
        "half-input-normalised-in-half", "dacs_ext/checks.py",
        "    t = t.to(accumulation_dtype(t.dtype))\n    norms", "    norms",
        (API,), "half inputs are normalised in half precision before the float32 kernels",
    ),
    Mutation(
        "density-self-pair-counted", "dacs_ext/reference/ops.py",
        "        weights[:, diagonal, diagonal] = 0\n", "",
        ("tests/ops/test_ops.py",), "the reference density counts each row against itself",
    ),
    Mutation(
        "split-budget-floor", "dacs_ext/groups.py",
        "            add[order[:left]] += 1\n", "            add[order[:0]] += 1\n",
        (SELECTION,), "quotas are floored (Eq. 10 as printed) and the remainder is handed out by the cap loop in any order",
    ),
    Mutation(
        "split-budget-ignores-temperature", "dacs_ext/groups.py",
        "(1 - sizes.double() / max(total, 1)) / temperature", "(1 - sizes.double() / max(total, 1))",
        (ORACLE, SELECTION), "Eq. 10's temperature is ignored",
    ),
    Mutation(
        "groups-break-belongs-above", "dacs_ext/groups.py",
        "breaks[1:-1].to(density.dtype), right=False)", "breaks[1:-1].to(density.dtype), right=True)",
        (ORACLE,), "a sample whose density equals a break goes to the denser group",
    ),
    Mutation(
        "select-groups-dense-first", "dacs_ext/selection.py",
        "    for g in range(used):\n", "    for g in reversed(range(used)):\n",
        (ORACLE,), "with shared centers, groups are visited densest first",
    ),
    Mutation(
        "density-neighbours-both-as-back", "dacs_ext/density.py",
        "backend.chunk_density(z[order], buckets, neighbours)", 'backend.chunk_density(z[order], buckets, "back" if neighbours == "both" else neighbours)',
        (ORACLE,), "neighbours='both' reads only the previous chunk",
    ),
    Mutation(
        "coreset-cosine", "dacs_ext/al/strategies.py",
        'features[unlabeled], features[labeled], budget, metric="euclidean", generator=pool.generator',
        'features[unlabeled], features[labeled], budget, metric="cosine", generator=pool.generator',
        (AL,), "Core-set uses the cosine metric instead of Euclidean",
    ),
    Mutation(
        "squeeze-least-uncertain", "dacs_ext/selection.py",
        "order = torch.sort(scores, descending=True, stable=True).indices",
        "order = torch.sort(scores, descending=False, stable=True).indices",
        (SELECTION,), "the combination keeps the least uncertain candidates",
    ),
    Mutation(
        "init-ignores-trial-seed", "dacs_ext/al/loop.py",
        "torch.manual_seed(derived_seed(seed, _MODEL, cycle))", "torch.manual_seed(derived_seed(0, _MODEL, cycle))",
        (LOOP,), "every trial starts from the same initialisation",
    ),
    # Issue 9.
    Mutation(
        "select-no-group-fallback", "dacs_ext/groups.py",
        '        # only on failure keeps a sort off the normal path.\n        if "distinct values" not in str(error):\n            raise\n',
        "        # only on failure keeps a sort off the normal path.\n        raise\n",
        (SELECTION,), "an acquisition with fewer distinct densities than groups kills the run",
    ),
    Mutation(
        "strategy-drops-health-note", "dacs_ext/al/strategies.py",
        '                pool.notes["dacs_health"] = details["health"]\n', "                pass\n",
        (AL,), "the features' health (and a fallback to fewer density groups) is not noted",
    ),
    Mutation(
        "loop-drops-notes", "dacs_ext/al/loop.py",
        "            notes, acquired = pool_notes, picked.tolist()\n", "            acquired = picked.tolist()\n",
        (LOOP,), "the cycle's record loses the strategy's notes",
    ),
    Mutation(
        "records-without-acquired", "dacs_ext/al/loop.py",
        "            notes, acquired = pool_notes, picked.tolist()\n", "            notes = pool_notes\n",
        (LOOP,), "the cycle's JSON line does not list the pool indices it acquired",
    ),
    Mutation(
        "warm-start-ignored", "dacs_ext/al/loop.py",
        "model_state=model_state if loop.warm_start else None,", "model_state=None,",
        (LOOP,), "under warm start every cycle still starts from a fresh initialisation",
    ),
    Mutation(
        "replay-ignores-warm-start", "dacs_ext/al/loop.py",
        "        state = model.state_dict() if warm_start else None\n", "        state = None\n",
        (EXPERIMENTS,), "a replay of a warm-start run retrains every cycle from a fresh initialisation",
    ),
    Mutation(
        "runner-ignores-settings", "experiments/runner.py",
        "make_strategy(method, settings_of(config)), make_model,", "make_strategy(method), make_model,",
        (EXPERIMENTS,), "settings given on the command line are recorded but never reach the strategy",
    ),
    Mutation(
        "label-hides-settings", "dacs_ext/al/methods.py",
        "        return self.title + (", "        return self.title or (",
        (AL,), "a method's label in tables and plots does not name its non-default settings",
    ),
    Mutation(
        "dacs-ignores-expand", "dacs_ext/selection.py",
        "int(round(self.settings.expand * budget))", "int(round(2.0 * budget))",
        (SELECTION,), "DACS proposes twice the budget whatever eta (expand) says",
    ),
    Mutation(
        "ranking-sign-flipped", "dacs_ext/al/learnloss.py",
        "> 0, 1.0, -1.0)", "> 0, -1.0, 1.0)",
        (LEARNLOSS,), "the ranking loss rewards predicting the pair's order backwards",
    ),
    Mutation(
        "learnloss-taps-never-detached", "dacs_ext/al/learnloss.py",
        "            tap = head_input(tap, epoch, stop_gradient_epoch)\n", "",
        (LEARNLOSS,), "the loss-prediction module keeps training the backbone after the stop epoch",
    ),
    Mutation(
        "learnloss-head-untrained", "dacs_ext/al/training.py",
        "                    loss = loss + head.loss(out.extras[name], per_sample, y[batch])\n", "                    pass\n",
        (LEARNLOSS,), "heads' loss terms never reach the total loss",
    ),
    Mutation(
        "learnloss-picks-lowest", "dacs_ext/al/learnloss.py",
        'return highest(pool, pool["predicted_loss"], budget', 'return highest(pool, -pool["predicted_loss"], budget',
        (LEARNLOSS,), "LearnLoss acquires the lowest predicted losses",
    ),
    Mutation(
        "learnloss-dacs-ignores-loss", "dacs_ext/al/learnloss.py",
        'return self.acquire(pool, budget, pool["predicted_loss"])', "return self.acquire(pool, budget)",
        (LEARNLOSS,), "LearnLoss + DACS is DACS alone",
    ),
    Mutation(
        "learnloss-subset-ignored", "dacs_ext/al/strategies.py",
        "    if 0 < subset < candidates.numel():", "    if False:",
        (LEARNLOSS,), "the random-subset option scores the whole pool",
    ),
    Mutation(
        "nce-radius-ignored", "dacs_ext/al/nce.py",
        "torch.exp(-d2 / (2 * torch.sigmoid(self.radius) ** 2))", "torch.exp(-d2 / 2)",
        (NCE,), "the prototypes' radii are never used",
    ),
    Mutation(
        "nce-features-unnormalised", "dacs_ext/al/nce.py",
        "e = F.normalize(torch.sigmoid(self.embedding(features)), dim=1)", "e = torch.sigmoid(self.embedding(features))",
        (NCE,), "the distance is taken from the raw embedding, not its unit vectors",
    ),
    Mutation(
        "nce-no-sigmoid-embedding", "dacs_ext/al/nce.py",
        "e = F.normalize(torch.sigmoid(self.embedding(features)), dim=1)", "e = F.normalize(self.embedding(features), dim=1)",
        (NCE,), "the backbone's features are normalised without the sigmoid embedding (rows can vanish; training spikes)",
    ),
    Mutation(
        "nce-prototypes-averaged", "dacs_ext/al/nce.py",
        ".amax(dim=2)", ".mean(dim=2)",
        (NCE,), "a class scores the mean of its prototypes rather than the best",
    ),
    Mutation(
        "nce-loss-all-positive", "dacs_ext/al/nce.py",
        "target = F.one_hot(y, self.num_classes).to(scores.dtype)", "target = torch.ones_like(scores)",
        (NCE,), "every class is a positive in the binary cross-entropy",
    ),
    Mutation(
        "nce-confusion-is-rejection", "dacs_ext/al/nce.py",
        "    return scores.sum(dim=1) - scores.amax(dim=1)", "    return (1 - scores).sum(dim=1)",
        (NCE,), "the confusion score is the rejection score",
    ),
    Mutation(
        "nce-picks-least-uncertain", "dacs_ext/al/nce.py",
        'return highest(pool, nce_uncertainty(pool["logits"], self.settings.score)', 'return highest(pool, -nce_uncertainty(pool["logits"], self.settings.score)',
        (NCE,), "NCE-Net acquires the least uncertain samples",
    ),
    Mutation(
        "nce-dacs-ignores-score", "dacs_ext/al/nce.py",
        'return self.acquire(pool, budget, nce_uncertainty(pool["logits"], self.nce.score))', "return self.acquire(pool, budget)",
        (NCE,), "NCE-Net + DACS is DACS alone",
    ),
    Mutation(
        "nce-classifier-not-installed", "dacs_ext/al/loop.py",
        "                model.set_classifier(classifier)\n", "                pass\n",
        (NCE,), "the loop trains NCE-Net's methods with the softmax classifier",
    ),
    Mutation(
        "training-ignores-classifier-loss", "dacs_ext/al/training.py",
        "main = model.classifier.loss(out.logits, y[batch])", "main = F.cross_entropy(out.logits, y[batch])",
        (NCE,), "a replaced classifier is trained with cross-entropy rather than its own loss",
    ),
    Mutation(
        "cdal-one-sided-kl", "dacs_ext/cdal.py",
        "torch.cat([log_probs, p, -one, -h], dim=1)", "torch.cat([log_probs, torch.zeros_like(p), -one, -h], dim=1)",
        (CDAL,), "k-center on KL(p || q) alone, not the symmetric divergence",
    ),
    Mutation(
        "cdal-center-entropy-sign", "dacs_ext/cdal.py",
        "torch.cat([log_probs, p, -one, -h], dim=1)", "torch.cat([log_probs, p, -one, h], dim=1)",
        (CDAL,), "a center's own entropy term enters with the wrong sign",
    ),
    Mutation(
        "cdal-first-pick-repeats", "dacs_ext/cdal.py",
        '    min_dist[first] = float("-inf")\n', "",
        (CDAL,), "with no labeled samples the first pick can be picked again",
    ),
    Mutation(
        "cdal-ignores-labeled", "dacs_ext/al/strategies.py",
        "cdal_kcenter(log_probs[unlabeled], log_probs[labeled], budget", "cdal_kcenter(log_probs[unlabeled], None, budget",
        (CDAL,), "CDAL ignores the labeled samples as centers",
    ),
    Mutation(
        "dacs-zero-features-kept", "dacs_ext/al/strategies.py",
        "            unlabeled, labeled = unlabeled[live[unlabeled]], labeled[live[labeled]]\n", "",
        (AL,), "all-zero auxiliary features (dead units) make DACS fail mid-run",
    ),
    Mutation(
        "finished-trial-rerun", "dacs_ext/al/loop.py",
        "            return done\n", "            pass\n",
        (LOOP,), "adding a method to a committed run (no checkpoints) reruns every finished trial",
    ),
    # Issue 10.
    Mutation(
        "pickle-admits-any-global", "experiments/tasks/safe_pickle.py",
        "            return self.allowed[(module, name)]", "            return super().find_class(module, name)",
        (DAVIS,), "the restricted unpickler builds whatever a pickle names, a command included",
    ),
    Mutation(
        "davis-pairs-column-major", "experiments/tasks/davis.py",
        "rows, cols = measured.nonzero(as_tuple=True)", "cols, rows = measured.T.nonzero(as_tuple=True)",
        (DAVIS,), "the measured pairs are numbered column by column, so every fold index names another pair",
    ),
    Mutation(
        "davis-pkd-sign", "experiments/tasks/davis.py",
        "values = -torch.log10(values / 1e9)", "values = torch.log10(values / 1e9)",
        (DAVIS,), "pKd with the wrong sign",
    ),
    Mutation(
        "ci-ties-count-one", "dacs_ext/al/metrics.py",
        "0.5 * (above & (dp == 0)).sum()", "(above & (dp == 0)).sum()",
        (DAVIS,), "a tied prediction counts as concordant",
    ),
    Mutation(
        "deepdta-dedupe-misaligned", "experiments/tasks/davis.py",
        "return branch(table[distinct])[inverse]", "return branch(table[distinct])[inverse.flip(0)]",
        (DAVIS,), "each pair gets another pair's encoded sequence",
    ),
    Mutation(
        "strategy-kind-unchecked", "dacs_ext/al/strategies.py",
        "        if kind not in self.kinds:", "        if False:",
        (DAVIS,), "a classification-only strategy is let loose on a regression task",
    ),
    Mutation(
        "dropout-unseeded", "dacs_ext/al/loop.py",
        "        torch.manual_seed(derived_seed(seed, _TRAIN, cycle))\n", "",
        (DAVIS,), "dropout draws from wherever the global generator is, so a resumed run trains differently",
    ),
    Mutation(
        "bf16-ignored", "dacs_ext/al/training.py",
        "dtype=torch.bfloat16, enabled=config.bf16", "dtype=torch.bfloat16, enabled=False",
        (DAVIS,), "TrainConfig(bf16=True) trains in float32",
    ),
    Mutation(
        "cifar-rows-channel-last", "experiments/tasks/cifar10.py",
        "torch.from_numpy(np.ascontiguousarray(data)).reshape(-1, CHANNELS, SIDE, SIDE)",
        "torch.from_numpy(np.ascontiguousarray(data)).reshape(-1, SIDE, SIDE, CHANNELS).permute(0, 3, 1, 2)",
        (CIFAR,), "CIFAR rows read as pixel-major (RGB per pixel) instead of channel-major",
    ),
    Mutation(
        "cifar-label-range-unchecked", "experiments/tasks/cifar10.py",
        "bad = [v for v in labels if not 0 <= v < CLASSES]", "bad = []",
        (CIFAR,), "labels outside 0-9 pass the loader",
    ),
    Mutation(
        "crop-offset-shared", "experiments/tasks/cifar10.py",
        "dx = torch.randint(0, 2 * padding + 1, (b, 1), generator=generator, device=device)", "dx = dy",
        (CIFAR,), "every crop shifts as far down as right: half the offsets never occur",
    ),
    Mutation(
        "flip-whole-batch", "experiments/tasks/cifar10.py",
        "columns = torch.where(flip, columns.flip(1), columns)", "columns = torch.where(flip[:1], columns.flip(1), columns)",
        (CIFAR,), "one coin flips the whole batch",
    ),
    Mutation(
        "augment-in-eval", "experiments/tasks/cifar10.py",
        "if self.training and self.augment:", "if self.augment:",
        (CIFAR,), "evaluation and embedding see cropped and flipped images",
    ),
    Mutation(
        "cifar-std-of-means", "experiments/tasks/cifar10.py",
        "STD = (0.2470, 0.2435, 0.2616)", "STD = (0.2023, 0.1994, 0.2010)",
        (CIFAR,), "normalised by the deviation of per-image means, not of pixels",
    ),
    Mutation(
        "resnet-stride-2-stem", "experiments/tasks/cifar10.py",
        "nn.Conv2d(CHANNELS, width, 3, 1, 1, bias=False)", "nn.Conv2d(CHANNELS, width, 3, 2, 1, bias=False)",
        (CIFAR,), "the ImageNet stem's stride: the CIFAR variant keeps 32 x 32 in the first stage",
    ),
    Mutation(
        "channels-last-ignored", "dacs_ext/al/loop.py",
        "memory_format=torch.channels_last if train.channels_last else torch.preserve_format",
        "memory_format=torch.preserve_format",
        (CIFAR,), "TrainConfig(channels_last=True) keeps the default layout",
    ),
    Mutation(
        "training-option-dropped", "experiments/runner.py",
        "train=resolve_training(base.train, training))", "train=base.train)",
        (CIFAR,), "--train-momentum is recorded in config.json but the preset's momentum trains",
    ),
    Mutation(
        "aux-dim-ignored", "experiments/tasks/rmnist.py",
        "aux_dim=preset.aux_dim if preset is not None else 16", "aux_dim=16",
        (ABLATION,), "--aux-dim is recorded but the model keeps 16 dimensions",
    ),
    Mutation(
        "ablation-density-on-own-features", "experiments/analyses/ablation.py",
        'features = features_at(directory(name)) if "aux_dim" in changes else default_features',
        "features = features_at(directory(name))",
        (ABLATION,), "each point's density is ranked on its own model, mixing the setting's effect with the model's",
    ),
    Mutation(
        "bf16-check-ignores-features", "dacs_ext/al/training.py",
        "for a, b in ((exact.features, low.features), (exact.logits, low.logits))",
        "for a, b in ((exact.logits, exact.logits),)",
        (TRAINING,), "bf16 autocast that miscomputes the model goes unnoticed: training fits a function float32 evaluation does not compute",
    ),
    Mutation(
        "named-settings-ignored", "dacs_ext/settings.py",
        "return super().of(cls.named(settings) if isinstance(settings, str) else settings, **changes)",
        "return super().of(None, **changes)",
        (SELECTION,), "select(..., 'recommended') silently runs the paper's settings",
    ),
    Mutation(
        "knn-counts-itself", "dacs_ext/density.py",
        '        similarity[torch.arange(len(rows), device=z.device), rows] = -float("inf")  # not its own neighbour\n', "",
        (KNN,), "every row is its own nearest neighbour: the exact density is biased toward 0",
    ),
    Mutation(
        "trails-with-the-smaller-std", "experiments/analyses/figures.py",
        'by_count[row["labeled"]]["mean"] - row["mean"] > max(row["std"], by_count[row["labeled"]]["std"])',
        'by_count[row["labeled"]]["mean"] - row["mean"] > min(row["std"], by_count[row["labeled"]]["std"])',
        (FIGURES,), "a gap within one method's spread is reported as trailing Core-set",
    ),
    Mutation(
        "diversity-counts-self-pairs", "experiments/analyses/figures.py",
        "diversity = float((n * n - (unit @ unit.T).sum()) / (n * (n - 1)))",
        "diversity = float((n * n - (unit @ unit.T).sum()) / (n * n))",
        (FIGURES,), "the diagonal's zero distances dilute Figure 5's diversity",
    ),
    Mutation(
        "densest-kcenter-picks-sparse", "dacs_ext/al/strategies.py",
        'region = "densest"', 'region = "sparsest"',
        (FIGURES,), "Figure 4's dense arm samples the sparse group",
    ),
    Mutation(
        "fig3-copies-one-cycle-late", "experiments/analyses/figures.py",
        'copies(pool, labeled_order(t)[: t[c]["labeled"]])', 'copies(pool, labeled_order(t)[: t[min(c + 1, len(t) - 1)]["labeled"]])',
        (FIGURES,), "Figure 3's copies are counted one cycle late",
    ),
    Mutation(
        "loop-options-ignored", "experiments/runner.py",
        'cycles = changed("loop", dataclasses.replace(base.loop, warm_start=warm_start), loop, dataclasses.replace)',
        "cycles = dataclasses.replace(base.loop, warm_start=warm_start)",
        (FIGURES,), "--loop-budget 100 runs the preset's 500 per cycle",
    ),
    Mutation(
        "resume-refuses-a-later-settings-field", "experiments/runner.py",
        'stored["settings"] = {name: SETTINGS[name]().to_dict() | stored.get("settings", {}).get(name, {}) for name in SETTINGS}',
        'stored["settings"] = {name: SETTINGS[name]().to_dict() for name in SETTINGS} | stored.get("settings", {})',
        (EXPERIMENTS,), "a run recorded before a settings field existed can no longer be resumed",
    ),
    Mutation(
        "two-level-hash-orders-by-the-second-level", "dacs_ext/density.py",
        "hashed = hashed * k + backend.lsh_buckets(z, rotation[..., start : start + k // 2])",
        "hashed = hashed + k * backend.lsh_buckets(z, rotation[..., start : start + k // 2])",
        ("tests/api/test_api.py",), "the two-level key orders rows by the second level's bucket first",
    ),
    Mutation(
        "gflops-share-of-sgemm-inverted", "tests/benchmarks/report.py",
        'f" ({gflops / sgemm:.0%} of sgemm)"',
        'f" ({sgemm / gflops:.0%} of sgemm)"',
        ("tests/benchmarks/test_report.py",), "the report sets sgemm's rate over the kernel's as the kernel's share",
    ),
    Mutation(
        "peer-bench-runs-past-a-failure", "scripts/peer_bench.py",
        "if (name, d) in failed_at:",
        "if False:",
        ("tests/scripts/test_peer_bench.py",), "a case that ran out of time at a smaller pool is run again, to its time limit, at every larger one",
    ),
    Mutation(
        "finite-check-trusts-an-overflowing-sum", "dacs_ext/checks.py",
        "if not bool(torch.isfinite(t.sum())) and not bool(torch.isfinite(t).all()):",
        "if not bool(torch.isfinite(t.sum())):",
        ("tests/api/test_groups.py",), "finite values whose sum overflows are refused as NaN or infinite",
    ),
    Mutation(
        "chunk-pairs-forget-the-back-chunk", "tests/benchmarks/cases.py",
        "pairs = sum(m * (m - 1) // 2 + m * sizes[c - 1] for c, m in enumerate(sizes))",
        "pairs = sum(m * (m - 1) // 2 for c, m in enumerate(sizes))",
        ("tests/benchmarks/test_report.py",), "density's GFLOP/s counts only the pairs inside each chunk",
    ),
    Mutation(
        "growth-exponent-inverted", "tests/benchmarks/report.py",
        'math.log(t_ext / previous[op][1]) / math.log(n / previous[op][0])',
        'math.log(n / previous[op][0]) / math.log(t_ext / previous[op][1])',
        ("tests/benchmarks/test_report.py",), "the growth table reports the inverse exponent",
    ),
    Mutation(
        "distributed-ties-go-to-the-highest-index", "dacs_ext/distributed.py",
        "best = int(tied[index[tied].argmin()])",
        "best = int(tied[index[tied].argmax()])",
        ("tests/api/test_distributed.py",), "equally far candidates of two ranks: the higher global index wins",
    ),
    Mutation(
        "distributed-sort-ignores-lower-ranks", "dacs_ext/distributed.py",
        "before = torch.cumsum(total, 0) - total + per_rank[: comm.rank].sum(dim=0) - (torch.cumsum(counts, 0) - counts)",
        "before = torch.cumsum(total, 0) - total - (torch.cumsum(counts, 0) - counts)",
        ("tests/api/test_distributed.py",), "rows of one bucket on different ranks get the same sorted positions",
    ),
    Mutation(
        "distributed-ahead-halo-twice", "dacs_ext/distributed.py",
        'return [back, *own] + ([ahead] if neighbours == "both" and ahead != back else []), slice(1, 1 + len(own))',
        'return [back, *own] + ([ahead] if neighbours == "both" else []), slice(1, 1 + len(own))',
        ("tests/api/test_distributed.py",), "with one chunk not owned, its rows count twice as back and ahead neighbour",
    ),
    Mutation(
        "distributed-batch-ignores-the-bound", "dacs_ext/distributed.py",
        'if not bool(top > float("-inf")) or (picked and not bool(top > bound)):',
        'if not bool(top > float("-inf")):',
        ("tests/api/test_distributed.py",), "an exchange keeps picking among its candidates after a row left behind may be farther",
    ),
    Mutation(
        "dacs-strategy-never-distributed", "dacs_ext/selection.py",
        "selector = distributed.select_replicated if distributed.is_active() else select",
        "selector = select",
        ("tests/experiments/test_experiments.py",), "a multi-process run selects on every rank alone",
    ),
    Mutation(
        "replicated-picks-out-of-order", "dacs_ext/distributed.py",
        "picks[pairs[:, 0]] = pairs[:, 1]",
        "picks[:] = pairs[:, 1]",
        ("tests/experiments/test_experiments.py",), "the ranks' picks are concatenated by rank, not in pick order",
    ),
    Mutation(
        "finished-records-yield-to-a-checkpoint", "dacs_ext/al/loop.py",
        '        if len(done) == loop.measurements and "initial" in done[0]:\n            return done\n',
        '        if len(done) == loop.measurements and "initial" in done[0] and not os.path.exists(os.path.join(directory, CHECKPOINT)):\n            return done\n',
        (LOOP,), "a stale checkpoint beside finished records rewrites them",
    ),
    *LABELS_MISALIGNED,
    Mutation(
        "learnloss-module-sees-other-rows-losses", "dacs_ext/al/training.py",
        "loss = loss + head.loss(out.extras[name], per_sample, y[batch])",
        "loss = loss + head.loss(out.extras[name], per_sample.roll(1), y[batch])",
        (LEARNLOSS,), "the loss-prediction module learns each row's neighbour's loss, so it ranks nothing",
    ),
    Mutation(
        "machine-isa-unread", "dacs_ext/machine.py",
        "return ops.cpu_isa()", 'return "x86-64"',
        ("tests/ops/test_machine.py",), "the kernels' instruction set is not read from the library",
    ),
    Mutation(
        "machine-path-variables-unnamed", "dacs_ext/machine.py",
        'chosen = [f"{name}={os.environ[name]}" for name in _TORCH_PATH_VARIABLES if name in os.environ]', "chosen = []",
        ("tests/ops/test_machine.py",), "a variable that moved torch's vector paths goes unnamed",
    ),
    # Issue 23.
    Mutation(
        "degenerate-features-unwarned", "dacs_ext/health.py",
        '    if health["degenerate"]:\n        warnings.warn(', '    if False:\n        warnings.warn(',
        (HEALTH,), "select takes collapsed features without a word",
    ),
    Mutation(
        "health-rank-not-exponentiated", "dacs_ext/health.py",
        "return float(torch.exp(-(p * p.log()).sum()))", "return float(-(p * p.log()).sum())",
        (HEALTH,), "the effective rank is the entropy itself (0 for rank 1)",
    ),
    Mutation(
        "health-counts-picked-rows-at-distance-zero", "dacs_ext/health.py",
        "    left = ~torch.isin(rows, picked)\n", "    left = torch.ones_like(rows, dtype=torch.bool)\n",
        (HEALTH,), "the picked rows, at distance 0 from themselves, count as coinciding rows",
    ),
    Mutation(
        "health-chunks-by-key-not-position", "dacs_ext/health.py",
        "    chunk = torch.searchsorted(bounds, position[picked], right=True) - 1\n",
        "    chunk = keys[0][picked] * chunks // num_keys\n",
        (HEALTH,), "the picks' chunks are read from their buckets, not from where the density cut the order",
    ),
    Mutation(
        "paired-interval-wrong-degrees", "experiments/stats.py",
        "student_t.ppf(0.5 + CONFIDENCE / 2, len(diffs) - 1)", "student_t.ppf(0.5 + CONFIDENCE / 2, len(diffs))",
        (EXPERIMENTS,), "the t interval takes n degrees of freedom instead of n - 1 (too narrow)",
    ),
    Mutation(
        "paired-difference-unpaired", "experiments/stats.py",
        "diffs = [a[k] - b[k] for k in common]", "diffs = [x - y for x, y in zip(sorted(a[k] for k in common), sorted(b[k] for k in common))]",
        (EXPERIMENTS,), "the differences pair the sorted values, not the trials of one seed",
    ),
    Mutation(
        "report-drops-the-combination-base", "experiments/report.py",
        '    base = method[: -len("-dacs")] if method.endswith("-dacs") else None\n', "    base = None\n",
        (EXPERIMENTS,), "LearnLoss + DACS is never compared with LearnLoss",
    ),
    Mutation(
        "distributed-strided-home-indices", "dacs_ext/distributed.py",
        "    return dens[keep], index[order][keep, 1].contiguous()\n", "    return dens[keep], index[order][keep, 1]\n",
        ("tests/api/test_distributed.py::test_a_healthy_selection_prints_no_warning",), "every distributed selection prints torch's warning about a strided searchsorted input",
    ),
    Mutation(
        "unbuilt-library-fails-the-import", "dacs_ext/ops.py",
        "    WITH_CUDA, LOAD_ERROR = False, str(error)\n", "    raise\n",
        ("tests/ops/test_unbuilt.py",), "without a compiled library even dacs_ext.reference cannot be imported",
    ),
    Mutation(
        "entropy-without-minus", "dacs_ext/al/uncertainty.py",
        "return -torch.where(p > 0, p * log_p, 0.0).sum(dim=-1)", "return torch.where(p > 0, p * log_p, 0.0).sum(dim=-1)",
        (UNCERTAINTY,), "the entropy is negated: the most certain rows score highest",
    ),
    Mutation(
        "margin-top1-minus-top3", "dacs_ext/al/uncertainty.py",
        "return p[:, 1:].sum(dim=-1) + p[:, 1]", "return p[:, 1:].sum(dim=-1) + p[:, 2]",
        (UNCERTAINTY,), "the margin is taken to the third most probable class",
    ),
    Mutation(
        "least-confidence-is-the-top-probability", "dacs_ext/al/uncertainty.py",
        "return _sorted_probabilities(logits)[:, 1:].sum(dim=-1)", "return _sorted_probabilities(logits)[:, 0]",
        (UNCERTAINTY,), "least confidence scores the top probability, not 1 minus it",
    ),
    Mutation(
        "bald-drops-the-mean-entropy", "dacs_ext/al/uncertainty.py",
        "return (entropy_of_mean - mean_entropy).clamp_min(0)", "return entropy_of_mean.clamp_min(0)",
        (UNCERTAINTY,), "BALD is the entropy of the mean prediction (max-entropy over the passes), not the mutual information",
    ),
    Mutation(
        "bald-mean-of-log-probabilities", "dacs_ext/al/uncertainty.py",
        "log_mean = torch.logsumexp(log_p, dim=0) - math.log(log_p.shape[0])", "log_mean = torch.log_softmax(log_p.mean(dim=0), dim=-1)",
        (UNCERTAINTY,), "the passes' log-probabilities are averaged (a geometric mean) instead of their probabilities",
    ),
    Mutation(
        "uncertainty-picks-the-most-certain", "dacs_ext/al/uncertainty.py",
        "return highest(pool, self.uncertainty(pool), budget, 0)", "return highest(pool, -self.uncertainty(pool), budget, 0)",
        (UNCERTAINTY,), "the uncertainty methods acquire the lowest scores",
    ),
    Mutation(
        "uncertainty-dacs-ignores-uncertainty", "dacs_ext/al/uncertainty.py",
        "return self.acquire(pool, budget, self.method.uncertainty(pool))", "return self.acquire(pool, budget)",
        (UNCERTAINTY,), "X + DACS is DACS alone for the uncertainty methods",
    ),
    Mutation(
        "mc-dropout-in-eval-mode", "dacs_ext/al/training.py",
        "        module.train()\n", "        module.eval()\n",
        (UNCERTAINTY,), "the Monte-Carlo passes run with dropout off: every pass is the same and BALD scores 0",
    ),
    Mutation(
        "mc-dropout-unseeded", "dacs_ext/al/training.py",
        "            torch.manual_seed(seed)\n", "            pass\n",
        (UNCERTAINTY,), "the Monte-Carlo masks ignore the seed: reruns differ",
    ),
    Mutation(
        "mc-dropout-batchnorm-in-train-mode", "dacs_ext/al/training.py",
        "    model.eval()\n    if active == [model.classifier_dropout]:", "    model.train()\n    if active == [model.classifier_dropout]:",
        (UNCERTAINTY,), "the Monte-Carlo passes run every module in train mode: BatchNorm uses and updates batch statistics",
    ),
    Mutation(
        "mc-dropout-only-samples-the-classifier", "dacs_ext/al/training.py",
        "    if active == [model.classifier_dropout]:", "    if True:",
        (UNCERTAINTY,), "the backbone's own dropout modules are never sampled",
    ),
    Mutation(
        "bald-trains-without-dropout", "dacs_ext/al/loop.py",
        "            model.set_classifier_dropout(strategy.classifier_dropout)\n", "",
        (UNCERTAINTY,), "the loop never gives BALD's model its dropout",
    ),
    Mutation(
        "features-classes-from-train-only", "experiments/tasks/features.py",
        'classes = np.union1d(np.unique(arrays["train_labels.npy"]), np.unique(arrays["test_labels.npy"]))',
        'classes = np.unique(arrays["train_labels.npy"])',
        (FEATURES,), "a class only the test set holds is outside the model's outputs",
    ),
    Mutation(
        "features-test-unstandardised", "experiments/tasks/features.py",
        "((test_x.double() - mean) / std).float()", "test_x.float()",
        (FEATURES,), "the test features keep their raw scale while the pool's are standardised",
    ),
    Mutation(
        "features-non-finite-rows-pass", "experiments/tasks/features.py",
        "    if bad.size:\n", "    if False:\n",
        (FEATURES,), "NaN or infinite features reach training",
    ),
    Mutation(
        "numpy-input-copied", "dacs_ext/arrays.py",
        "        return torch.from_numpy(value)", "        return torch.from_numpy(np.array(value))",
        (NUMPY,), "every numpy array is copied before selection: a memory-mapped pool is read into memory",
    ),
    Mutation(
        "numpy-output-stays-tensor", "dacs_ext/arrays.py",
        "        return to_numpy(out) if numpy_out else out", "        return out",
        (NUMPY,), "numpy input gets tensors back",
    ),
    Mutation(
        "session-pending-not-centers", "dacs_ext/session.py",
        'centers[state["pending"]] = True', 'centers[state["pending"]] = False',
        (SESSION,), "a later query may propose rows already pending, or their near-copies",
    ),
    Mutation(
        "session-seed-ignores-query-number", "dacs_ext/session.py",
        "self.seed * SEED_STRIDE + len(state[\"queries\"])", "self.seed * SEED_STRIDE",
        (SESSION,), "every query draws the same LSH rotation",
    ),
    Mutation(
        "session-state-written-in-place", "dacs_ext/session.py",
        "        atomic_write_bytes(self._path(STATE_FILE), json.dumps(state, separators=(\",\", \":\")).encode())",
        "        with open(self._path(STATE_FILE), \"w\") as f:\n            f.write(json.dumps(state)[:-1])\n            f.flush()\n            os.fsync(f.fileno())\n            f.write(\"}\")",
        (SESSION,), "a kill in the middle of a write leaves a torn state file",
    ),
    Mutation(
        "session-update-keeps-rows-pending", "dacs_ext/session.py",
        '            state["pending"] = [i for i in state["pending"] if i not in done]\n', "",
        (SESSION,), "labeled rows stay pending",
    ),
    Mutation(
        "cli-batch-density-of-wrong-row", "dacs_ext/cli.py",
        '"density": float(density[position[int(i)]])', '"density": float(density[int(i) % len(density)])',
        (CLI,), "the CSV gives each picked row another row's density",
    ),
    Mutation(
        "cli-nan-rows-pass", "dacs_ext/cli.py",
        "        finite = np.isfinite(x[start : start + SCAN_ROWS]).all(axis=1)", "        finite = np.isfinite(x[start : start + SCAN_ROWS]).any(axis=1)",
        (CLI,), "a row with one NaN among finite values reaches the selection",
    ),
    Mutation(
        "image-sizes-unchecked", "experiments/tasks/images.py",
        "                if image.size != first[1]:\n", "                if False:\n",
        ("tests/experiments/test_images.py",), "images of different sizes are stacked (or fail inside numpy) instead of a clear error",
    ),
    Mutation(
        "image-cache-key-ignores-content", "experiments/tasks/images.py",
        "digest.update(hashlib.sha256(layout[split][name][path]).digest())", "digest.update(b\"\")",
        ("tests/experiments/test_images.py",), "a folder whose images changed is served the old cache",
    ),
)
