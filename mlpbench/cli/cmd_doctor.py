"""``mlpbench doctor``: can this machine give stable numbers? One line per check, OK or WARN
with the reason and the fix; exit 0 either way (a warning is advice, not a failure)."""

from __future__ import annotations

import argparse
from typing import Any


def add(sub: Any) -> None:
    p = sub.add_parser("doctor", help="check whether this machine can give stable numbers")
    p.add_argument(
        "--sample", type=float, default=None, help="seconds of the steal/load sample (2)"
    )
    p.set_defaults(func=run)


def run(a: argparse.Namespace) -> int:
    from mlpbench.errors import UserError
    from mlpbench.machine.doctor import doctor

    if a.sample is not None and not 0 < a.sample <= 60:
        raise UserError(f"--sample = {a.sample}: must be between 0 and 60 seconds")
    checks = doctor(a.sample, gemm=True)
    print("\n".join(c.line() for c in checks))
    warned = sum(not c.ok for c in checks)
    from mlpbench.render.format import TRUST

    print(
        f"\n{warned} warning(s): numbers from this machine may be noisy; see {TRUST}"
        if warned
        else "\nall checks OK"
    )
    return 0
