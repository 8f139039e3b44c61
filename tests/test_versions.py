"""Version agreement between the Python side and the JVM side of Spark.

Installing ``pyspark-client`` (or another pyspark) next to ``pyspark`` can replace the Python package
while the JVM jars stay at the old version: sessions still start, and things break later in odd ways.
"""

from __future__ import annotations

import re
from pathlib import Path

import pyspark

REPO = Path(__file__).resolve().parents[1]


def test_python_pyspark_equals_jvm_spark(spark) -> None:
    # Both calls go to the JVM (SparkSession.version / JavaSparkContext.version), not to Python metadata.
    assert spark.version == pyspark.__version__
    assert spark.sparkContext._jsc.version() == pyspark.__version__


def test_installed_pyspark_is_the_pinned_one() -> None:
    pins = dict(
        line.split("==", 1) for line in (REPO / "constraints.txt").read_text().splitlines() if "==" in line
    )
    assert pins["pyspark"] == pyspark.__version__
    jars = Path(pyspark.__file__).parent / "jars"
    core = sorted(jars.glob("spark-core_*.jar"))
    assert core, f"no spark-core jar under {jars}"
    assert re.search(rf"-{re.escape(pyspark.__version__)}\.jar$", core[0].name), core[0].name
