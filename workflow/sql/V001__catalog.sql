-- BEAM-Net analytics catalog (DuckDB), rebuilt by the build_catalog rule.
-- The views of the BEAM-Net report's Postgres schema, over the Parquet lakehouse under results/.
-- Paths are relative: open the catalog from the project root.

CREATE OR REPLACE VIEW predictions AS
SELECT * FROM read_parquet('results/predictions/*/*/*/predictions.parquet', hive_partitioning = true);

CREATE OR REPLACE VIEW metrics_per_seed AS
SELECT * FROM read_parquet('results/tables/metrics_per_seed.parquet');

-- Latest metrics per dataset and model, aggregated over seeds.
CREATE OR REPLACE VIEW experiment_summary AS
SELECT dataset, model,
       count(*)               AS n_seeds,
       avg(accuracy)          AS accuracy,
       stddev_samp(accuracy)  AS accuracy_std,
       avg(ece)               AS ece,
       avg(nll)               AS nll,
       avg(brier)             AS brier,
       avg(activity)          AS activity,
       avg(energy_nj)         AS energy_nj,
       avg(mean_iterations)   AS mean_iterations
FROM metrics_per_seed
GROUP BY dataset, model;
