"""Shared fixtures: one local SparkSession per test session, the real-data folder, synthetic landings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PYARROW_IGNORE_TIMEZONE", "1")

REPO = Path(__file__).resolve().parents[1]
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
    """One SparkSession for the whole test session: local[2], UTC, UI off (STYLE.md §8)."""
    from digestflow.settings import Settings
    from digestflow.spark import build_session

    session = build_session(
        Settings().replace(spark_master="local[2]", shuffle_partitions=2, driver_memory="2g"),
        app_name="digestflow-tests",
    )
    yield session
    session.stop()
