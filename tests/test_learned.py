"""Rankings that learn from labels: the ranker follows its labels, cross-validates honestly, falls back to the
training-free rule with too few labels, and refuses bad labels in one line before any work."""

import csv
import itertools

import numpy as np
import pytest
from scipy.stats import kendalltau

from conftest import call, plugin_offering
from tenas_kit import TenasError, learned, rank
from tenas_kit.labels import by_class, read

# params on the synthetic images: a cheap, deterministic proxy, and one the labels below contradict.
FAST = {"proxies": [("params", 1.0)], "data": "synthetic", "repeats": 1, "executor": "serial"}
ISOMORPHS = [
    "|skip_connect~0|+|nor_conv_3x3~0|none~1|+|nor_conv_1x1~0|none~1|skip_connect~2|",
    "|skip_connect~0|+|none~0|nor_conv_3x3~1|+|none~0|nor_conv_1x1~1|skip_connect~2|",
]


def cells(nb201, count, seed):
    every = nb201.enumerate()
    return [nb201.format(every[i]) for i in np.random.default_rng(seed).choice(len(every), count, replace=False)]


@pytest.fixture(scope="module")
def reversed_params(tmp_path_factory):
    """24 candidates and 20 labels that order cells against their parameter count, 8 of them on cells that are
    not candidates; a ranking with those labels and one without."""
    from tenas_kit import plugins

    nb201 = plugins.registry().get("space", "nb201")
    candidates, outside = cells(nb201, 24, 0), [c for c in cells(nb201, 40, 1) if c not in cells(nb201, 24, 0)][:8]
    store = tmp_path_factory.mktemp("store") / "scores.h5"
    plain = rank(archs=candidates + outside, store=store, **FAST)
    params = dict(zip(plain.archs, plain.scores["params"]))
    labelled = candidates[:12] + outside
    labels = {arch: -params[arch] / 1000 for arch in labelled}
    return candidates, labels, params, rank(archs=candidates, store=store, labels=labels, **FAST)


def test_labels_that_reverse_the_proxy_reverse_the_ranking(reversed_params):
    candidates, labels, params, ranking = reversed_params
    assert ranking.archs == candidates and ranking.predicted is not None
    unlabelled = [i for i, arch in enumerate(ranking.archs) if arch not in labels]
    values = [params[ranking.archs[i]] for i in unlabelled]
    # The training-free rule ranks by params; what the labels taught ranks the other way round.
    assert kendalltau(-ranking.rank_sum[unlabelled], values).statistic > 0.9
    assert kendalltau(ranking.predicted[unlabelled], values).statistic < -0.5
    order = list(ranking.order())
    ranked_labelled = [labels[ranking.archs[i]] for i in order if ranking.archs[i] in labels]
    assert ranked_labelled == sorted(ranked_labelled, reverse=True)  # a label ranks its cell


def test_labelled_cells_outside_the_candidates_train_the_model_and_stay_out_of_the_output(reversed_params):
    candidates, labels, _, ranking = reversed_params
    summary = ranking.learned
    assert (summary.labelled, summary.among) == (len(labels), 12) and summary.fitted <= summary.labelled
    assert list(np.isfinite(ranking.labels)) == [arch in labels for arch in candidates]
    assert summary.learned.folds == 5 and summary.learned.cv_tau > 0.3  # learnt against the rule
    assert summary.learned.rule_tau < -0.9  # which contradicts the labels


