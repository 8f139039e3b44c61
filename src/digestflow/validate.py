"""Validation gate (placeholder until the Great Expectations gate lands): passes every partition."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from digestflow.io import Staged
    from digestflow.pipeline import RunContext


@dataclass
class Verdict:
    passed: list[dict[str, Any]]
    messages: list[str] = field(default_factory=list)


def audit(ctx: RunContext, staged: Staged) -> Verdict:
    return Verdict(passed=list(staged.partitions))
