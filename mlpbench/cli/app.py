"""The ``mlpbench`` command: the parser built from the ``cmd_*`` modules, and one funnel for
errors.

Bad input exits with code 2 and one message, never a traceback; a backend's failure is one
line and exit 1 (``MLPBENCH_DEBUG=1`` shows the traceback); an interrupted sweep exits 130
(Ctrl-C) or 143 (SIGTERM).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import NoReturn

import mlpbench
from mlpbench.cli import (
    cmd_backends,
    cmd_bisect,
    cmd_compare,
    cmd_configs,
    cmd_doctor,
    cmd_envs,
    cmd_explain,
    cmd_gate,
    cmd_plot,
    cmd_report,
    cmd_repro,
    cmd_run,
    cmd_summary,
    cmd_sweep,
    cmd_tune,
)
from mlpbench.data import DataError
from mlpbench.errors import Interrupted, UserError

COMMANDS: tuple[ModuleType, ...] = (
    cmd_run,
    cmd_sweep,
    cmd_summary,
    cmd_plot,
    cmd_report,
    cmd_compare,
    cmd_gate,
    cmd_backends,
    cmd_configs,
    cmd_doctor,
    cmd_tune,
    cmd_envs,
    cmd_repro,
    cmd_explain,
    cmd_bisect,
)


class OneLineParser(argparse.ArgumentParser):
    """Bad arguments are one line naming the argument and what is allowed, and where the
    options are listed; not 25 lines of usage first."""

    def error(self, message: str) -> NoReturn:
        import re

        from mlpbench.errors import did_you_mean

        choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if choice:  # argparse names the choices; add the near miss
            allowed = re.findall(r"'([^']*)'", choice.group(2))
            message += did_you_mean(choice.group(1), allowed)
        self.exit(2, f"{self.prog}: error: {message} ({self.prog} -h lists the options)\n")


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="mlpbench",
        description="Benchmark a NumPy MLP against the same network in Keras and others.",
    )
    p.add_argument("--version", action="version", version=f"mlpbench {mlpbench.__version__}")
    sub = p.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=OneLineParser
    )
    for command in COMMANDS:
        command.add(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    if not (sys.argv[1:] if argv is None else list(argv)):  # bare `mlpbench`: the commands
        parser.print_help(sys.stderr)
        return 2
    a = parser.parse_args(argv)
    a.raw_argv = list(sys.argv[1:] if argv is None else argv)  # `mlpbench run` may re-run it
    try:
        return int(a.func(a) or 0)
    except DataError as e:
        print(f"mlpbench {a.command}: data error: {e}", file=sys.stderr)
        return 2
    except (UserError, FileNotFoundError) as e:
        print(f"mlpbench {a.command}: error: {e}", file=sys.stderr)
        return 2
    except Interrupted as e:
        return e.code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and closed: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as e:  # a backend failed: one line; the traceback on request
        if os.environ.get("MLPBENCH_DEBUG"):
            raise
        print(
            f"mlpbench {a.command}: failed: {type(e).__name__}: {e}\n"
            "(MLPBENCH_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
