"""Shared fixtures: one local SparkSession per test session, the real-data folder, synthetic landings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PYARROW_IGNORE_TIMEZONE", "1")

REPO = Path(__file__).resolve().parents[1]

# Property tests: random examples by default (new inputs on every run find new bugs; a failure is saved
# in .hypothesis/ and replayed first); HYPOTHESIS_PROFILE=ci (set by .ci/run) checks a fixed set, so a
# landing never depends on the draw. Run with --hypothesis-seed=N to reproduce a reported failure.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
SHARED = Path(os.environ.get("DIGESTFLOW_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (real digests + manifest); tests that need it skip with the reason when absent."""
    data = SHARED / "data"
    if not (data / "hf-daily").is_dir() or not (data / "hf-daily.manifest.jsonl").is_file():
        pytest.skip(f"real dev digests not found at {data} (set DIGESTFLOW_SHARED to the shared/ folder)")
    return data


@pytest.fixture(scope="session")
def seed_dir() -> Path:
    seed = SHARED / "seed"
    if not seed.is_dir():
        pytest.skip(f"seed digest not found at {seed}")
    return seed


@pytest.fixture(scope="session")
def spark():
    """One SparkSession for the whole test session: local[2], UTC, UI off (docs/conventions.md#tests)."""
    from digestflow.settings import Settings
    from digestflow.spark import build_session

    session = build_session(
        Settings.from_env().replace(spark_master="local[2]", shuffle_partitions=2, driver_memory="2g"),
        app_name="digestflow-tests",
    )
    yield session
    session.stop()


# ---------------------------------------------------------------------- one full pipeline run (marts, SQL, dashboard)


class PipelineRun:
    """A warehouse built by every registered stage from synthetic digests, plus the digests as landed.

    One digest (``bad_date``) carries two planted faults: a repeated paper (→ one ``duplicate_in_digest``
    reject) and a paper whose abstract is too short (→ the papers suite fails, the date is blocked).
    """

    def __init__(self, landing: Path, warehouse: Path, digests: list, bad_date, blocked: str) -> None:
        self.landing, self.warehouse, self.digests = landing, warehouse, digests
        self.bad_date, self.blocked = bad_date, blocked
        self.start = min(d.digest_date for d in digests)
        self.end = max(d.digest_date for d in digests)

    @property
    def published(self) -> list:
        """Digests whose papers were published (the blocked date's papers were not)."""
        return [d for d in self.digests if d.digest_date != self.bad_date]


@pytest.fixture(scope="session")
def pipeline_run(spark, tmp_path_factory) -> PipelineRun:
    """``digestflow run`` (every stage, one Spark session) over 35 days of synthetic digests, once per session."""
    import dataclasses
    import datetime as dt

    from digestflow.generate import generate_corpus, write_corpus
    from digestflow.pipeline import GateFailed
    from digestflow.runner import make_context
    from digestflow.runner import run as run_stages
    from digestflow.settings import Settings

    root = tmp_path_factory.mktemp("pipeline")
    digests = generate_corpus(35, start=dt.date(2025, 1, 6), seed=3)
    bad = digests[10]
    broken = [*bad.papers, bad.papers[0], ("A Deliberately Broken Entry", "Too short.")]
    digests[10] = dataclasses.replace(bad, papers=broken)
    write_corpus(digests, root / "landing")
    settings = Settings.from_env().replace(
        landing=str(root / "landing"), warehouse=str(root / "warehouse"), spark_master="local[2]",
        shuffle_partitions=2, validate=True,
    )
    ctx = make_context(
        spark=spark, settings=settings, start=digests[0].digest_date, end=digests[-1].digest_date,
        today=dt.date(2025, 12, 31),
    )
    blocked = ""
    try:
        run_stages(ctx)
    except GateFailed as exc:  # the planted bad day is meant to be blocked
        blocked = str(exc)
    return PipelineRun(root / "landing", root / "warehouse", digests, bad.digest_date, blocked)


#: The longest modules, started first (with ``--no-loadscope-reorder`` xdist keeps this order; its
#: default sorts modules by test count, which left the 3-test, 28-minute Airflow module for last).
LONGEST_FIRST = ("test_airflow_e2e", "test_cluster", "test_crash_safety", "test_cli_demo")


def pytest_collection_modifyitems(config, items):
    def rank(item) -> int:
        module = item.nodeid.split("::", 1)[0].rsplit("/", 1)[-1].removesuffix(".py")
        return LONGEST_FIRST.index(module) if module in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: each module's tests stay together and in order
