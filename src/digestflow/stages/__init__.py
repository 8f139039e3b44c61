"""The stages, each declared once (see :class:`digestflow.pipeline.Stage`).

This is the registry: :data:`STAGES` maps each stage's name to its declaration. The run order, the CLI
subcommands, the Airflow tasks, edges and Assets, the stage server's command list and the job entry
point are all derived from it. Importing this package is light (no Spark, no Great Expectations): the
Airflow DAG files import it at parse time; each stage imports its transforms inside ``run``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from digestflow.pipeline import Stage, run_order


@dataclass(frozen=True)
class StageCli:
    """Extra options and modes of a stage's ``digestflow <stage>`` command beyond the shared ones.

    ``options``: click decorators. ``before(settings, params, **extra) -> bool``: runs before Spark
    starts; True means the command is done (e.g. ``trends --show-only``). ``after(settings, params,
    **extra)``: runs after the stage (e.g. ``trends --show``)."""

    options: tuple[Callable[[Any], Any], ...] = ()
    before: Callable[..., bool] | None = None
    after: Callable[..., None] | None = None
    extra: tuple[str, ...] = field(default=())  # the option names ``before``/``after`` receive


def _declared() -> list[Stage]:
    from digestflow.stages import embed, erank, ingest, marts, terms, trends

    return [ingest.STAGE, terms.STAGE, embed.STAGE, trends.STAGE, erank.STAGE, marts.STAGE]


#: name → declaration, in run order.
STAGES: dict[str, Stage] = {}
_found = {s.name: s for s in _declared()}
STAGES.update({name: _found[name] for name in run_order(list(_found.values()))})


def ordered() -> list[Stage]:
    return list(STAGES.values())


def names() -> list[str]:
    return list(STAGES)


__all__ = ["STAGES", "StageCli", "names", "ordered"]
