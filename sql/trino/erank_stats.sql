-- Trino (Hive connector): erank_stats. Generated from schemas/erank_stats.json; do not edit by hand.
CREATE TABLE IF NOT EXISTS hive.digestflow.erank_stats (
  set_key varchar COMMENT 'The set inside its kind: ''YYYY-MM-DD'' (day), the week''s Monday ''YYYY-MM-DD'' (week), ''YYYY-MM'' (month), the term (term), the set column''s value or file name (external).',
  model varchar COMMENT 'Embedder (embeddings.model).',
  set_start date COMMENT 'First digest date the set covers (term: the target window''s first day). NULL for external sets.',
  set_end date COMMENT 'Last digest date the set covers (term: as_of). NULL for external sets.',
  n bigint COMMENT 'Rows (papers) in the set, NaN rows included.',
  d integer COMMENT 'Embedding dimension.',
  erank double COMMENT 'RankMe effective rank exp(-sum p ln p), p_k = s_k/sum(s) + eps, raw (uncentered) X, eps in column eps.',
  erank_rv double COMMENT 'Roy-Vetterli effective rank: erank with eps = 0.',
  erank_at_n double COMMENT 'Size-matched erank: mean RankMe erank of erank_at_n_b random subsamples of erank_at_n_m rows (seeded), drawn from the set''s pool (the whole set up to the pool size, else a seeded uniform sample). NULL when n < erank_at_n_m.',
  erank_ci_low double COMMENT 'Lower end of the central 95% interval of the subsample eranks behind erank_at_n.',
  erank_ci_high double COMMENT 'Upper end of the central 95% interval of the subsample eranks behind erank_at_n.',
  erank_at_n_m integer COMMENT 'Subsample size m of erank_at_n.',
  erank_at_n_b integer COMMENT 'Number of subsamples B of erank_at_n.',
  stable_rank double COMMENT 'sum(s^2) / s_1^2 of raw X.',
  participation_ratio double COMMENT '(sum lambda)^2 / sum lambda^2, lambda = eigenvalues of the centered covariance. NULL when all rows are equal.',
  numerical_rank integer COMMENT 'Count of s_k > s_1 * max(n, d) * machine eps (numpy''s rule), raw X. The gram route cannot resolve singular values below ~1e-7 s_1 and usually reports full rank.',
  alpha double COMMENT 'alpha-ReQ: minus the least-squares slope of ln lambda_k on ln k over ranks alpha_fit_lo..alpha_fit_hi of the centered covariance eigenvalues.',
  alpha_fit_lo integer COMMENT 'First 1-based eigenvalue rank of the alpha fit.',
  alpha_fit_hi integer COMMENT 'Last 1-based eigenvalue rank of the alpha fit: min(n - 1, d), cut before the first eigenvalue <= 1e-12 lambda_1.',
  mean_cosine double COMMENT 'Mean pairwise cosine of the L2-normalised nonzero rows: (||sum u_i||^2 - n'') / (n''(n'' - 1)).',
  top1_share double COMMENT 's_1 / sum(s) of raw X: share of the nuclear norm in the top direction.',
  n_nonfinite_rows bigint COMMENT 'Rows with a NaN/inf (or missing) value; any makes the set NULL with null_reason ''nonfinite_rows''.',
  null_reason varchar COMMENT 'Why the statistics are NULL: ''nonfinite_rows'', ''n<2'', ''zero_matrix'' or ''ragged_vectors'' (rows of different lengths). NULL for a measured set.',
  route varchar COMMENT 'How the set was measured: ''exact'' (float64 SVD of the rows) or ''gram'' (float64 n, sum x, X''X accumulated across partitions, d x d eigendecomposition).',
  eps double COMMENT 'The RankMe epsilon used for erank and erank_at_n (1e-7).',
  computed_at timestamp(3) COMMENT 'When the erank run wrote the row (UTC). Provenance: differs between re-runs.',
  set_kind varchar COMMENT 'day, week, month, term or external (partition).',
  period varchar COMMENT 'Partition inside the kind: the month ''YYYY-MM'' of the set''s start for day/week/month sets, as_of ''YYYY-MM-DD'' for term sets, ''external'' for external sets. A run recomputes whole periods (docs/erank.md).'
)
COMMENT 'Effective-rank statistics of one embedding set (a day, ISO week, month or top rising term''s papers) for one embedder. Written by the erank stage; definitions in docs/design.md#effective-rank and docs/erank.md. erank, erank_rv, stable_rank, numerical_rank and top1_share use the raw (uncentered) singular values; participation_ratio and alpha the centered covariance; mean_cosine the L2-normalised rows. Degenerate sets have NULL statistics and a null_reason.'
WITH (
  external_location = '${warehouse}/erank_stats',
  format = 'PARQUET',
  partitioned_by = ARRAY['set_kind', 'period']
);
-- New partition folders are invisible to Trino until synced (run after every load).
CALL hive.system.sync_partition_metadata(schema_name => 'digestflow', table_name => 'erank_stats', mode => 'FULL');
