# Stage 5a: the energy sweep (Eq. 25 over the number of stored patterns N and LIF steps T).
# One small BEAM-Net per dataset x N (energy.train_epochs epochs), counted at every T; then the
# sweep and crossing tables. Widen the grid with --config or config.yaml's `energy:` section.


rule energy_point:
    input:
        unpack(energy_point_inputs),
    output:
        "results/energy/points/{dataset}/n={n_patterns}.parquet",
    log:
        "logs/energy/{dataset}/n={n_patterns}.log",
    benchmark:
        "benchmarks/rules/energy/{dataset}/n={n_patterns}.tsv"
    wildcard_constraints:
        dataset=DATASET_PATTERN,
        n_patterns=r"\d+",
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=memory_mb(3000),
        runtime=30,
    params:
        cfg=step_config("encoding", "model", "train", "evaluate", "energy"),
    shell:
        "python -m beamnet energy-point --dataset {wildcards.dataset} --n-patterns {wildcards.n_patterns}"
        " --config-json {params.cfg:q} --train-cache {input.train} --val-cache {input.val}"
        " --test-cache {input.test} --threads {threads} --output {output} > {log} 2>&1"


rule energy_tables:
    input:
        points=lambda wildcards: energy_point_paths(active_datasets()),
        code=source_files("energy_sweep.py", "energy.py"),
    output:
        sweep="results/energy/sweep.parquet",
        sweep_csv="results/energy/sweep.csv",
        crossings="results/energy/crossings.parquet",
        crossings_csv="results/energy/crossings.csv",
    log:
        "logs/energy/tables.log",
    benchmark:
        "benchmarks/rules/energy/tables.tsv"
    conda:
        "../../envs/torch.yaml"
    resources:
        mem_mb=memory_mb(1000),
        runtime=5,
    shell:
        "python -m beamnet energy-tables --points {input.points} --out-dir results/energy > {log} 2>&1"
