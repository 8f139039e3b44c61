"""Two hot spots of Great Expectations 1.24's validation loop, computed once instead of once per key.

Every audit of a small table runs GE's pandas engine in the driver, ~13 per daily run (one per published
table), each 0.1–0.4 s of driver Python; on two cores that time competes with the Spark jobs of the
stages beside it. A profile of one audit (keyword_trends, 57 expectations) spends about a third of it
rebuilding the same values:

- ``Expectation.configuration`` (a property) builds a new ``ExpectationConfiguration`` from the pydantic
  model at each read: ``self.dict()`` plus ``camel_to_snake`` of the class name, two regular-expression
  passes. ``_get_domain_kwargs`` and ``_get_success_kwargs`` read it inside a dict comprehension, once
  per key: ~9 builds per expectation per validation.
- ``camel_to_snake`` is a pure function of a class name.

:func:`apply` makes ``camel_to_snake`` (as GE's expectation module calls it) remember its answers and
replaces the two methods with versions that read ``self.configuration`` once per call; the values are
the ones GE computes (``tests/test_validate.py`` compares them with GE's own methods for every
expectation of every suite, both engines). It patches GE 1.24 only (the version these methods were read
in, pinned in constraints.txt); with another version GE runs unchanged. An upstream fix would read the
configuration once in those methods.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

log = logging.getLogger("digestflow.gx_speedups")

#: GE versions whose ``Expectation`` methods these replacements were checked against.
VERSIONS = ("1.24.",)

_originals: dict[str, Any] = {}


def _get_domain_kwargs(self: Any) -> dict[str, Any]:
    kwargs = self.configuration.kwargs  # once, not once per domain key
    return {key: kwargs.get(key, self._get_default_value(key)) for key in self.domain_keys}


def _get_success_kwargs(self: Any) -> dict[str, Any]:
    domain_kwargs = self._get_domain_kwargs()
    kwargs = self.configuration.kwargs  # once, not once per success key
    success_kwargs = {key: kwargs.get(key, self._get_default_value(key)) for key in self.success_keys}
    success_kwargs.update(domain_kwargs)
    return success_kwargs


def apply() -> bool:
    """Patch GE (idempotent); False when its version is not one of :data:`VERSIONS`."""
    import great_expectations
    from great_expectations.expectations import expectation

    if not great_expectations.__version__.startswith(VERSIONS):
        log.debug("great_expectations %s: not patched", great_expectations.__version__)
        return False
    if _originals:
        return True
    cls = expectation.Expectation
    _originals.update(camel_to_snake=expectation.camel_to_snake, domain=cls._get_domain_kwargs,
                      success=cls._get_success_kwargs)
    expectation.camel_to_snake = functools.lru_cache(maxsize=1024)(expectation.camel_to_snake)
    cls._get_domain_kwargs = _get_domain_kwargs
    cls._get_success_kwargs = _get_success_kwargs
    return True


def restore() -> None:
    """Undo :func:`apply` (tests and benchmarks compare both)."""
    if not _originals:
        return
    from great_expectations.expectations import expectation

    expectation.camel_to_snake = _originals.pop("camel_to_snake")
    expectation.Expectation._get_domain_kwargs = _originals.pop("domain")
    expectation.Expectation._get_success_kwargs = _originals.pop("success")
