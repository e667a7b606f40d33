"""``mlpbench repro DIR --point KEY``: one point as a standalone folder (a script that needs no
mlpbench, pinned requirements, the data, a README with what the sweep measured)."""

from __future__ import annotations

import argparse
from typing import Any

from mlpbench.cli.common import add_results_dir


def add(sub: Any) -> None:
    p = sub.add_parser("repro", help="write a standalone reproducer of one point of a result dir")
    add_results_dir(p)
    p.add_argument(
        "--point",
        required=True,
        metavar="KEY",
        help="a run id (r0003) or axis=value pairs naming one point: "
        "backend=numpy,batch_size=500,dtype=float32,threads=1",
    )
    p.add_argument("--out", metavar="FOLDER", help="where to write it (default: DIR/repro/<point>)")
    p.set_defaults(func=run)


def run(a: argparse.Namespace) -> int:
    import re
    import shlex
    from pathlib import Path

    from mlpbench.analysis.tables import ResultSet
    from mlpbench.render import repro

    results = ResultSet.load(a.directory, a.strict)
    key = repro.select(results, a.point)
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", key.label()).strip("-")
    out = Path(a.out) if a.out else results.directory / "repro" / slug
    written = repro.write(results, a.point, out)
    print(f"reproducer: {written}")
    print(
        f"  run it: cd {shlex.quote(str(written))} && python -m venv .venv && "
        ".venv/bin/pip install -r requirements.txt && .venv/bin/python run.py"
    )
    return 0
