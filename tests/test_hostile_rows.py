"""Issue 49: nothing a backend, a crash or a hand edit does can forge, double or drop a row.

Each test is one fault of the reliability trial on a75d8a3, reproduced the way it was found;
each failed there.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from mlpbench.cli.app import main
from mlpbench.errors import BusyError, ResultsError
from mlpbench.results.folder import ResultsFolder
from mlpbench.results.store import append_rows, read_runs
from tests.fixture_results import make_results


def fixture(tmp_path: Path) -> Path:
    return make_results(tmp_path / "set", repeats=3)


def test_doubled_rows_are_counted_once_named_and_refused_with_strict(tmp_path, capsys):
    """Fault 4: `tail -n +2 runs.csv >> runs.csv` read as twice the repeats."""
    folder = fixture(tmp_path)
    runs = folder / "runs.csv"
    clean = read_runs(folder)
    lines = runs.read_text().splitlines(keepends=True)
    runs.write_text("".join(lines) + "".join(lines[1:]))
    capsys.readouterr()
    got = read_runs(folder, strict=False)
    assert len(got) == len(clean)
    err = capsys.readouterr().err
    assert f"runs.csv:{len(lines) + 1}: repeats line 2's run_id" in err
    with pytest.raises(ResultsError, match="doubled row"):
        read_runs(folder)
    assert main(["summary", str(folder)]) == 0
    assert "doubled row" in capsys.readouterr().err
    assert main(["summary", str(folder), "--strict"]) == 2


def test_a_point_run_twice_under_two_run_ids_is_counted_once(tmp_path, capsys):
    """Fault 4, the other identity: the same (point, repeat) under a fresh run_id."""
    folder = fixture(tmp_path)
    runs = folder / "runs.csv"
    lines = runs.read_text().splitlines(keepends=True)
    copy = "r9999" + lines[1][lines[1].index(",") :]
    runs.write_text("".join(lines) + copy)
    got = read_runs(folder, strict=False)
    assert "r9999" not in {r["run_id"] for r in got}
    assert "repeats line 2's point and repeat" in capsys.readouterr().err


def test_a_stray_quote_costs_only_its_own_line(tmp_path, capsys):
    """Fault 5: one `,ok,` edited to `,"ok,` swallowed the rest of the file."""
    folder = fixture(tmp_path)
    runs = folder / "runs.csv"
    lines = runs.read_text().splitlines(keepends=True)
    lines[3] = lines[3].replace(",ok,", ',"ok,', 1)
    runs.write_text("".join(lines))
    got = read_runs(folder, strict=False)
    assert len(got) == len(lines) - 2  # the header and the edited line
    assert "runs.csv:4" in capsys.readouterr().err


def test_a_partial_line_is_never_glued_to_the_next_row(tmp_path, capsys):
    """Fault 6: a backend appended `garbage-without-newline`; the next row was glued to it."""
    folder = fixture(tmp_path)
    runs = folder / "runs.csv"
    before = read_runs(folder)
    with runs.open("a") as f:
        f.write("garbage-without-newline")
    row = {k: v for k, v in before[0].items()}
    row.update(run_id="r7777", repeat=99)
    append_rows(runs, list(row), [row])
    got = read_runs(folder, strict=False)
    assert [r["run_id"] for r in got][-1] == "r7777"
    assert len(got) == len(before) + 1
    err = capsys.readouterr().err
    assert "garbage-without-newline" in err and "not of the form r0001" in err


def test_a_row_whose_run_id_is_not_a_run_id_is_named(tmp_path, capsys):
    folder = fixture(tmp_path)
    runs = folder / "runs.csv"
    lines = runs.read_text().splitlines(keepends=True)
    lines[2] = "x" + lines[2]
    runs.write_text("".join(lines))
    read_runs(folder, strict=False)
    assert "runs.csv:3: run_id = 'xr" in capsys.readouterr().err


def test_a_spreadsheets_byte_order_mark_is_read(tmp_path):
    """Fault 15: a BOM before the header was refused with "upgrade mlpbench"."""
    folder = fixture(tmp_path)
    runs = folder / "runs.csv"
    clean = read_runs(folder)
    runs.write_bytes(b"\xef\xbb\xbf" + runs.read_bytes())
    assert repr(read_runs(folder)) == repr(clean)


def test_unlinking_the_lock_file_lets_no_second_sweep_in(tmp_path):
    """Fault 3: a backend unlinked `<folder>/.lock` and a second sweep ran every point."""
    folder = ResultsFolder(fixture(tmp_path))
    with folder.locked():
        (folder.path / ".lock").unlink()
        with pytest.raises(BusyError):
            with folder.locked():
                pass
        started = threading.Event()
        refused: list[BaseException] = []

        def other() -> None:
            started.set()
            try:
                with ResultsFolder(folder.path).locked():
                    pass
            except BusyError as e:
                refused.append(e)

        t = threading.Thread(target=other)
        t.start()
        t.join()
        assert refused
    with folder.locked():  # released with the sweep
        pass


def test_the_writer_never_writes_a_run_id_twice(tmp_path):
    """Fault 3, the writer's side: a run_id already in the file is refused, not appended."""
    from mlpbench.config.points import PointKey
    from mlpbench.results.folder import rows_of
    from mlpbench.results.point import PointResult

    folder = ResultsFolder(fixture(tmp_path))
    first = read_runs(folder.path)[0]
    record, epochs = rows_of(
        PointKey.from_row(first), 50, first["run_id"], PointResult.failed("x"), float("nan")
    )
    size = os.path.getsize(folder.runs_path)
    with pytest.raises(ResultsError, match="already in the file"):
        folder.append(record, epochs)
    assert os.path.getsize(folder.runs_path) == size


# Fault 15: the messages.


def test_a_full_disk_names_the_file_and_resume_and_leaves_no_temporary_file(
    tmp_path, monkeypatch
):
    import errno

    from mlpbench.results import store

    def full(self, *a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(ResultsError) as got:
        store.write_json(tmp_path / "environment.json", {"a": 1})
    message = str(got.value)
    assert "environment.json" in message and "--resume" in message
    assert not list(tmp_path.iterdir())

    def full_write(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.undo()
    monkeypatch.setattr(os, "write", full_write)
    with pytest.raises(ResultsError, match=r"runs.csv: cannot write.*--resume"):
        store.append_rows(tmp_path / "runs.csv", ["run_id"], [{"run_id": "r0000"}])


def test_a_latest_link_to_itself_is_one_line_and_exit_2(tmp_path, capsys):
    link = tmp_path / "latest"
    link.symlink_to("latest")
    for command in (["sweep", "--resume", str(link)], ["summary", str(link)]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def test_printed_commands_are_quoted_for_a_shell(tmp_path):
    import shlex

    from mlpbench.sweep.loop import resume_command

    odd = tmp_path / "my results" / "it's $HOME"
    assert shlex.split(resume_command(odd))[-1] == str(odd)


def test_an_absurd_ratio_prints_short():
    from mlpbench.render.format import times

    assert len(times(1e300)) < 12 and times(1.234) == "1.23x"


def test_a_check_that_exits_says_so_once():
    from mlpbench.sweep.spawn import ask

    answer, why = ask({"nonsense": True}, 30, python="/bin/false")
    assert answer is None and why.startswith("exited with code 1")
