"""``tenaskit plot trajectory|correlation`` and ``tenaskit report``: the files exist, decode, and stand alone."""

import base64
import csv
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image

from conftest import tenaskit
from conftest import call  # in-process: the console script's start-up (torch) is paid once, not per command
from tenas_kit import SearchConfig, search
from tenas_kit.analysis import plots
from tenas_kit.errors import TenasError
from tenas_kit.runfile import read

TINY = {"batch_size": 6, "region_samples": 64}
DARTS_GENOTYPE = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('skip_connect', 0), ('dil_conv_3x3', 2), "
                  "('max_pool_3x3', 1), ('sep_conv_5x5', 3), ('avg_pool_3x3', 0), ('skip_connect', 4)], "
                  "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
                  "('max_pool_3x3', 0), ('dil_conv_5x5', 2), ('max_pool_3x3', 1), ('skip_connect', 2), "
                  "('avg_pool_3x3', 3)], reduce_concat=[2, 3, 4, 5])")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A three-round NB201 run and a one-round one (three ops pruned per edge at once), on noise."""
    folder = tmp_path_factory.mktemp("runs")
    _, three = search(SearchConfig(data="synthetic", repeats=1, seed=3, options=dict(TINY)), out=folder / "three.h5", workers=1)
    _, one = search(SearchConfig(data="synthetic", repeats=1, seed=3, options=dict(TINY, prune_number=3)),
                    out=folder / "one.h5", workers=1)
    return {"three": three, "one": one}


@pytest.fixture(scope="module")
def benchmark_files(tmp_path_factory):
    """A made-up accuracy table and ranking over 40 NB201 cells: kappa_N spans 4 decades, R_N does not."""
    from tenas_kit import plugins

    folder = tmp_path_factory.mktemp("bench")
    space = plugins.registry().get("space", "nb201")
    archs = [space.format(a) for a in space.enumerate()[:40]]
    rng = np.random.default_rng(0)
    accuracy = rng.uniform(50, 94, len(archs))
    ntk = 10 ** (4 - (accuracy - 50) / 11 + rng.normal(0, 0.3, len(archs)))
    regions = 900 + 3 * accuracy + rng.normal(0, 20, len(archs))
    table, ranking = folder / "accuracy.csv", folder / "ranking.csv"
    _write_csv(table, [{"arch": a, "test_acc": f"{acc:.2f}"} for a, acc in zip(archs, accuracy)])
    _write_csv(ranking, [{"rank": i + 1, "arch": a, "rank_sum": float(i), "ntk": k, "regions": r}
                         for i, (a, k, r) in enumerate(zip(archs, ntk, regions))])
    return table, ranking


def _write_csv(path, rows):
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def assert_png(data):
    from io import BytesIO

    image = Image.open(BytesIO(data))
    image.load()  # decodes every pixel, not only the header
    assert image.format == "PNG" and image.width > 200 and image.height > 100
    assert len(np.unique(np.asarray(image.convert("L")))) > 10, "the image is blank"


def assert_one_line_error(result, code):
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:"), result.stderr
    return lines[0]


# ---- trajectory --------------------------------------------------------------------------------

def test_plot_trajectory_writes_a_decodable_png(runs, tmp_path, capsys):
    out = tmp_path / "figures" / "trajectory.png"
    code, stdout, stderr = call(capsys, "plot", "trajectory", runs["three"], "-o", out)
    assert code == 0 and f"saved: {out}" in stdout, stderr
    assert_png(out.read_bytes())


@pytest.mark.parametrize("fmt, header", [("svg", b"<?xml"), ("pdf", b"%PDF-")])
def test_trajectory_saves_as_svg_and_pdf(runs, tmp_path, fmt, header):
    out = plots.save(plots.trajectory_figure(read(runs["three"])), tmp_path / f"t.{fmt}")
    data = out.read_bytes()
    assert data.startswith(header) and len(data) > 5000
    if fmt == "svg":
        assert b"<svg" in data and b"pruning trajectory" in data


def test_trajectory_marks_start_end_and_every_pruning_round(runs, registry):
    from tenas_kit.cli.plots import axis_labels

    run = read(runs["three"])
    ax = plots.trajectory_figure(run, "test_acc: 91.50", axis_labels(registry, run)).axes[0]
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert "start (full supernet)" in legend and any("end (found architecture)" in t and "91.50" in t for t in legend)
    assert sum("candidates" in t for t in legend) == 3
    notes = [child.get_text() for child in ax.texts]
    assert [n.split(":")[0] for n in notes] == ["round 1 pruned", "round 2 pruned", "round 3 pruned"]
    line = next(line for line in ax.get_lines() if line.get_label() == "supernet")
    assert len(line.get_xdata()) == 4  # the full supernet, then after each of 3 rounds
    assert ax.get_xlabel() == "kappa_N (ntk), lower is better" and ax.get_ylabel() == "R_N (regions), higher is better"


def test_trajectory_of_a_one_proxy_run_uses_rounds_as_y():
    run = {"config": {"space": "x", "proxies": [["regions", 1.0]], "seed": 0},
           "rounds": [{"labels": ["c/a<-b/op1", "c/a<-b/op2"], "proxies": {"regions": {"base": [5.0], "values": [4.0, 6.0]}},
                       "columns": {"removed": np.array([True, False])}}], "final": {"regions": [6.0]}}
    ax = plots.trajectory_figure(run).axes[0]
    assert ax.get_ylabel() == "after round" and "a<-b op1" in ax.texts[0].get_text()


def test_one_round_run_with_a_missing_benchmark_still_plots_and_reports(runs, tmp_path, capsys):
    assert len(read(runs["one"])["rounds"]) == 1
    png, page = tmp_path / "one.png", tmp_path / "one.html"
    code, stdout, stderr = call(capsys, "plot", "trajectory", runs["one"], "-o", png, "--benchmark", tmp_path / "absent.csv")
    assert code == 0 and "benchmark accuracy left out" in stdout, stderr
    assert_png(png.read_bytes())
    code, stdout, stderr = call(capsys, "report", runs["one"], "-o", page, "--benchmark", tmp_path / "absent.csv")
    assert code == 0, stderr
    check_page(page.read_text(), rounds=1, notes=["benchmark accuracy left out"])


def test_a_run_without_rounds_is_refused():
    # A TenasError, so the CLI prints it as one line with the usage exit code; any other exception would
    # be reported as an unexpected bug.
    with pytest.raises(TenasError) as refused:
        plots.trajectory_figure({"config": {}, "rounds": []})
    assert str(refused.value) == "the run file holds no rounds; there is no trajectory to plot."
    assert refused.value.exit_code == 2


# ---- report ------------------------------------------------------------------------------------

class Page(HTMLParser):
    """Every tag with its attributes, the text of each heading, and the page's visible text."""

    def __init__(self):
        super().__init__()
        self.tags, self.headings, self.text, self._heading = [], [], [], None

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag in ("h1", "h2", "h3"):
            self._heading = []

    def handle_endtag(self, tag):
        if tag in ("h1", "h2", "h3") and self._heading is not None:
            self.headings.append("".join(self._heading).strip())
            self._heading = None

    def handle_data(self, data):
        self.text.append(data)
        if self._heading is not None:
            self._heading.append(data)


