"""The README's first command ends in `digestflow demo`: run it as a user would, in a terminal (a pty, so
the stage progress bar draws), and check what it prints against the generator's own digests."""

from __future__ import annotations

import datetime as dt
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

DAYS = 14


def _run_in_pty(cmd: list[str], cwd: Path, timeout: float = 900) -> tuple[int, str]:
    leader, follower = pty.openpty()
    proc = subprocess.Popen(cmd, cwd=cwd, stdin=follower, stdout=follower, stderr=follower, close_fds=True)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    return proc.wait(timeout=timeout), b"".join(chunks).decode("utf-8", errors="replace")


@pytest.mark.slow
def test_demo_runs_every_stage_and_shows_where_the_results_are(tmp_path):
    from digestflow.generate import generate_corpus

    cli = Path(sys.executable).parent / "digestflow"
    code, out = _run_in_pty([str(cli), "demo", "--days", str(DAYS), "--root", "demo", "--master", "local[2]"], tmp_path)
    assert code == 0, out[-4000:]
    text = out.replace("\r", "\n")

    # Each stage's row counts, once, in run order (written out by hand: README "The flow").
    order = [m.group(1) for m in re.finditer(r"^(\w+): \d+ in, \d+ out, \d+ rejected", text, flags=re.MULTILINE)]
    assert order == ["ingest", "terms", "embed", "trends", "erank", "marts"], text[-3000:]
    # Every table it lists exists where it says.
    warehouse = (tmp_path / "demo" / "warehouse").absolute()
    listed = dict(re.findall(r"^  (\w+) +(/\S+)$", text, flags=re.MULTILINE))
    assert {"papers", "rejects", "paper_terms", "embeddings", "keyword_trends", "erank_stats", "daily_summary"} <= set(listed)
    for table, path in listed.items():
        assert Path(path) == warehouse / table, table
        assert Path(path).is_dir(), table
    # The example query's answer equals the generator's paper counts for the last five dates.
    truth = {d.digest_date: len(d.papers) for d in generate_corpus(DAYS)}
    expected = sorted(truth.items(), reverse=True)[:5]
    shown = [(dt.date.fromisoformat(d), int(n)) for d, n in re.findall(r"(\d{4}-\d{2}-\d{2})\s*\|?\s+(\d+)\s*\|?\s*$", text, flags=re.MULTILINE)]
    assert shown[-5:] == expected, text[-2000:]
