# Stage 3b: hyper-parameters chosen by stratified k-fold cross-validation on the training split
# (train + val caches; the test cache is never an input). `snakemake tune` runs the grid alone.
# A job's params are its variant's own configuration, so adding a variant reruns only its jobs.


rule tune_fold:
    input:
        unpack(tune_fold_inputs),
    output:
        "results/tuning/folds/{dataset}/{model}/{variant}/fold={fold}/seed={seed}.parquet",
    log:
        "logs/tune/{dataset}/{model}/{variant}/fold={fold}/seed={seed}.log",
    benchmark:
        "benchmarks/rules/tune/{dataset}/{model}/{variant}/fold={fold}/seed={seed}.tsv"
    wildcard_constraints:
        dataset=DATASET_PATTERN,
        model=MODEL_PATTERN,
        variant=r"[A-Za-z0-9_.-]+",
        fold=r"\d+",
        seed=r"\d+",
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=memory_mb(1500),  # as train_model: batches are read from the caches, as in training
        runtime=60,
    params:
        cfg=tune_fold_config,
        folds=config["tuning"]["folds"],
        split_seed=config["tuning"]["split_seed"],
    shell:
        "python -m beamnet tune-fold --dataset {wildcards.dataset} --model {wildcards.model}"
        " --variant {wildcards.variant} --fold {wildcards.fold} --folds {params.folds}"
        " --split-seed {params.split_seed} --seed {wildcards.seed}"
        " --config-json {params.cfg:q} --threads {threads} --train-cache {input.train}"
        " --val-cache {input.val} --output {output} > {log} 2>&1"


rule record_tuning:
    input:
        folds=lambda wildcards: tuning_fold_paths(),
        code=source_files("tuning.py"),
    output:
        folds="results/tuning/folds.parquet",
        folds_csv="results/tuning/folds.csv",
        summary="results/tuning/summary.parquet",
        summary_csv="results/tuning/summary.csv",
        winners="results/tuning/winners.csv",
        markdown="results/tuning/tuning.md",
        comparison="results/tuning/comparison.csv",
        pareto="results/tuning/pareto.parquet",
    log:
        "logs/tune/record_tuning.log",
    benchmark:
        "benchmarks/rules/tune/record_tuning.tsv"
    conda:
        "../../envs/torch.yaml"
    resources:
        mem_mb=memory_mb(1000),
        runtime=5,
    params:
        cfg=step_config("tuning"),
    shell:
        "python -m beamnet tune-record --config-json {params.cfg:q} --folds {input.folds}"
        " --out-dir results/tuning > {log} 2>&1"


rule tune:
    input:
        rules.record_tuning.output,


rule plot_pareto:
    input:
        notebook=workflow_path("notebooks/pareto.ipynb"),
        pareto=rules.record_tuning.output.pareto,
        code=source_files(*PAPER_CODE),
    output:
        notebook="results/notebooks/pareto.ipynb",
        pareto=report(
            "results/figures/energy_accuracy_pareto.png",
            caption="../../paper/captions/energy_accuracy_pareto.rst",
            category="Energy efficiency",
        ),
        pdf="results/figures/energy_accuracy_pareto.pdf",
    log:
        "logs/notebooks/pareto.log",
    benchmark:
        "benchmarks/rules/notebooks/pareto.tsv"
    conda:
        "../../envs/paper.yaml"
    resources:
        mem_mb=memory_mb(1000),
        runtime=10,
    params:
        parameters=lambda wildcards, input, output: papermill_parameters(
            output_dir=figure_folder(output), pareto=input.pareto
        ),
    shell:
        "papermill {input.notebook} {output.notebook} -k beamnet -y {params.parameters:q} > {log} 2>&1"