SECTIONS = ["Configuration", "Pruning trajectory", "Found architecture", "Rounds", "Timings", "Versions"]


def check_page(html, rounds, notes=(), figures=2):
    """The page parses, names its sections, inlines its figures and references nothing outside itself."""
    page = Page()
    page.feed(html)
    page.close()
    assert set(SECTIONS) <= set(page.headings)
    assert sum(h.startswith("round ") for h in page.headings) == rounds
    assert "http:" not in html and "https:" not in html and "url(" not in html
    assert not [tag for tag, _ in page.tags if tag in ("script", "link", "iframe", "object", "embed")]
    sources = [attrs.get("src") or "" for tag, attrs in page.tags if "src" in attrs]
    assert all(src.startswith("data:image/png;base64,") for src in sources)
    assert not [a["href"] for _, a in page.tags if "href" in a and not a["href"].startswith("#")]
    assert len(sources) == figures
    for src in sources:
        assert_png(base64.b64decode(src.split(",", 1)[1], validate=True))
    text = " ".join(page.text)
    for note in notes:
        assert note in text
    return page, text


def test_report_is_one_self_contained_page(runs, tmp_path, capsys):
    run = read(runs["three"])
    table = tmp_path / "acc.csv"
    _write_csv(table, [{"arch": run["architecture"], "test_acc": "91.25"}])
    out = tmp_path / "report.html"
    code, _, stderr = call(capsys, "report", runs["three"], "-o", out, "--benchmark", table)
    assert code == 0, stderr
    page, text = check_page(out.read_text(encoding="utf-8"), rounds=3)
    assert run["architecture"] in text and "test_acc: 91.25" in text
    assert run["versions"]["torch"] in text and "total" in text
    pruned_rows = [attrs for tag, attrs in page.tags if tag == "tr" and attrs.get("class") == "pruned"]
    assert len(pruned_rows) == sum(int(r["columns"]["removed"].sum()) for r in run["rounds"])


