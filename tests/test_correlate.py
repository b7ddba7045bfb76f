"""``tenaskit correlate``: every column gets its row, and a column without a correlation says why."""

import itertools
import warnings

import numpy as np
import pytest
from scipy.stats import ConstantInputWarning, DegenerateDataWarning, bootstrap, kendalltau

from conftest import call
from tenas_kit.analysis.correlation import correlations

NAN = float("nan")
# What scipy says when it is handed a column without a correlation; correlate must say it in words instead.
SCIPY_COMPLAINTS = (ConstantInputWarning, DegenerateDataWarning, RuntimeWarning)


def quietly(fn, *args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fn(*args, **kwargs)
    complaints = [str(w.message) for w in caught if issubclass(w.category, SCIPY_COMPLAINTS)]
    assert not complaints, complaints
    return result


@pytest.mark.parametrize("scores, finite", [([1.0, NAN, NAN, NAN], 1), ([NAN, float("inf"), NAN, NAN], 0)])
def test_fewer_than_two_finite_scores_give_a_reason_not_an_exception(scores, finite):
    r = quietly(correlations, scores, [1, 2, 3, 4], resamples=100)
    assert r["reason"] == f"fewer than 2 finite scores ({finite} of 4)" and r["n"] == finite
    assert all(np.isnan(r[k]) for k in ("tau", "tau_low", "tau_high", "rho", "rho_low", "rho_high"))


def test_constant_scores_or_accuracy_say_constant_without_a_warning():
    flat = quietly(correlations, [0.5, 0.5, NAN, 0.5], [1, 2, 3, 4], resamples=100)
    assert flat["reason"].startswith("constant") and "0.5" in flat["reason"] and np.isnan(flat["tau"])
    same_accuracy = quietly(correlations, [1, 2, 3, 4], [7, 7, 7, 7], resamples=100)
    assert same_accuracy["reason"].startswith("constant accuracy")


def test_an_interval_undefined_by_constant_resamples_says_so():
    # Two distinct scores among 6: some resamples draw one of them only, so the interval has no value.
    r = quietly(correlations, [1, 2, 1, 2, 1, 2], [1, 2, 3, 4, 5, 6], resamples=200)
    assert r["reason"] is None and np.isfinite(r["tau"])
    assert np.isnan(r["tau_low"]) and "constant" in r["ci_reason"]


def test_the_interval_is_scipys_percentile_bootstrap_over_pairs_seeded():
    # What docs/ranking.md and docs/plugins.md state: 95%, percentile, pairs resampled, default_rng(seed).
    rng = np.random.default_rng(3)
    x = rng.normal(size=40)
    y = x + rng.normal(size=40)
    r = correlations(x, y, resamples=300, seed=5)
    expected = bootstrap((x, y), lambda a, b: kendalltau(a, b)[0], paired=True, vectorized=False,
                         confidence_level=0.95, n_resamples=300, method="percentile",
                         random_state=np.random.default_rng(5)).confidence_interval
    assert (r["tau_low"], r["tau_high"]) == (expected.low, expected.high)
    assert r["reason"] is None and r["ci_reason"] is None


@pytest.fixture
def ranking_files(nb201, tmp_path):
    archs = [nb201.format(a) for a in itertools.islice(nb201.enumerate(), 6)]
    bench = tmp_path / "bench.csv"
    bench.write_text("arch,acc\n" + "".join(f"{a},{i}\n" for i, a in enumerate(archs)))

    def write(columns):
        path = tmp_path / "ranking.csv"
        names = list(columns)
        lines = [",".join(["rank", "arch", *names])]
        lines += [",".join([str(i + 1), a, *(str(columns[n][i]) for n in names)]) for i, a in enumerate(archs)]
        path.write_text("\n".join(lines) + "\n")
        return path

    return write, bench


def rows_of(table):
    """Table rows by their first cell: the score column's name."""
    rows = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip("│ ").split("│")]
        if len(cells) > 1:
            rows[cells[0]] = cells[1:]
    return rows


def test_correlate_keeps_every_row_and_says_why_a_column_has_none(ranking_files, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # one table row per line
    write, bench = ranking_files
    results = write({
        "rank_sum": [0, 1, 2, 3, 4, 5],  # -rank_sum falls as accuracy rises: tau -1
        "good": [10, 11, 12, 13, 14, 15],
        "lonely": [1.5, "nan", "nan", "inf", "nan", "nan"],
        "flat": [3, 3, 3, 3, 3, 3],
        "blank": ["", "", 2, "", "", ""],
    })
    code, out, err = quietly(call, capsys, "correlate", results, "--benchmark", bench, "--resamples", 100)
    assert code == 0, err
    rows = rows_of(out)
    assert rows["-rank_sum"][:3] == ["6", "-1.000", "[-1.000, -1.000]"]
    assert rows["good"][:3] == ["6", "1.000", "[1.000, 1.000]"]
    assert rows["lonely"][:2] == ["1", "fewer than 2 finite scores (1 of 6)"]
    assert rows["blank"][:2] == ["1", "fewer than 2 finite scores (1 of 6)"]  # an empty cell is a missing score
    assert rows["flat"][1].startswith("constant")
    assert "percentile-bootstrap" in out and "100 resamples" in out


def test_correlate_names_a_cell_that_is_not_a_number(ranking_files, capsys):
    write, bench = ranking_files
    results = write({"rank_sum": [0, 1, 2, 3, 4, 5], "ntk": [1, 2, "high", 4, 5, 6]})
    code, _, err = call(capsys, "correlate", results, "--benchmark", bench)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "column 'ntk'" in lines[0] and "'high', not a number" in lines[0]


def test_the_correlation_figure_titles_a_column_without_a_correlation_with_the_reason():
    from tenas_kit.analysis import plots

    fig = quietly(plots.correlation_figure, {"good": [1, 2, 3, 4], "lonely": [1, NAN, NAN, NAN]}, [1, 2, 3, 4],
                  "acc", resamples=100)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0].startswith("good: tau = 1.000") and titles[1] == "lonely: fewer than 2 finite scores (1 of 4)"
