"""The results folder: rows written whole as each point ends, and checked reads.

Rows are appended with one ``write`` and an ``fsync``, epochs before their run: a run is done
when its runs.csv row is complete and parses, and a kill loses at most the running point.
Readers check the header, every cell's type and the schema version, and name the file and line
of a bad row: the analysis leaves that run out with a warning (``strict=False``), resume and
``--strict`` refuse the folder.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import shlex
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlpbench.api.records import valid_text
from mlpbench.config.points import PointKey, parse_cell
from mlpbench.errors import ResultsError
from mlpbench.results import migrations
from mlpbench.results.environment import Environment
from mlpbench.results.schema import (
    EPOCH_COLUMNS,
    EPOCH_TYPES,
    FILES,
    RUN_COLUMNS,
    RUN_TYPES,
    SCHEMA_VERSION,
    STATUSES,
)

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""What a spreadsheet evaluates a cell starting with (OWASP, CSV injection)."""


def _number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _cell(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, str):
        # Valid UTF-8 always (a lone surrogate from a plugin once made every write, and every
        # --resume, fail); a text a spreadsheet would run as a formula is quoted with ' (OWASP);
        # one row is one line, so a torn write is always visible.
        value = valid_text(value)
        formula = value.startswith(FORMULA_START) and len(value) > 1 and not _number(value)
        if formula or (value[:1] == "'" and value[1:2] in FORMULA_START and len(value) > 2):
            value = "'" + value  # the second case: a text that looks escaped keeps its own '

        return value.replace("\r", " ").replace("\n", " ")
    return value


def _uncell(text: str) -> str:
    """A text cell as it was given: the ' that :func:`_cell` put before a formula removed."""
    rest = text[1:]
    if text[:1] == "'" and len(rest) > 1:
        if rest[:1] in FORMULA_START or (rest[:1] == "'" and rest[1:2] in FORMULA_START):
            return rest
    return text