def test_report_escapes_text_from_the_run_file(runs):
    from tenas_kit.analysis import report

    run = read(runs["one"])
    run["config"] = dict(run["config"], data="<script>alert(1)</script>")
    html = report.page("x.h5", run, {})
    assert "<script>" not in html and "&lt;script&gt;" in html


# Added to a copy of the report only: the page itself has no script. It records whether the browser decoded every image.
IMAGE_PROBE = """<script>window.addEventListener("load", () => {
  const images = [...document.images];
  const ok = images.length > 0 && images.every(img => img.complete && img.naturalWidth > 0);
  document.body.dataset.images = ok ? "decoded " + images.length : "broken";
});</script>"""
CONSOLE = re.compile(r":CONSOLE[:(]|Uncaught")


def chromium():
    found = shutil.which("chromium")
    if found:
        return found
    if os.environ.get("CI") == "true":
        pytest.fail("chromium is not installed: .ci/run installs Debian's 'chromium' package (apt-get install chromium)")
    pytest.skip("chromium is not installed (apt-get install chromium); CI installs it and fails without it")


def browse(page, profile):
    """``(DOM after load, console lines)`` of a page in headless Chromium."""
    result = subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
                             f"--user-data-dir={profile}", "--dump-dom", page.resolve().as_uri()],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout, [line for line in result.stderr.splitlines() if CONSOLE.search(line)]


def test_report_renders_in_headless_chromium_without_console_errors(runs, tmp_path):
    from tenas_kit.analysis import report

    run = read(runs["three"])
    page = report.page("three.h5", run, {"trajectory": plots.png_bytes(plots.trajectory_figure(run))})
    probed = tmp_path / "report.html"
    probed.write_text(page.replace("</body>", IMAGE_PROBE + "</body>"), encoding="utf-8")
    dom, console = browse(probed, tmp_path / "profile")
    assert console == []
    assert 'data-images="decoded 1"' in dom
    for heading in SECTIONS:
        assert f"<h2>{heading}</h2>" in dom
    assert run["architecture"] in dom


def test_the_chromium_check_sees_console_errors(tmp_path):
    broken = tmp_path / "broken.html"
    broken.write_text("<!DOCTYPE html><html><body><script>undefinedFunction();</script></body></html>")
    _, console = browse(broken, tmp_path / "profile")
    assert any("Uncaught ReferenceError" in line for line in console)


# ---- cell diagram ------------------------------------------------------------------------------

def labels(ax):
    """Node and edge labels; the arrows are annotations without text."""
    return [t.get_text() for t in ax.texts if t.get_text()]


