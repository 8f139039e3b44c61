"""jobs/ (spark-submit entry points) and the library zip shipped to executors. No Spark here: fast."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from digestflow import schemas
from digestflow.bundle import build_library_zip
from digestflow.generate import generate_corpus, render_digest

REPO = Path(__file__).resolve().parents[1]
JOBS = REPO / "jobs"


def test_one_generic_job_file() -> None:
    assert sorted(p.name for p in JOBS.glob("*.py")) == ["run.py"]
    assert len((JOBS / "run.py").read_text(encoding="utf-8").splitlines()) <= 20, "jobs/run.py is not thin"


def test_job_runs_any_stage_command_with_its_flags() -> None:
    out = subprocess.run(
        [sys.executable, str(JOBS / "run.py"), "trends", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for flag in ("--as-of", "--window", "--baseline", "--warehouse"):
        assert flag in out
    bad = subprocess.run([sys.executable, str(JOBS / "run.py"), "nosuchstage"], capture_output=True, text=True)
    assert bad.returncode != 0
    assert "unknown stage 'nosuchstage'" in bad.stderr


def test_job_help_shows_the_cli_flags() -> None:
    out = subprocess.run(
        [sys.executable, str(JOBS / "run.py"), "--help"], capture_output=True, text=True, check=True
    ).stdout
    for flag in ("--start", "--end", "--date", "--warehouse", "--landing", "--master"):
        assert flag in out


def test_job_rejects_a_missing_date_without_starting_spark() -> None:
    result = subprocess.run(
        [sys.executable, str(JOBS / "run.py"), "ingest", "--warehouse", "file:///nonexistent"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert "--date" in result.stderr


def test_library_zip_alone_imports_and_parses(tmp_path: Path) -> None:
    """The zip is all an executor gets: run a Python with no site-packages and only the zip on sys.path."""
    archive = build_library_zip(tmp_path)
    with zipfile.ZipFile(archive) as zf:
        names = set(zf.namelist())
    assert "digestflow/ingest.py" in names
    assert {f"digestflow/_resources/schemas/{t}.json" for t in schemas.tables()} <= names
    assert build_library_zip(tmp_path) == archive  # unchanged sources: same content hash, same file

    digest = generate_corpus(1, seed=3)[0]
    sample = tmp_path / f"{digest.digest_date.isoformat()}.txt"
    sample.write_text(render_digest(digest.digest_date, digest.papers), encoding="utf-8")
    code = (
        "import sys, json, datetime\n"
        f"sys.path.insert(0, {str(archive)!r})\n"
        "import digestflow.schemas as s, digestflow.parsing as p\n"
        "assert '.zip' in s.__file__, s.__file__\n"
        f"r = p.parse_digest(open({str(sample)!r}, 'rb').read(), source='x.txt', "
        f"run_date=datetime.date.fromisoformat({digest.digest_date.isoformat()!r}), "
        f"latest_date=datetime.date.fromisoformat({digest.digest_date.isoformat()!r}))\n"
        "print(json.dumps({'tables': s.tables(), 'papers_cols': s.load('papers').names,"
        " 'titles': [x['title'] for x in r.papers]}))\n"
    )
    # -I -S: no site-packages, no editable install, no PYTHONPATH; only the zip provides digestflow.
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert out.returncode == 0, out.stderr
    import json

    got = json.loads(out.stdout)
    assert got["tables"] == schemas.tables()
    assert got["papers_cols"] == schemas.load("papers").names
    assert got["titles"] == [title for title, _abstract in digest.papers]
