-- DuckDB: one view per digestflow table over its Hive-partitioned Parquet, partition columns typed.
-- Generated from schemas/*.json by `digestflow ddl --engine duckdb --write`; do not edit by hand.
-- ${warehouse} is the warehouse root (an absolute path); `digestflow sql` substitutes it.

-- One digest date: papers, rejects, new vs repeated papers, abstract length, code links and the validation verdict of its ingest partitions. A mart for dashboards (never scan papers for these). Partitioned by month: the marts stage rebuilds every date of the months the run's dates fall in (from the published tables, so re-runs and backfills inside a month agree); n_new_papers looks at every earlier date, so after backfilling an earlier month re-run marts for the later ones.
CREATE OR REPLACE VIEW daily_summary AS
SELECT * FROM read_parquet('${warehouse}/daily_summary/**/*.parquet',
    hive_partitioning = true, hive_types = {'month': VARCHAR}, hive_types_autocast = false, union_by_name = true);

-- One vector per paper per digest date per embedder. Written by the embed stage from papers; a vector depends only on the paper's own title and abstract (stateless embedders), so a daily run and a backfill give the same vectors.
CREATE OR REPLACE VIEW embeddings AS
SELECT * FROM read_parquet('${warehouse}/embeddings/**/*.parquet',
    hive_partitioning = true, hive_types = {'model': VARCHAR, 'digest_date': DATE}, hive_types_autocast = false, union_by_name = true);

-- Effective rank of the calendar embedding sets (day, week, month) over time, for dashboards: erank (depends on set size) and the size-matched erank_at_n with its 95% interval. A projection of erank_stats built by the marts stage; it owns the same (set_kind, period) partitions as the erank stage for the run's dates.
CREATE OR REPLACE VIEW erank_mart AS
SELECT * FROM read_parquet('${warehouse}/erank_mart/**/*.parquet',
    hive_partitioning = true, hive_types = {'set_kind': VARCHAR, 'period': VARCHAR}, hive_types_autocast = false, union_by_name = true);

-- Effective-rank statistics of one embedding set (a day, ISO week, month or top rising term's papers) for one embedder. Written by the erank stage; definitions in docs/design.md#effective-rank and docs/erank.md. erank, erank_rv, stable_rank, numerical_rank and top1_share use the raw (uncentered) singular values; participation_ratio and alpha the centered covariance; mean_cosine the L2-normalised rows. Degenerate sets have NULL statistics and a null_reason.
CREATE OR REPLACE VIEW erank_stats AS
SELECT * FROM read_parquet('${warehouse}/erank_stats/**/*.parquet',
    hive_partitioning = true, hive_types = {'set_kind': VARCHAR, 'period': VARCHAR}, hive_types_autocast = false, union_by_name = true);

-- One term in one window at one run date (as_of): document-frequency shares of the target window vs the baseline window before it, Monroe et al. log-odds z, Kleinberg burst state, Mann-Kendall/Sen on daily shares, first-seen/new flag, and ranks. Only terms that pass the termhood filter and the support floor are listed. Written by the trends stage; method in docs/trends.md.
CREATE OR REPLACE VIEW keyword_trends AS
SELECT * FROM read_parquet('${warehouse}/keyword_trends/**/*.parquet',
    hive_partitioning = true, hive_types = {'as_of': DATE}, hive_types_autocast = false, union_by_name = true);

-- One candidate term (1-3-gram, normalised) in one paper of one digest. Written by the terms stage from papers of the same date only, so a date's partition never depends on other dates; plural folding and the termhood filter need corpus statistics and happen in the trends stage (docs/trends.md).
CREATE OR REPLACE VIEW paper_terms AS
SELECT * FROM read_parquet('${warehouse}/paper_terms/**/*.parquet',
    hive_partitioning = true, hive_types = {'digest_date': DATE}, hive_types_autocast = false, union_by_name = true);

-- One paper in one digest, as parsed from a landing file. Written by the ingest stage.
CREATE OR REPLACE VIEW papers AS
SELECT * FROM read_parquet('${warehouse}/papers/**/*.parquet',
    hive_partitioning = true, hive_types = {'digest_date': DATE}, hive_types_autocast = false, union_by_name = true);

-- One quarantined block or file: every input line that is not a paper lands here with a reason.
CREATE OR REPLACE VIEW rejects AS
SELECT * FROM read_parquet('${warehouse}/rejects/**/*.parquet',
    hive_partitioning = true, hive_types = {'digest_date': DATE}, hive_types_autocast = false, union_by_name = true);

-- One row per stage per run: what went in and what came out. A log (one file per run), not a published table.
CREATE OR REPLACE VIEW run_metrics AS
SELECT * FROM read_parquet('${warehouse}/run_metrics/**/*.parquet',
    hive_partitioning = true, hive_types = {'stage': VARCHAR}, hive_types_autocast = false, union_by_name = true);

-- Weekly document frequency of the terms a trends run lists (ranked in the top N rising or falling of a window, new, or bursting), over that run's lookback: the data behind sparklines. Weeks start on Monday (period_start is a date, never a week number); the first and last week may be partial, so always use share, not df. Written by the trends stage, partitioned like keyword_trends.
CREATE OR REPLACE VIEW term_stats AS
SELECT * FROM read_parquet('${warehouse}/term_stats/**/*.parquet',
    hive_partitioning = true, hive_types = {'as_of': DATE}, hive_types_autocast = false, union_by_name = true);

-- The keyword lists a dashboard shows for one trends run: the top rising and falling terms (by log-odds z) and the top new terms of each window, each with its weekly-share sparkline. Built by the marts stage from keyword_trends and term_stats of the same as_of; at most 3 lists x 10 terms per window.
CREATE OR REPLACE VIEW trend_mart AS
SELECT * FROM read_parquet('${warehouse}/trend_mart/**/*.parquet',
    hive_partitioning = true, hive_types = {'as_of': DATE}, hive_types_autocast = false, union_by_name = true);

-- The papers behind a trend: for every term in the top 10 rising, top 10 falling and the new list of each window at one run date (the lists of trend_mart), up to 5 papers that carry it. Rising and new terms: papers of the target window; falling terms: the most recent papers of the baseline that carried it. A paper carries a term when one of its paper_terms forms folds into the term exactly as the trends stage counted it (plurals, hyphens, case, acronym plurals, merged acronyms). Written by the trends stage; rules in docs/trends.md.
CREATE OR REPLACE VIEW trend_papers AS
SELECT * FROM read_parquet('${warehouse}/trend_papers/**/*.parquet',
    hive_partitioning = true, hive_types = {'as_of': DATE}, hive_types_autocast = false, union_by_name = true);

-- One suite run on one partition: what the validation gate decided and why. A log (one file per run per table), not a published table; chart pass rates from it.
CREATE OR REPLACE VIEW validation_results AS
SELECT * FROM read_parquet('${warehouse}/validation_results/**/*.parquet',
    hive_partitioning = true, hive_types = {'table_name': VARCHAR}, hive_types_autocast = false, union_by_name = true);
