"""Build the NAS-Bench-201 benchmark table shipped with the nb201 plugin (plugins/nb201/accuracy.csv.gz).

The source is a public CSV export of NATS-Bench's topology results, `nats_bench.csv` of the GitHub
repository v-tao/nats-bench-landscape (its notebook `nats_bench_fitness_data.ipynb` wrote it with the
`nats_bench` API: `get_more_info(i, dataset, hp=200, is_random=False)["test-accuracy"]` for the three data
sets). Run from the repository root after installing (README):

    git clone https://github.com/v-tao/nats-bench-landscape /tmp/nats-bench-landscape
    .venv/bin/python tools/build_nb201_table.py /tmp/nats-bench-landscape/nats_bench.csv

Every row is checked: the cell parses in the nb201 space, the 15625 cells are the space's, each once, every
accuracy a finite percentage. Rows keep the source's order (NATS-Bench's architecture index), each value its
float64 in shortest round-trip text, and the gzip stream carries no name or time, so the same source always
gives the same bytes (docs/benchmark-tables.md records their sha256).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import io
import math
import sys
from pathlib import Path

from tenas_kit import plugins

OUT = Path(__file__).resolve().parents[1] / "plugins" / "nb201" / "accuracy.csv.gz"
# The source's columns -> the table's metrics (named as tenas-kit's dataset presets are).
COLUMNS = {
    "CIFAR10TestAccuracy200Epochs": "cifar10",
    "CIFAR100TestAccuracy200Epochs": "cifar100",
    "ImageNetTestAccuracy200Epochs": "imagenet16-120",
}
ARCH = "ArchitectureString"


def read_source(path, space):
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in (ARCH, *COLUMNS) if c not in (reader.fieldnames or [])]
        if missing:
            sys.exit(f"{path}: no column {', '.join(missing)}; is this nats_bench.csv?")
        rows = []
        for row in reader:
            where = f"{path}, line {reader.line_num}"
            text = space.format(space.parse(row[ARCH]))
            if text != row[ARCH]:
                sys.exit(f"{where}: '{row[ARCH]}' is not in nb201's text form")
            values = [float(row[c]) for c in COLUMNS]
            if not all(math.isfinite(v) and 0 <= v <= 100 for v in values):
                sys.exit(f"{where}: an accuracy outside 0-100: {values}")
            rows.append((text, values))
    cells = {text for text, _ in rows}
    every = {space.format(a) for a in space.enumerate()}
    if len(rows) != len(every) or cells != every:
        sys.exit(f"{path}: {len(rows)} rows, {len(cells)} distinct cells; the space has {len(every)}")
    return rows


def write_table(rows, out):
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["arch", *COLUMNS.values()])
    for arch, values in rows:
        writer.writerow([arch, *(repr(v) for v in values)])
    data = gzip.compress(text.getvalue().encode("utf-8"), compresslevel=9, mtime=0)
    Path(out).write_bytes(data)
    return data


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", help="nats_bench.csv of v-tao/nats-bench-landscape")
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args(argv)
    source = Path(args.source).read_bytes()
    rows = read_source(args.source, plugins.registry().get("space", "nb201"))
    data = write_table(rows, args.out)
    print(f"source {args.source}: sha256 {hashlib.sha256(source).hexdigest()}")
    print(f"wrote {args.out}: {len(rows)} cells, {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}")
    for i, metric in enumerate(COLUMNS.values()):
        best = max(rows, key=lambda row: row[1][i])
        print(f"  {metric}: best {best[1][i]:.2f} ({best[0]}), mean {sum(r[1][i] for r in rows) / len(rows):.2f}")


if __name__ == "__main__":
    main()
