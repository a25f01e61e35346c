# Stage 3: spike caches -> one checkpoint per dataset x model x seed.


rule train_model:
    input:
        unpack(train_inputs),
    output:
        checkpoint="results/checkpoints/{dataset}/{model}/seed={seed}.pt",
        history="results/checkpoints/{dataset}/{model}/seed={seed}_history.csv",
    log:
        "logs/train/{dataset}/{model}/seed={seed}.log",
    benchmark:
        "benchmarks/rules/train/{dataset}/{model}/seed={seed}.tsv"
    wildcard_constraints:
        dataset=DATASET_PATTERN,
        model=MODEL_PATTERN,
        seed=r"\d+",
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=memory_mb(1500),  # measured peak 0.72 GB at 20,000, 0.59 GB at 70,000 recordings (scale benchmark)
        runtime=120,  # measured longest 8 min (nmnist_small BEAM-Net, 60 epochs)
    params:
        cfg=dataset_step_config("encoding", "model", "train", "evaluate"),
        tracking=mlflow_option(),
    shell:
        "python -m beamnet train --dataset {wildcards.dataset} --model {wildcards.model}"
        " --seed {wildcards.seed} --config-json {params.cfg:q} --threads {threads}"
        " --train-cache {input.train} --val-cache {input.val}"
        " --checkpoint {output.checkpoint} --history {output.history} {params.tracking} > {log} 2>&1"
