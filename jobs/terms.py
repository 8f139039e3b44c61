r"""spark-submit entry point: the ``terms`` stage.

    spark-submit --master spark://HOST:7077 --py-files dist/digestflow-<version>-<hash>.zip \
        jobs/terms.py --start 2025-03-10 --end 2025-03-12 --landing URI --warehouse URI

Flags as ``digestflow terms --help``; the logic lives in the library (docs/scale-out.md).
"""

from __future__ import annotations

from digestflow.submit import job_main

if __name__ == "__main__":
    job_main("terms")
