"""Text a user hands in (issue 16): architecture lists, benchmark tables, ranking results.

What is wrong in such a file is a usage error: exit 2, one ``Error:`` line that names the file and the
line (bytes that are not UTF-8, a cell that is not a number, a spreadsheet formula, an accuracy that is
not finite), never "unexpected ValueError" or a silently accepted 1e999. Every case runs in-process
through ``tenas_kit.cli.main``; none of them gets as far as PyTorch.
"""

import json
import math

import pytest

from conftest import call
from tenas_kit.analysis.accuracy import AccuracyTable
from tenas_kit.errors import TenasError
from tenas_kit.lifecycle import read_archs

A = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
B = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
C = "|skip_connect~0|+|nor_conv_1x1~0|none~1|+|nor_conv_3x3~0|none~1|skip_connect~2|"


@pytest.fixture
def files(tmp_path):
    def write(name, content):
        path = tmp_path / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return path

    write("ranking.csv", f"rank,arch,rank_sum,ntk\n1,{A},2,0.5\n2,{B},4,nan\n3,{C},6,inf\n")
    write("bench.csv", f"arch,acc\n{A},93.5\n{B},90\n{C},85.25\n")
    return write


BENCHMARKS = [  # (id, benchmark file content, line named, fragment)
    ("latin-1", f"arch,acc\n{A},93.5\n{B},9\xe9\n".encode("latin-1"), 3, "byte 0xe9 is not UTF-8"),
    ("not-a-number", f"arch,acc\n{A},93.5\n{B},ninety\n", 3, "'ninety', not a number"),
    ("formula", f"arch,acc\n{A},=1+1\n", 2, "(a spreadsheet formula?"),
    ("formula-at", f"arch,acc\n{A},93\n{B},@SUM(A1:A2)\n", 3, "spreadsheet formula"),
    ("1e999", f"arch,acc\n{A},93.5\n{B},90\n{C},1e999\n", 4, "not a finite number"),
    ("inf", f"arch,acc\n{A},inf\n", 2, "not a finite number"),
    ("minus-inf", f"arch,acc\n{A},93\n{B},-inf\n", 3, "not a finite number"),
    ("nan", f"arch,acc\n{A},NaN\n", 2, "not a finite number"),
    ("underscores", f"arch,acc\n{A},9_3\n", 2, "not a number"),
]


@pytest.mark.parametrize("content, line, fragment", [case[1:] for case in BENCHMARKS], ids=[case[0] for case in BENCHMARKS])
def test_a_bad_benchmark_cell_is_a_usage_error_naming_file_and_line(files, tmp_path, capsys, content, line, fragment):
    bench = files("bad.csv", content)
    code, _, err = call(capsys, "correlate", tmp_path / "ranking.csv", "--benchmark", bench)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: benchmark file"), err
    assert f"'{bench}', line {line}:" in lines[0] and fragment in lines[0], lines[0]


def test_run_refuses_a_bad_benchmark_before_searching(files, tmp_path, capsys):
    bench = files("bad.csv", f"arch,acc\n{A},=A1*2\n")
    code, _, err = call(capsys, "run", "--data", "synthetic", "--repeats", "1", "--benchmark", bench,
                        "--out", tmp_path / "run.h5")
    assert code == 2 and f"'{bench}', line 2:" in err, err
    assert not list(tmp_path.glob("run.h5*"))  # nothing was started


RESULTS = [  # (id, file name, content, where, fragment)
    ("latin-1", "r.csv", f"rank,arch,rank_sum,ntk\n1,{A},2,0.5\n2,{B}\xe9,4,1\n".encode("latin-1"), "line 3",
     "byte 0xe9 is not UTF-8"),
    ("binary", "r.csv", b"rank,arch\n\xff\xfe\xfa\x00", "line 2", "byte 0xff is not UTF-8"),
    ("formula-score", "r.csv", f"rank,arch,rank_sum,ntk\n1,{A},2,0.5\n2,{B},4,=0.5+1\n", "line 3", "spreadsheet formula"),
    ("word-score", "r.csv", f"rank,arch,rank_sum,ntk\n1,{A},two,0.5\n", "line 2", "column 'rank_sum' holds 'two'"),
    ("json-syntax", "r.json", '[{"arch": "x",\n "ntk": 1,\n}', "line 3", "not JSON"),
    ("json-not-a-list", "r.json", '{"arch": "x"}', None, "not a list of ranking rows"),
    ("json-text-score", "r.json", json.dumps([{"rank": 1, "arch": A, "ntk": "=1"}]), "row 1", "spreadsheet formula"),
    ("json-no-arch", "r.json", json.dumps([{"arch": A, "ntk": 1}, {"arch": None, "ntk": 2}]), "row 2", "no architecture"),
]


@pytest.mark.parametrize("name, content, where, fragment", [case[1:] for case in RESULTS], ids=[case[0] for case in RESULTS])
def test_a_bad_results_file_is_a_usage_error_naming_file_and_line(files, capsys, name, content, where, fragment):
    results = files(name, content)
    code, _, err = call(capsys, "correlate", results, "--benchmark", files("bench.csv", f"arch,acc\n{A},93\n"))
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: results file"), err
    assert fragment in lines[0] and (where is None or f"'{results}', {where}:" in lines[0]), lines[0]