def test_the_command_prints_the_cross_validated_tau_and_marks_the_labelled_cells(tmp_path, capsys, nb201):
    candidates = cells(nb201, 16, 2)
    archs, labels = tmp_path / "archs.txt", tmp_path / "labels.csv"
    archs.write_text("\n".join(candidates) + "\n")
    labels.write_text("arch,acc\n" + "".join(f"{a},{90 + i / 10}\n" for i, a in enumerate(candidates[:10])))
    code, out, err = call(capsys, "rank", "--proxies", "params", "--archs", archs, "--data", "synthetic",
                          "--repeats", "1", "--executor", "serial", "--store", tmp_path / "s.h5",
                          "--out", tmp_path / "r.csv", "--labels", labels)
    assert code == 0, err
    line = next(line for line in out.splitlines() if "Kendall tau on the labels" in line)
    assert "learned from 10 labelled cells (10 among the candidates" in line
    assert "5-fold cross-validated" in line and "the training-free rule alone" in line
    rows = list(csv.DictReader((tmp_path / "r.csv").open()))
    assert [row["rank"] for row in rows] == [str(i) for i in range(1, 17)]
    assert {row["arch"]: float(row["label"]) for row in rows if row["labelled"] == "1"} == \
        {a: 90 + i / 10 for i, a in enumerate(candidates[:10])}
    assert all(row["predicted"] for row in rows) and not any(row["label"] for row in rows if row["labelled"] == "0")


def test_too_few_labels_say_so_and_rank_by_the_rule(tmp_path, capsys, nb201):
    candidates = cells(nb201, 12, 3)
    archs, labels = tmp_path / "archs.txt", tmp_path / "labels.csv"
    archs.write_text("\n".join(candidates) + "\n")
    labels.write_text("arch,acc\n" + "".join(f"{a},{90 - i}\n" for i, a in enumerate(candidates[:3])))
    common = ["rank", "--proxies", "params", "--archs", archs, "--data", "synthetic", "--repeats", "1",
              "--executor", "serial", "--store", tmp_path / "s.h5"]
    assert call(capsys, *common, "--out", tmp_path / "plain.csv")[0] == 0
    code, out, err = call(capsys, *common, "--out", tmp_path / "few.csv", "--labels", labels)
    assert code == 0, err
    assert "3 labelled cells" in out and "too few to learn from: ranker 'forest' needs 8" in out
    assert "ranked by the training-free rule" in out
    plain, few = (list(csv.DictReader((tmp_path / name).open())) for name in ("plain.csv", "few.csv"))
    assert [row["arch"] for row in few] == [row["arch"] for row in plain]
    assert sum(row["labelled"] == "1" for row in few) == 3 and not any(row["predicted"] for row in few)


A, B = ISOMORPHS
C = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
BAD_LABELS = [
    ("arch,acc\n|nor_conv_3x3~0|+|bogus|,93\n", [], "line 2: malformed NAS-Bench-201 architecture"),
    (f"arch,acc\n{A},high\n", [], "line 2: column 'acc' holds 'high', not a number"),
    (f"arch,acc\n{C},93.1\n{C},92.5\n", [], f"line 3: {C} is labelled 93.1 at line 2 and 92.5 here"),
    (f"arch,c10,c100\n{C},93,70\n", [], "has 2 columns besides 'arch' (c10, c100); name the one"),
    (f"arch,acc\n{C},nan\n", [], "not a finite number"),
    (f"arch,acc\n{C},93\n", ["--shard", "0/2"], "--labels needs every cell's scores"),
    (f"arch,acc\n{C},93\n", ["--ranker", "nope"], "unknown ranker 'nope'"),
]


def test_a_ranker_without_labels_is_refused_by_the_command_and_the_api(tmp_path, capsys):
    code, _, err = call(capsys, "rank", "--proxies", "params", "--sample", "3", "--data", "synthetic",
                        "--store", tmp_path / "s.h5", "--ranker", "forest")
    assert code == 2 and err.strip().splitlines() == [
        "Error: --ranker learns from --labels; give --labels FILE too, or leave --ranker out."]
    with pytest.raises(TenasError, match="--ranker learns from --labels"):
        rank(sample=3, store=tmp_path / "s.h5", ranker="forest", **FAST)
    assert not (tmp_path / "s.h5").exists()


@pytest.mark.parametrize("text,extra,expected", BAD_LABELS)
def test_bad_labels_are_one_line_and_exit_2_before_any_work(tmp_path, capsys, text, extra, expected):
    labels, out = tmp_path / "labels.csv", tmp_path / "ranking.csv"
    labels.write_text(text)
    out.write_text("an earlier ranking\n")
    code, _, err = call(capsys, "rank", "--proxies", "params", "--sample", "3", "--data", "synthetic",
                        "--store", tmp_path / "s.h5", "--out", out, "--labels", labels, *extra)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and expected in lines[0], err
    assert out.read_text() == "an earlier ranking\n" and not (tmp_path / "s.h5").exists()


