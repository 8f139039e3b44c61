"""Metrics computed on plain Python/numpy data, free of Spark so they can be tested and reused anywhere.

`trendstats` scores rising and falling keywords; `termseries` reduces one partition of the trends
stage's shuffle by term to per-term daily series (numpy and pyarrow); `spectrum` holds the
effective-rank statistics of embedding sets (docs/design.md#effective-rank): an exact SVD route for sets that fit in memory and a
mergeable float64 Gram accumulator for sets that do not.
"""
