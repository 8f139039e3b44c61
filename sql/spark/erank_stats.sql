-- Spark SQL: erank_stats. Generated from schemas/erank_stats.json; do not edit by hand.
-- spark-sql --hivevar warehouse=/abs/warehouse -f sql/spark/erank_stats.sql
CREATE TABLE IF NOT EXISTS digestflow.erank_stats (
  set_key STRING COMMENT 'The set inside its kind: ''YYYY-MM-DD'' (day), the week''s Monday ''YYYY-MM-DD'' (week), ''YYYY-MM'' (month), the term (term), the set column''s value or file name (external).',
  model STRING COMMENT 'Embedder (embeddings.model).',
  set_start DATE COMMENT 'First digest date the set covers (term: the target window''s first day). NULL for external sets.',
  set_end DATE COMMENT 'Last digest date the set covers (term: as_of). NULL for external sets.',
  n BIGINT COMMENT 'Rows (papers) in the set, NaN rows included.',
  d INT COMMENT 'Embedding dimension.',
  erank DOUBLE COMMENT 'RankMe effective rank exp(-sum p ln p), p_k = s_k/sum(s) + eps, raw (uncentered) X, eps in column eps.',
  erank_rv DOUBLE COMMENT 'Roy-Vetterli effective rank: erank with eps = 0.',
  erank_at_n DOUBLE COMMENT 'Size-matched erank: mean RankMe erank of erank_at_n_b random subsamples of erank_at_n_m rows (seeded), drawn from the set''s pool (the whole set up to the pool size, else a seeded uniform sample). NULL when n < erank_at_n_m.',
  erank_ci_low DOUBLE COMMENT 'Lower end of the central 95% interval of the subsample eranks behind erank_at_n.',
  erank_ci_high DOUBLE COMMENT 'Upper end of the central 95% interval of the subsample eranks behind erank_at_n.',
  erank_at_n_m INT COMMENT 'Subsample size m of erank_at_n.',
  erank_at_n_b INT COMMENT 'Number of subsamples B of erank_at_n.',
  stable_rank DOUBLE COMMENT 'sum(s^2) / s_1^2 of raw X.',
  participation_ratio DOUBLE COMMENT '(sum lambda)^2 / sum lambda^2, lambda = eigenvalues of the centered covariance. NULL when all rows are equal.',
  numerical_rank INT COMMENT 'Count of s_k > s_1 * max(n, d) * machine eps (numpy''s rule), raw X. The gram route cannot resolve singular values below ~1e-7 s_1 and usually reports full rank.',
  alpha DOUBLE COMMENT 'alpha-ReQ: minus the least-squares slope of ln lambda_k on ln k over ranks alpha_fit_lo..alpha_fit_hi of the centered covariance eigenvalues.',
  alpha_fit_lo INT COMMENT 'First 1-based eigenvalue rank of the alpha fit.',
  alpha_fit_hi INT COMMENT 'Last 1-based eigenvalue rank of the alpha fit: min(n - 1, d), cut before the first eigenvalue <= 1e-12 lambda_1.',
  mean_cosine DOUBLE COMMENT 'Mean pairwise cosine of the L2-normalised nonzero rows: (||sum u_i||^2 - n'') / (n''(n'' - 1)).',
  top1_share DOUBLE COMMENT 's_1 / sum(s) of raw X: share of the nuclear norm in the top direction.',
  n_nonfinite_rows BIGINT COMMENT 'Rows with a NaN/inf (or missing) value; any makes the set NULL with null_reason ''nonfinite_rows''.',
  null_reason STRING COMMENT 'Why the statistics are NULL: ''nonfinite_rows'', ''n<2'', ''zero_matrix'' or ''ragged_vectors'' (rows of different lengths). NULL for a measured set.',
  route STRING COMMENT 'How the set was measured: ''exact'' (float64 SVD of the rows) or ''gram'' (float64 n, sum x, X''X accumulated across partitions, d x d eigendecomposition).',
  eps DOUBLE COMMENT 'The RankMe epsilon used for erank and erank_at_n (1e-7).',
  computed_at TIMESTAMP COMMENT 'When the erank run wrote the row (UTC). Provenance: differs between re-runs.',
  set_kind STRING COMMENT 'day, week, month, term or external (partition).',
  period STRING COMMENT 'Partition inside the kind: the month ''YYYY-MM'' of the set''s start for day/week/month sets, as_of ''YYYY-MM-DD'' for term sets, ''external'' for external sets. A run recomputes whole periods (docs/erank.md).'
)
USING parquet
PARTITIONED BY (set_kind, period)
LOCATION '${warehouse}/erank_stats'
COMMENT 'Effective-rank statistics of one embedding set (a day, ISO week, month or top rising term''s papers) for one embedder. Written by the erank stage; definitions in docs/design.md#effective-rank and docs/erank.md. erank, erank_rv, stable_rank, numerical_rank and top1_share use the raw (uncentered) singular values; participation_ratio and alpha the centered covariance; mean_cosine the L2-normalised rows. Degenerate sets have NULL statistics and a null_reason.';
-- Register partition folders written since the last repair.
MSCK REPAIR TABLE digestflow.erank_stats;
