# Stage 4: checkpoints -> per-sample predictions (Hive-partitioned Parquet), tables, DuckDB catalog.


rule evaluate_model:
    input:
        unpack(evaluate_inputs),
    output:
        "results/predictions/dataset={dataset}/model={model}/seed={seed}/predictions.parquet",
    log:
        "logs/evaluate/{dataset}/{model}/seed={seed}.log",
    benchmark:
        "benchmarks/rules/evaluate/{dataset}/{model}/seed={seed}.tsv"
    wildcard_constraints:
        dataset=DATASET_PATTERN,
        model=MODEL_PATTERN,
        seed=r"\d+",
    conda:
        "../../envs/torch.yaml"
    resources:
        mem_mb=memory_mb(1500),  # measured peak 0.78 GB at 20,000, 0.76 GB at 70,000 recordings (scale benchmark)
        runtime=30,
    params:
        cfg=dataset_step_config("encoding", "model", "train", "evaluate"),
    shell:
        "python -m beamnet evaluate --dataset {wildcards.dataset} --model {wildcards.model}"
        " --seed {wildcards.seed} --config-json {params.cfg:q} --checkpoint {input.checkpoint}"
        " --test-cache {input.test} --output {output} > {log} 2>&1"


rule summarise_results:
    input:
        predictions=lambda wildcards: prediction_paths(),
        histories=lambda wildcards: history_paths(),
        code=source_files("summarise.py", "stats.py", "metrics.py"),
    output:
        per_seed="results/tables/metrics_per_seed.parquet",
        per_seed_csv="results/tables/metrics_per_seed.csv",
        summary="results/tables/summary.parquet",
        summary_csv=report(
            "results/tables/summary.csv",
            caption="../report/summary.rst",
            category="Results",
            labels={"table": "summary"},
        ),
        summary_md="results/tables/summary.md",
        claims=report(
            "results/tables/claims.csv", caption="../report/claims.rst", category="Results", labels={"table": "claims"}
        ),
        uncertainty_quality="results/tables/uncertainty_quality.parquet",
        uncertainty_quality_csv="results/tables/uncertainty_quality.csv",
        training_targets="results/tables/training_targets.csv",
        training_targets_parquet="results/tables/training_targets.parquet",
        reliability="results/tables/reliability.parquet",
    log:
        "logs/summarise_results.log",
    benchmark:
        "benchmarks/rules/summarise_results.tsv"
    conda:
        "../../envs/torch.yaml"
    resources:
        mem_mb=memory_mb(2000),
        runtime=10,
    params:
        cfg=step_config("model", "train", "evaluate", "claims", "dataset_settings"),
    shell:
        "python -m beamnet summarise --config-json {params.cfg:q} --predictions {input.predictions}"
        " --histories {input.histories} --out-dir results/tables > {log} 2>&1"


rule build_catalog:
    input:
        sql=sorted(str(path) for path in Path(workflow_path("workflow/sql")).glob("V*.sql")),
        tables="results/tables/metrics_per_seed.parquet",
        predictions=lambda wildcards: prediction_paths(),
        code=source_files("catalog.py"),
    output:
        "results/beamnet.duckdb",
    log:
        "logs/build_catalog.log",
    benchmark:
        "benchmarks/rules/build_catalog.tsv"
    conda:
        "../../envs/torch.yaml"
    resources:
        mem_mb=memory_mb(1000),
        runtime=5,
    shell:
        "python -m beamnet catalog --sql {input.sql} --output {output} > {log} 2>&1"
