-- Spark SQL: keyword_trends. Generated from schemas/keyword_trends.json; do not edit by hand.
-- spark-sql --hivevar warehouse=/abs/warehouse -f sql/spark/keyword_trends.sql
CREATE TABLE IF NOT EXISTS digestflow.keyword_trends (
  term STRING COMMENT 'Canonical term: paper_terms.term with the head noun''s plural folded when the singular occurs in the lookback.',
  display_form STRING COMMENT 'Most frequent surface form of the term over the lookback (papers counted), ties broken by the larger string.',
  n_tokens INT COMMENT 'Words in the term (1-3).',
  window STRING COMMENT 'Target window length: ''7d'' or ''28d'' (calendar days ending at as_of, inclusive).',
  target_start DATE COMMENT 'First day of the target window.',
  baseline_start DATE COMMENT 'First day of the baseline window; it ends the day before target_start.',
  df_target BIGINT COMMENT 'Papers in the target window mentioning the term.',
  df_baseline BIGINT COMMENT 'Papers in the baseline window mentioning the term.',
  n_target BIGINT COMMENT 'Papers in the target window.',
  n_baseline BIGINT COMMENT 'Papers in the baseline window.',
  share_target DOUBLE COMMENT 'df_target / n_target (NULL when the window has no papers).',
  share_baseline DOUBLE COMMENT 'df_baseline / n_baseline (NULL when the window has no papers).',
  logodds_delta DOUBLE COMMENT 'Log-odds ratio with informative Dirichlet prior (Monroe, Colaresi & Quinn 2008), target vs baseline; prior from smoothed baseline shares.',
  logodds_z DOUBLE COMMENT 'logodds_delta / its standard error: > 0 rising, < 0 falling. Ranks are by this.',
  burst_active BOOLEAN COMMENT 'Kleinberg two-state automaton (s=2, gamma=1, exact Viterbi) on daily (df, papers) over the lookback is in the burst state on as_of.',
  burst_start DATE COMMENT 'First day of the burst active on as_of, else NULL.',
  mk_z DOUBLE COMMENT 'Mann-Kendall Z on the daily shares (days with papers) over the lookback; NULL with fewer than the minimum number of points.',
  mk_p DOUBLE COMMENT 'Two-sided Mann-Kendall p-value (NULL as mk_z).',
  sen_slope DOUBLE COMMENT 'Sen''s slope of the daily share (days with papers, at their calendar positions), in share per calendar day (NULL as mk_z).',
  first_seen DATE COMMENT 'First day within the lookback (baseline start of the longest window .. as_of) the term occurs; a term older than the lookback shows the lookback''s first day with it.',
  is_new BOOLEAN COMMENT 'first_seen falls in the target window, the term is absent from the baseline, df_target reaches the new-term floor, and no nested/containing new term carries the same papers (the longer phrase is kept). New terms are their own list: the log-odds shrinkage rightly keeps them from the top of the z ranking.',
  suppressed_by STRING COMMENT 'For a term with |z| >= 1 left out of the rising or falling ranking because a nested or containing phrase carries the same signal (trendstats.suppress_nested): that phrase. NULL otherwise.',
  rank_rising INT COMMENT '1 = strongest riser: rank by logodds_z descending among terms with z > 0 not suppressed, ties by term. NULL otherwise.',
  rank_falling INT COMMENT '1 = strongest faller: rank by logodds_z ascending among terms with z < 0 not suppressed, ties by term. NULL otherwise.',
  as_of DATE COMMENT 'Run date: the last day of every target window (partition).'
)
USING parquet
PARTITIONED BY (as_of)
LOCATION '${warehouse}/keyword_trends'
COMMENT 'One term in one window at one run date (as_of): document-frequency shares of the target window vs the baseline window before it, Monroe et al. log-odds z, Kleinberg burst state, Mann-Kendall/Sen on daily shares, first-seen/new flag, and ranks. Only terms that pass the termhood filter and the support floor are listed. Written by the trends stage; method in docs/trends.md.';
-- Register partition folders written since the last repair.
MSCK REPAIR TABLE digestflow.keyword_trends;