def test_cell_diagram_labels_every_kept_edge(registry):
    space = registry.get("space", "nb201")
    arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|none~2|"
    fig = plots.cell_figure(space.layout, space.arch_to_mask(space.parse(arch)))
    texts = labels(fig.axes[0])
    assert sorted(texts[:4]) == ["0", "1", "2", "3"]  # the nodes first
    assert sorted(texts[4:]) == sorted(["nor_conv_3x3", "nor_conv_3x3", "avg_pool_3x3", "skip_connect", "nor_conv_1x1", "none"])
    assert_png(plots.png_bytes(fig))


def test_cell_diagram_of_a_darts_genotype_draws_both_cells(registry):
    space = registry.get("space", "darts")
    fig = plots.cell_figure(space.layout, space.arch_to_mask(space.parse(DARTS_GENOTYPE)))
    assert [ax.get_title() for ax in fig.axes] == ["normal cell", "reduce cell"]
    for ax in fig.axes:
        texts = labels(ax)
        assert "$c_{k-2}$" in texts and "$c_{k-1}$" in texts and {"0", "1", "2", "3"} <= set(texts)
        assert len(texts) == 6 + 8  # 6 nodes, 2 labelled inputs for each of 4 nodes
    assert_png(plots.png_bytes(fig))


# ---- correlation -------------------------------------------------------------------------------

def test_plot_correlation_of_a_ranking(benchmark_files, tmp_path, capsys):
    table, ranking = benchmark_files
    out = tmp_path / "correlation.png"
    code, _, stderr = call(capsys, "plot", "correlation", ranking, "--benchmark", table, "--resamples", 100, "-o", out)
    assert code == 0, stderr
    assert_png(out.read_bytes())


def test_correlation_panels_have_tau_titles_and_log_axes_where_scores_span_decades(benchmark_files, registry):
    from tenas_kit.cli.plots import read_ranking

    table, ranking = benchmark_files
    scores, accuracy, column = read_ranking(ranking, table, None, registry.get("space", "nb201"))
    fig = plots.correlation_figure(scores, accuracy, column, resamples=100)
    axes = {ax.get_xlabel().split(" ")[0]: ax for ax in fig.axes}
    assert set(axes) == {"rank_sum", "ntk", "regions"}
    assert all("tau = " in ax.get_title() for ax in fig.axes)
    assert axes["ntk"].get_xscale() == "log" and axes["regions"].get_xscale() == "linear"
    assert float(axes["ntk"].get_title().split("tau = ")[1].split()[0]) < -0.5  # made-up kappa_N falls with accuracy


def test_plot_correlation_explains_that_a_score_store_needs_rank(tmp_path, benchmark_files, capsys):
    table, _ = benchmark_files
    store = tmp_path / "scores.h5"
    store.write_bytes(b"\x89HDF\r\n\x1a\n")
    code, _, stderr = call(capsys, "plot", "correlation", store, "--benchmark", table)
    assert code == 2 and "tenaskit rank" in stderr and "--store" in stderr and len(stderr.strip().splitlines()) == 1


# ---- errors ------------------------------------------------------------------------------------

def test_bad_output_types_are_one_line_usage_errors(runs, tmp_path):
    line = assert_one_line_error(tenaskit("plot", "trajectory", runs["one"], "-o", tmp_path / "t.txt"), 2)
    assert ".png, .svg, .pdf" in line
    line = assert_one_line_error(tenaskit("report", runs["one"], "-o", tmp_path / "r.png"), 2)
    assert ".html" in line
    assert not list(tmp_path.iterdir())


def test_unreadable_run_files_are_one_line_errors(tmp_path):
    assert "no run file" in assert_one_line_error(tenaskit("plot", "trajectory", tmp_path / "absent.h5"), 2)
    garbage = tmp_path / "garbage.h5"
    garbage.write_text("not HDF5")
    result = tenaskit("report", garbage, "-o", tmp_path / "r.html")
    # A file that exists but cannot be read is a runtime failure (exit 1, TenasRuntimeError), not a usage error.
    assert "not an HDF5 file" in assert_one_line_error(result, 1)
    assert not (tmp_path / "r.html").exists()