def append_rows(path: Path, columns: list[str], rows: Iterable[Mapping[str, Any]]) -> None:
    """Append whole rows with one write and an fsync (the header too when the file is new).

    A key that is not a column is a programming error and raises: nothing is dropped quietly.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    new = not path.exists() or path.stat().st_size == 0
    if new:
        writer.writerow(columns)
    for row in rows:
        unknown = set(row) - set(columns)
        if unknown:
            raise KeyError(f"{path.name}: no column(s) {sorted(unknown)}")
        writer.writerow([_cell(row.get(c)) for c in columns])
    data = buffer.getvalue().encode("utf-8", "replace")
    try:
        _append(path, data)
    except OSError as e:
        raise ResultsError(unwritable(path, e)) from None


def append_bytes(path: Path, data: bytes) -> None:
    """Whole lines appended with one write and an fsync (a JSON-lines file)."""
    _append(path, data)


def _append(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            # Someone else's partial line (a torn write, a stray append): our row starts on a
            # line of its own, so it is never glued to theirs; the reader names theirs.
            data = b"\n" + data
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def written_run_ids(path: Path) -> set[str]:
    """The first cell of every complete line of runs.csv (cheap: no typing, no checks)."""
    if not path.exists():
        return set()
    complete = path.read_bytes().rpartition(b"\n")[0]
    return {line.split(b",", 1)[0].decode("utf-8", "replace") for line in complete.split(b"\n")}


def repair_tail(path: Path) -> int:
    """Cut a partial last line (a write torn by a crash); returns the bytes removed."""
    if not path.exists():
        return 0
    data = path.read_bytes()
    if not data or data.endswith(b"\n"):
        return 0
    keep = data.rfind(b"\n") + 1
    with path.open("r+b") as f:
        f.truncate(keep)
        f.flush()
        os.fsync(f.fileno())
    return len(data) - keep


RUN_ID = re.compile(r"r[0-9]{4,}")
"""The form of every run_id a sweep writes (``Sweep.run_id``)."""

BOM = "\ufeff"
"""What a spreadsheet puts before the header when it saves a CSV as UTF-8."""

FIELD_LIMIT = 2**31 - 1
"""Python's csv module refuses fields over 128 KiB by default; the reader accepts any field
the writer can produce."""


def warn_skipped(where: str, problem: str) -> None:
    print(
        f"warning: {where}: {problem}; that run is left out (--strict refuses the folder)",
        file=sys.stderr,
    )


@dataclass
class Table:
    """A CSV as :func:`read_table` read it."""

    rows: list[dict[str, Any]]
    lines: list[int]  # each row's line number in the file (for warnings)
    torn: int  # the size of a partial last line, not read
    migrated: bool = False  # written by an older schema: its rows were migrated


def read_table(
    path: Path,
    columns: list[str],
    types: Mapping[str, Any],
    strict: bool = True,
    check: Callable[[dict[str, Any]], str] | None = None,
) -> Table:
    """Typed rows of a CSV we wrote, each with its line number, and the size of a partial last
    line (ignored, not read).

    A header of an older schema is migrated (``migrations``: columns added since get their
    default). A column no version wrote is a :class:`ResultsError` naming the file. Each line
    is parsed on its own (the writer never puts a line break inside a cell), so a stray quote
    costs only its line. A row with the wrong number of fields, a cell of the wrong type or a
    run_id not of the form ``r0001`` is an error when ``strict``; otherwise that row's run is
    left out of this file (every row of its run_id) with a warning naming the file and line.
    ``check(row)`` names what else is wrong with a typed row ("" for nothing), with the same
    consequence.
    """
    if not path.exists():
        return Table([], [], 0)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise ResultsError(f"{path}: not a CSV file of mlpbench (not UTF-8: {e.reason})") from None
    text = text.removeprefix(BOM)
    complete, _, torn = text.rpartition("\n")
    if not complete:  # not even a whole header yet
        return Table([], [], len(torn))
    lines = complete.split("\n")
    csv.field_size_limit(FIELD_LIMIT)

    def cells_of(line: str) -> list[str]:
        return next(csv.reader([line.rstrip("\r")]), [])

    header = cells_of(lines[0])
    unknown = [c for c in migrations.known_after(header) if c not in columns]
    if unknown or len(set(header)) != len(header):
        raise ResultsError(
            f"{path}:1: column(s) {', '.join(unknown) or 'repeated'} are not of results schema "
            f"v{SCHEMA_VERSION} or older (written by a newer mlpbench, or edited): upgrade "
            "mlpbench to read it"
        )
    old = header != columns
    apart = old and migrations.options_apart(path.parent)
    rows: list[dict[str, Any]] = []
    numbers: list[int] = []
    bad_runs: set[str] = set()
    for lineno, line in enumerate(lines[1:], start=2):
        where = f"{path}:{lineno}"
        cells: list[str] = []
        try:
            try:
                cells = cells_of(line)
            except csv.Error as e:
                raise ResultsError(f"{where}: not a CSV line ({e})") from None
            if header[:1] == ["run_id"] and not RUN_ID.fullmatch(cells[0] if cells else ""):
                raise ResultsError(
                    f"{where}: run_id = {bounded_repr(cells[0] if cells else '')} is not of the "
                    "form r0001 (a line someone else wrote, or two lines glued together)"
                )
            if len(cells) != len(header):
                raise ResultsError(f"{where}: {len(cells)} fields, expected {len(header)}")
            raw = dict(zip(header, cells))
            if old:
                raw = migrations.migrate(raw, apart)
            row = {
                c: parse_cell(raw.get(c, migrations.DEFAULT_CELLS.get(c, "")), types[c], c, where)
                for c in columns
            }
            for c in columns:
                if types[c] is str and row[c]:
                    row[c] = _uncell(row[c])
            problem = check(row) if check else ""
            if problem:
                raise ResultsError(f"{where}: {problem}")
            rows.append(row)
            numbers.append(lineno)
        except ResultsError as e:
            if strict:
                raise
            warn_skipped(where, str(e).removeprefix(f"{where}: "))
            bad_runs.add(cells[0] if cells else "")
    if bad_runs:
        kept = [(r, n) for r, n in zip(rows, numbers) if r["run_id"] not in bad_runs]
        rows, numbers = [r for r, _ in kept], [n for _, n in kept]
    return Table(rows, numbers, len(torn), migrated=old)


def bounded_repr(text: str, limit: int = 40) -> str:
    """A cell quoted for a message, cut to ``limit`` characters."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