ARCHS = [  # (id, content, line named)
    ("text", f"{A}\n# a comment\n{B}\n\xff\xfe\n".encode("latin-1"), 4),
    ("csv", f"arch,note\n{A},ok\n{B},caf\xe9\n".encode("latin-1"), 3),
    ("first-line", b"\x80" + A.encode(), 1),
]


@pytest.mark.parametrize("content, line", [case[1:] for case in ARCHS], ids=[case[0] for case in ARCHS])
def test_a_non_utf8_architecture_file_is_a_usage_error_naming_file_and_line(files, tmp_path, capsys, content, line):
    archs = files("archs.txt", content)
    code, _, err = call(capsys, "rank", "--data", "synthetic", "--archs", archs, "--store", tmp_path / "s.h5",
                        "--out", tmp_path / "r.csv")
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith(f"Error: --archs file '{archs}', line {line}: ") and "is not UTF-8 text" in lines[0]
    assert not (tmp_path / "s.h5").exists()


def ranking_cut_mid_number(rows=9):
    """A results file as ``rank`` writes it (CRLF rows), cut inside its last number, as a full disk leaves it."""
    archs = [A, B, C] * 3
    text = "rank,arch,rank_sum,ntk\r\n" + "".join(f"{i + 1},{archs[i]},{2 * i},0.{i}2345\r\n" for i in range(rows))
    return text[:-5]  # "0.82345\r\n" -> "0.82": every cell still reads as a number


CUT = [  # (id, option the file is given to, file name, content, line named)
    ("results", "results", "r.csv", ranking_cut_mid_number(), 10),
    ("benchmark", "--benchmark", "bench.csv", f"arch,acc\n{A},93.5\n{B},90\n{C},85.2", 4),
    ("archs-csv", "--archs", "archs.csv", f"arch,note\n{A},ok\n{B},cut", 3),
]


@pytest.mark.parametrize("option, name, content, line", [case[1:] for case in CUT], ids=[case[0] for case in CUT])
def test_a_csv_whose_last_line_is_cut_is_a_usage_error(files, tmp_path, capsys, option, name, content, line):
    """A CSV that does not end in a line break stopped mid-row: its last cell may be a cut number."""
    cut = files(name, content)
    if option == "--archs":
        args = ["rank", "--data", "synthetic", "--archs", cut, "--store", tmp_path / "s.h5", "--out", tmp_path / "o.csv"]
    elif option == "--benchmark":
        args = ["correlate", tmp_path / "ranking.csv", "--benchmark", cut]
    else:
        args = ["correlate", cut, "--benchmark", tmp_path / "bench.csv"]
    code, out, err = call(capsys, *args)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and out == "", (code, err)
    assert f"'{cut}', line {line}: the last line does not end in a line break" in lines[0], lines[0]
    assert "end it with a newline" in lines[0]
    assert not (tmp_path / "s.h5").exists()


def test_good_files_still_read(files, tmp_path, capsys):
    """What is refused above is all that changed: finite accuracies, an empty accuracy (no value recorded), a
    byte-order mark, nan and inf scores (a proxy may give them), JSON results, CSV architecture lists."""
    table = AccuracyTable(files("b.csv", f"\ufeffarch,acc\n{A},93.5\n{B},\n{C},-1.5e1\n"))
    assert table.rows == {A: 93.5, C: -15.0} and all(isinstance(v, float) for v in table.rows.values())
    code, _, err = call(capsys, "correlate", tmp_path / "ranking.csv", "--benchmark", tmp_path / "bench.csv",
                        "--resamples", 100)
    assert code == 0, err
    rows = [{"rank": i + 1, "arch": arch, "rank_sum": i, "ntk": value}
            for i, (arch, value) in enumerate([(A, 1.5), (B, math.inf), (C, 2.0)])]
    code, _, err = call(capsys, "correlate", files("r.json", json.dumps(rows)), "--benchmark",
                        files("bench.csv", f"arch,acc\n{A},93.5\n{B},90\n{C},85.25\n"), "--resamples", 100)
    assert code == 0, err
    assert read_archs(files("a.csv", f"arch,note\n{A},é\n{B},\n")) == [A, B]
    assert read_archs(files("a.txt", f"# é\n{A}\n\n{B}\n")) == [A, B]
    # A plain list is not CSV: a cut architecture does not parse, so its last line needs no line break.
    assert read_archs(files("a.txt", f"{A}\n{B}")) == [A, B]
    assert read_archs(files("a.csv", f"arch\r\n{A}\r\n{B}\r")) == [A, B]


def test_the_api_raises_the_same_usage_error(files):
    with pytest.raises(TenasError, match=r"line 2: column 'acc' holds '1e999', which is not a finite number"):
        AccuracyTable(files("b.csv", f"arch,acc\n{A},1e999\n"))
    with pytest.raises(TenasError, match=r"line 2: byte 0xff is not UTF-8"):
        read_archs(files("a.txt", f"{A}\n".encode() + b"\xff\n"))
