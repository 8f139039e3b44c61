"""digestflow: paper digests → validated Parquet tables, keyword trends and effective-rank statistics."""

from __future__ import annotations

__version__ = "0.1.0"
