"""The one spark-submit entry point (``jobs/run.py``): the CLI's stage commands, same flags.

    spark-submit [--master …] [--py-files dist/digestflow-*.zip] jobs/run.py [STAGE] --date D

runs exactly what ``digestflow STAGE --date D`` runs; without a STAGE, every stage (``digestflow run``).
The stages come from their declarations (:data:`digestflow.stages.STAGES`). The master, ``--conf``
values and ``--py-files`` given to spark-submit win over settings (see :func:`digestflow.spark.build_session`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

#: The command that runs every stage in one application.
ALL_STAGES = "run"


def job_argv(argv: Sequence[str]) -> list[str]:
    """``[STAGE] --flags…`` → the ``digestflow`` command line it stands for."""
    from digestflow.stages import STAGES

    args = list(argv)
    if args and not args[0].startswith("-"):
        if args[0] not in {*STAGES, ALL_STAGES}:
            raise SystemExit(f"unknown stage {args[0]!r}: expected one of {', '.join([*STAGES, ALL_STAGES])}")
        return args
    return [ALL_STAGES, *args]


def job_main(argv: Sequence[str] | None = None) -> None:
    """Parse ``argv`` (default ``sys.argv[1:]``) and run it; exits like a CLI command."""
    from digestflow.cli import _setup_logging, main

    _setup_logging(verbose=False)
    main.main(args=job_argv(sys.argv[1:] if argv is None else argv), prog_name="jobs/run.py")