def once_each(
    path: Path,
    table: Table,
    identities: Mapping[str, Callable[[dict[str, Any]], Any]],
    strict: bool,
) -> list[dict[str, Any]]:
    """Rows with a repeated identity (a run_id twice, a point's repeat twice) counted once.

    A doubled row is never an extra repeat: the first is kept, each later one is named with
    its line and the line it repeats (a warning; an error when ``strict``).
    """
    seen: dict[str, dict[Any, int]] = {name: {} for name in identities}
    kept = []
    for row, lineno in zip(table.rows, table.lines):
        repeated = ""
        for name, identity in identities.items():
            first = seen[name].get(identity(row))
            if first is not None:
                repeated = f"repeats line {first}'s {name}"
                break
        if repeated:
            where = f"{path}:{lineno}"
            if strict:
                raise ResultsError(
                    f"{where}: {repeated} (a doubled row); --strict refuses the folder"
                )
            print(
                f"warning: {where}: {repeated} (a doubled row); counted once "
                "(--strict refuses the folder)",
                file=sys.stderr,
            )
            continue
        for name, identity in identities.items():
            seen[name][identity(row)] = lineno
        kept.append(row)
    return kept


def run_problem(row: dict[str, Any]) -> str:
    """What is wrong with a typed runs.csv row beyond its cells' types ("" for nothing)."""
    if row["status"] not in STATUSES:
        return f"status = {row['status']!r}; allowed: {', '.join(STATUSES)}"
    if row["status"] == "ok" and not (row["steady_epoch_s"] or 0) > 0:
        return "an ok run without a steady_epoch_s > 0"
    return ""


def read_runs(directory: Path, strict: bool = True) -> list[dict[str, Any]]:
    """runs.csv's complete rows, typed and checked (status, a time for every ok run); a bad
    row is an error when ``strict``, else a warning and that run left out."""
    path = Path(directory) / "runs.csv"
    table = read_table(path, RUN_COLUMNS, RUN_TYPES, strict, run_problem)
    if table.torn:
        print(
            f"note: {path} ends in a partial line of {table.torn} bytes; not read", file=sys.stderr
        )
    identities: dict[str, Callable[[dict[str, Any]], Any]] = {"run_id": lambda r: r["run_id"]}
    if not table.migrated:  # an older schema's migrated keys may fold two points into one
        identities["point and repeat"] = lambda r: (PointKey.from_row(r), r["repeat"])
    return once_each(path, table, identities, strict)


def read_epochs(directory: Path, strict: bool = True) -> list[dict[str, Any]]:
    path = Path(directory) / "epochs.csv"
    table = read_table(path, EPOCH_COLUMNS, EPOCH_TYPES, strict)
    identities = {"run_id and epoch": lambda r: (r["run_id"], r["epoch"])}
    return once_each(path, table, identities, strict)


def done_runs(directory: Path) -> dict[tuple[PointKey, int], str]:
    """(point, repeat) -> run_id of every run in runs.csv (what --resume skips)."""
    return {(PointKey.from_row(r), r["repeat"]): r["run_id"] for r in read_runs(Path(directory))}


def prune_epochs(directory: Path, run_ids: set[str]) -> int:
    """Keep only the epoch rows of finished runs, once each; returns the rows dropped.

    Written to a temporary file and renamed over epochs.csv, so a kill here loses nothing.
    """
    path = Path(directory) / "epochs.csv"
    repair_tail(path)
    rows = read_table(path, EPOCH_COLUMNS, EPOCH_TYPES).rows  # doubled rows: what it removes
    seen: set[tuple[str, int]] = set()
    kept = []
    for r in rows:
        if r["run_id"] in run_ids and (r["run_id"], r["epoch"]) not in seen:
            seen.add((r["run_id"], r["epoch"]))
            kept.append(r)
    if len(kept) != len(rows):
        tmp = path.with_suffix(".csv.tmp")
        tmp.unlink(missing_ok=True)
        append_rows(tmp, EPOCH_COLUMNS, kept)
        tmp.replace(path)
    return len(rows) - len(kept)


