"""The one body behind every ``jobs/<stage>.py``: spark-submit entry points with the CLI's flags.

``spark-submit [--master …] [--py-files dist/digestflow-*.zip] jobs/<stage>.py --date D`` runs exactly
what ``digestflow <stage> --date D`` runs; ``jobs/run.py`` runs every registered stage in
:data:`~digestflow.pipeline.RUN_ORDER`. The master, ``--conf`` values and ``--py-files`` given to
spark-submit win over settings (see :func:`digestflow.spark.build_session`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import click

#: ``run`` = every stage in order, in one application.
ALL_STAGES = "run"


def job_command(stage: str) -> click.Command:
    """A click command for ``jobs/<stage>.py`` with the same options as ``digestflow <stage>``."""
    from digestflow.cli import _run, _settings, range_options

    @click.command(name=stage, context_settings={"help_option_names": ["-h", "--help"]})
    @range_options
    def command(
        date: Any, start: Any, end: Any, landing: Any, warehouse: Any, master: Any, no_validate: bool
    ) -> None:
        from digestflow.pipeline import available_stages

        names = available_stages() if stage == ALL_STAGES else [stage]
        _run(names, date, start, end, _settings(landing, warehouse, master, no_validate))

    what = "every stage in RUN_ORDER, in one Spark application" if stage == ALL_STAGES else f"the {stage} stage"
    command.help = f"spark-submit entry point: {what} (same flags as `digestflow {stage}`)."
    return command


def job_main(stage: str, argv: Sequence[str] | None = None) -> None:
    """Parse ``argv`` (default ``sys.argv[1:]``) and run ``stage``; exits like a CLI command."""
    from digestflow.cli import _setup_logging
    from digestflow.pipeline import RUN_ORDER

    if stage != ALL_STAGES and stage not in RUN_ORDER:
        raise SystemExit(f"unknown stage {stage!r}: expected one of {', '.join([*RUN_ORDER, ALL_STAGES])}")
    from digestflow.cli import main

    _setup_logging(verbose=False)
    args = list(sys.argv[1:] if argv is None else argv)
    if stage in main.commands:  # the CLI's own command: identical flags and behaviour
        main.main(args=[stage, *args], prog_name="digestflow")
    else:  # a stage with no dedicated CLI command yet: the shared --date/--start/--end options
        job_command(stage).main(args=args, prog_name=f"jobs/{stage}.py")
