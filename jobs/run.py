r"""spark-submit entry point: one stage, or every stage, in one Spark application.

    spark-submit --master spark://HOST:7077 --py-files dist/digestflow-<version>-<hash>.zip \
        jobs/run.py [STAGE] --start 2025-03-10 --end 2025-03-12 --landing URI --warehouse URI

``STAGE`` is any ``digestflow`` stage command (ingest, terms, …) with its flags; without it, every stage
as ``digestflow run``. The logic lives in the library (docs/scale-out.md).
"""

from __future__ import annotations

from digestflow.submit import job_main

if __name__ == "__main__":
    job_main()