def write_json(path: Path, data: Any) -> None:
    """Written whole (a temporary file renamed over it); on a full disk the temporary file is
    removed and the error names the file and how to finish the sweep."""
    tmp = path.with_suffix(".tmp")
    try:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str))
        tmp.replace(path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise ResultsError(unwritable(path, e)) from None


def unwritable(path: Path, error: OSError) -> str:
    """One line for a results file that could not be written, and what to do."""
    return (
        f"{path}: cannot write ({error.strerror or error}); what was written before is kept: "
        f"free the space or fix the folder, then mlpbench sweep --resume "
        f"{shlex.quote(str(path.parent))}"
    )


def resolved(path: Path) -> Path:
    """``path`` with its links followed; a link loop is a one-line error, not a traceback."""
    try:
        return path.resolve(strict=False)
    except (RuntimeError, OSError) as e:
        raise ResultsError(
            f"{path}: cannot follow its link ({e}); point it at a results folder"
        ) from None


def read_environment(directory: Path) -> dict[str, Any]:
    """environment.json, checked to be of this schema version or an older one, which the
    readers migrate ({} if there is none)."""
    path = Path(directory) / "environment.json"
    if not path.exists():
        return {}
    try:
        env = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ResultsError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(env, dict):
        raise ResultsError(f"{path}: not a JSON object")
    version = env.get("schema_version", 1)  # v1 folders did not say
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ResultsError(f"{path}: schema_version = {version!r} is not a version number")
    if version > SCHEMA_VERSION:
        raise ResultsError(
            f"{path}: results schema v{version} is newer than this mlpbench reads (v1 to "
            f"v{SCHEMA_VERSION}): upgrade mlpbench (pip install -U mlpbench) to read it"
        )
    return env


def result_folders(root: Path) -> list[Path]:
    """The result folders under ``root``, newest first (their names start with a stamp); the
    ``latest`` link is not one of them."""
    root = Path(root)
    if not root.is_dir():
        return []
    folders = [p for p in root.iterdir() if p.is_dir() and not p.is_symlink()]
    return sorted(folders, key=lambda p: p.name, reverse=True)


def environments(root: Path) -> Iterator[tuple[Path, Environment]]:
    """Each result folder under ``root``, newest first, with its environment.json; a folder
    without a readable one is passed over (a listing for estimates, not a check)."""
    for folder in result_folders(root):
        try:
            env = read_environment(folder)
        except (OSError, ResultsError):
            continue
        if env:
            yield folder, Environment.from_json(env)


def _frame(rows: list[dict[str, Any]], columns: list[str]) -> Any:
    import pandas as pd

    frame = pd.DataFrame(rows, columns=columns)
    for c in columns:  # numeric columns as floats where a cell may be empty (NaN)
        if frame[c].dtype == object and not all(isinstance(v, str) or v is None for v in frame[c]):
            frame[c] = pd.to_numeric(frame[c])
    return frame


def load_runs(directory: str | Path, strict: bool = True) -> Any:
    """runs.csv as a typed pandas DataFrame (one row per complete run)."""
    directory = Path(directory)
    read_environment(directory)  # the schema check
    if not (directory / "runs.csv").exists():
        raise ResultsError(f"{directory} has no runs.csv: is it a results directory?")
    return _frame(read_runs(directory, strict), RUN_COLUMNS)


def load_epochs(directory: str | Path, strict: bool = True) -> Any:
    return _frame(read_epochs(Path(directory), strict), EPOCH_COLUMNS)


def resolve(directory: str | Path) -> Path:
    """A results directory, following results/latest."""
    path = Path(directory)
    real = resolved(path)
    if not real.is_dir():
        raise ResultsError(f"no results directory at {path}")
    if not any((real / name).exists() for name in FILES):
        raise ResultsError(f"{path} is not a results directory (no runs.csv, config.toml)")
    return real
