-- Trino (Hive connector): trend_papers. Generated from schemas/trend_papers.json; do not edit by hand.
CREATE TABLE IF NOT EXISTS hive.digestflow.trend_papers (
  window varchar COMMENT 'keyword_trends.window (''7d'' or ''28d'').',
  list varchar COMMENT '''rising'', ''falling'' or ''new'': the trend_mart list the term is in.',
  rank integer COMMENT 'The term''s rank in that list (trend_mart.rank).',
  term varchar COMMENT 'keyword_trends.term.',
  display_form varchar COMMENT 'keyword_trends.display_form.',
  evidence_rank integer COMMENT '1-based order of the paper under its term: rising/new by term in title first, then occurrences, then latest date; falling by latest date first, then title, then occurrences; ties by paper_id.',
  paper_id varchar COMMENT 'papers.paper_id.',
  digest_date date COMMENT 'The paper''s digest date inside the evidence range (its latest one when it was listed on several days): the target window for rising and new terms, the baseline for falling ones.',
  title varchar COMMENT 'papers.title.',
  in_title boolean COMMENT 'Why picked: the term (one of its forms) occurs in the title; otherwise only in the abstract.',
  tf integer COMMENT 'Why picked: occurrences of the term''s forms in title + abstract.',
  surface varchar COMMENT 'The form the paper uses most (paper_terms.surface), e.g. ''Tensor-Train Adapters'' or ''LLM''.',
  as_of date COMMENT 'Run date of the trends run (partition).'
)
COMMENT 'The papers behind a trend: for every term in the top 10 rising, top 10 falling and the new list of each window at one run date (the lists of trend_mart), up to 5 papers that carry it. Rising and new terms: papers of the target window; falling terms: the most recent papers of the baseline that carried it. A paper carries a term when one of its paper_terms forms folds into the term exactly as the trends stage counted it (plurals, hyphens, case, acronym plurals, merged acronyms). Written by the trends stage; rules in docs/trends.md.'
WITH (
  external_location = '${warehouse}/trend_papers',
  format = 'PARQUET',
  partitioned_by = ARRAY['as_of']
);
-- New partition folders are invisible to Trino until synced (run after every load).
CALL hive.system.sync_partition_metadata(schema_name => 'digestflow', table_name => 'trend_papers', mode => 'FULL');