def test_label_files_pick_a_named_column_and_say_what_is_missing(tmp_path, nb201):
    labels = tmp_path / "labels.csv"
    labels.write_text(f"arch,c10,c100\n{C},93,70\n{A},,60\n")
    assert read(f"{labels}:c100", nb201) == {C: 70.0, A: 60.0}
    assert read(f"{labels}:c10", nb201) == {C: 93.0}  # an empty cell: nothing measured
    with pytest.raises(TenasError, match="has no column 'c1000'"):
        read(f"{labels}:c1000", nb201)
    with pytest.raises(TenasError, match="does not exist"):
        read(tmp_path / "missing.csv", nb201)
    with pytest.raises(TenasError, match=r"label 1: .* is no architecture|malformed"):
        read({"|nor_conv_3x3~0|": 93.0}, nb201)
    with pytest.raises(TenasError, match="not a finite number"):
        read({C: "93"}, nb201)


def test_isomorphic_cells_keep_their_own_labels_and_the_model_sees_their_mean(nb201):
    labels = read({A: 90.0, B: 92.0, C: 93.0, nb201.parse(C): 93.0}, nb201)  # the same cell twice, one value
    assert labels == {A: 90.0, B: 92.0, C: 93.0}
    assert sorted(by_class(nb201, labels).values()) == [91.0, 93.0]


class Memoriser:
    """A ranker that knows the rows it was fitted on and nothing else: cross-validation must see through it."""

    name, description = "memoriser", "recalls its training rows"

    def fit(self, features, labels, seed):
        known = {row.tobytes(): label for row, label in zip(features.values, labels)}

        class Recall:
            def predict(self, rows):
                return np.array([known.get(row.tobytes(), 0.0) for row in rows.values])

        return Recall()


class FirstColumn:
    name, description = "first", "predicts the first feature"

    def fit(self, features, labels, seed):
        class Column:
            def predict(self, rows):
                return rows.values[:, 0]

        return Column()


def features_of(values):
    values = np.asarray(values, dtype=float)
    return learned.Features(("proxy:x", learned.RULE), np.column_stack([values, -values]))


def test_cross_validation_predicts_each_label_by_a_model_fitted_without_it():
    labels = np.arange(20.0)
    features = features_of(labels)
    memorised = learned.learn(Memoriser(), features, np.arange(20), labels, seed=0)
    np.testing.assert_array_equal(memorised.predicted, labels)  # in sample it recalls every label
    assert np.isnan(memorised.cv_tau)  # out of fold it knows none of them
    column = learned.learn(FirstColumn(), features, np.arange(20), labels, seed=0)
    assert column.cv_tau == pytest.approx(1.0) and column.rule_tau == pytest.approx(-1.0) and column.folds == 5


def test_the_forest_fits_reproducibly_from_its_seed(registry):
    forest = registry.get("ranker", "forest")
    rng = np.random.default_rng(0)
    features, labels = features_of(rng.uniform(size=40)), rng.normal(size=30)
    first, again = (forest.fit(features.rows(slice(0, 30)), labels, 7).predict(features) for _ in range(2))
    np.testing.assert_array_equal(first, again)


def test_a_space_without_features_gives_the_proxies_alone():
    class Bare:
        name = "bare"

    features = learned.encode(Bare(), ["a", "b", "c"], [("p", [3.0, np.nan, 1.0], True)], [2.0, 3.0, 1.0])
    assert features.names == ("proxy:p", learned.RULE)
    np.testing.assert_allclose(features.values, [[1.0, 2 / 3], [1 / 3, 1 / 3], [2 / 3, 1.0]])


def test_a_ranker_without_fit_is_a_broken_plugin(register_plugin):
    class Half:
        name, description = "half", "no fit"

    registry = register_plugin(plugin_offering(register_rankers=[Half()]), "half_plugin")
    assert "half" not in registry.names("ranker")
    assert any(b.plugin == "half_plugin" and "without fit" in b.reason for b in registry.broken)


