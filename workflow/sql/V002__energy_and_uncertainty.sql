-- Table 1 of the report: energy per inference and its reduction against GPU attention (150 nJ,
-- the BEAM-Net README's anchor); and the uncertainty analytics of Eqs. 14-15.

CREATE OR REPLACE VIEW energy_comparison AS
SELECT dataset, model,
       avg(energy_nj)              AS energy_nj,
       avg(synaptic_ops)           AS synaptic_ops,
       avg(macs)                   AS macs,
       150.0 / avg(energy_nj)      AS reduction_vs_gpu_attention,
       avg(energy_nj) / 0.77       AS ratio_to_cortex
FROM metrics_per_seed
GROUP BY dataset, model;

CREATE OR REPLACE VIEW uncertainty_vs_correctness AS
SELECT dataset, model, is_correct,
       count(*)                    AS n,
       avg(total_uncertainty)      AS total_uncertainty,
       avg(aleatoric_uncertainty)  AS aleatoric_uncertainty,
       avg(epistemic_uncertainty)  AS epistemic_uncertainty,
       avg(confidence)             AS confidence
FROM predictions
GROUP BY dataset, model, is_correct;