def matrix_paths(space, arch, ops):
    """Paths from node 0 to node 3 through ``ops``, by powers of the adjacency matrix: (count, shortest, longest)."""
    from tenaskit_builtins.nb201.layout import EDGES

    adjacency = np.zeros((4, 4), dtype=int)
    for (target, source), op in zip(EDGES, arch):
        adjacency[target, source] += op in ops
    by_length = [np.linalg.matrix_power(adjacency, k)[3, 0] for k in range(1, 4)]
    lengths = [k for k, n in enumerate(by_length, start=1) if n]
    return sum(by_length), min(lengths, default=0), max(lengths, default=0)


def test_nb201_path_features_match_powers_of_the_adjacency_matrix(nb201):
    from tenaskit_builtins.nb201 import GROUPS

    for arch in itertools.islice(nb201.enumerate(), 0, 15625, 37):
        features = nb201.features(arch)
        for name, ops in GROUPS.items():
            expected = matrix_paths(nb201, arch, ops)
            got = tuple(features[f"{kind}:{name}"] for kind in ("paths", "shortest", "longest"))
            assert got == expected, (nb201.format(arch), name)


def test_darts_features_count_the_paths_of_each_cell_into_its_concatenated_output(registry):
    darts = registry.get("space", "darts")
    rng = np.random.default_rng(0)
    genotypes = [darts.sample(rng) for _ in range(20)]
    names = list(darts.features(genotypes[0]))
    for genotype in genotypes:
        features = darts.features(genotype)
        assert list(features) == names  # one encoding for every cell, as the ranker's rows need
        for cell in ("normal", "reduce"):
            adjacency = np.zeros((7, 7), dtype=int)  # nodes 0-5 and the output, 6, that concatenates 2-5
            for node, pairs in zip(range(2, 6), zip(*[iter(getattr(genotype, cell))] * 2)):
                for op, source in pairs:
                    adjacency[node, source] += 1
            adjacency[6, 2:6] = 1
            paths = sum(np.linalg.matrix_power(adjacency, k)[6, :2].sum() for k in range(1, 7))
            assert features[f"{cell}/paths:any"] == paths
            assert features[f"{cell}/count:none"] == 14 - 8


class Offset:
    """Orders the cells it predicts perfectly, on a scale that shifts with the labels it was fitted on."""

    name, description = "offset", "the first feature plus a shift of its own"

    def fit(self, features, labels, seed):
        shift = -100.0 * float(np.mean(labels))

        class Shifted:
            def predict(self, rows):
                return rows.values[:, 0] + shift

        return Shifted()


def test_cross_validation_judges_each_fold_on_the_cells_it_predicted_together():
    # Pooled over folds, the shifts would scramble the order; within each fold it is perfect.
    labels = np.arange(30.0)
    learnt = learned.learn(Offset(), features_of(labels), np.arange(30), labels, seed=0)
    assert learnt.cv_tau == pytest.approx(1.0) and learnt.rule_tau == pytest.approx(-1.0)


def test_the_rules_cross_validated_tau_is_taken_over_the_same_pairs_as_the_models():
    from scipy.stats import kendalltau

    from tenas_kit.seeds import numpy_rng

    labels, rule = np.arange(30.0), np.random.default_rng(1).permutation(30).astype(float)
    features = learned.Features(("proxy:x", learned.RULE), np.column_stack([labels, rule]))
    learnt = learned.learn(FirstColumn(), features, np.arange(30), labels, seed=4)
    fold_of = numpy_rng(4, "folds").permutation(30) % 5  # the folds learn draws, worked out again here
    by_fold = [kendalltau(rule[fold_of == k], labels[fold_of == k]).statistic for k in range(5)]
    pairs = [np.sum(fold_of == k) * (np.sum(fold_of == k) - 1) / 2 for k in range(5)]
    assert learnt.rule_tau == pytest.approx(np.average(by_fold, weights=pairs))
    assert learnt.rule_tau != pytest.approx(kendalltau(rule, labels).statistic, abs=1e-3)  # not all the pairs
