# Stage 5b: BEAM-Net and the rate-coded SNN on Loihi 2's bit-accurate simulator (lava-nc, Python 3.10).
# export (main env) -> network.npz + inputs.npz; run (lava env) -> predictions.csv + summary.json;
# report (main env) -> Parquet predictions and results/loihi/summary.{parquet,csv}.


rule loihi_export:
    input:
        unpack(loihi_export_inputs),
    output:
        network="results/loihi/{dataset}/{model}/seed={seed}/network.npz",
        inputs="results/loihi/{dataset}/{model}/seed={seed}/inputs.npz",
    log:
        "logs/loihi/{dataset}/{model}/seed={seed}/export.log",
    benchmark:
        "benchmarks/rules/loihi/{dataset}/{model}/seed={seed}/export.tsv"
    wildcard_constraints:
        dataset=DATASET_PATTERN,
        model="beam_net|rate_snn",
        seed=r"\d+",
    conda:
        "../../envs/torch.yaml"
    resources:
        mem_mb=memory_mb(3000),
        runtime=15,
    params:
        cfg=step_config("encoding", "model", "train", "evaluate", "loihi"),
    shell:
        "python -m beamnet loihi-export --dataset {wildcards.dataset} --model {wildcards.model} --seed {wildcards.seed}"
        " --config-json {params.cfg:q} --checkpoint {input.checkpoint} --test-cache {input.test}"
        " --network {output.network} --inputs {output.inputs} > {log} 2>&1"


rule loihi_run:
    input:
        network="results/loihi/{dataset}/{model}/seed={seed}/network.npz",
        inputs="results/loihi/{dataset}/{model}/seed={seed}/inputs.npz",
        runner=source_files("loihi/run_lava.py"),
        code=source_files(
            "loihi/fixed_point.py",
            "loihi/rate_snn.py",
            "loihi/lava_common.py",
            "loihi/lava_beam_net.py",
            "loihi/lava_rate_snn.py",
            "energy.py",
        ),
    output:
        predictions="results/loihi/{dataset}/{model}/seed={seed}/predictions.csv",
        summary="results/loihi/{dataset}/{model}/seed={seed}/summary.json",
    log:
        "logs/loihi/{dataset}/{model}/seed={seed}/run.log",
    benchmark:
        "benchmarks/rules/loihi/{dataset}/{model}/seed={seed}/run.tsv"
    wildcard_constraints:
        dataset=DATASET_PATTERN,
        model="beam_net|rate_snn",
        seed=r"\d+",
    conda:
        "../../envs/lava.yaml"
    resources:
        mem_mb=memory_mb(9000),  # measured peak 6.3 GB on nmnist_small's test split (lava, 2 cores)
        runtime=20,
    params:
        python=lava_python(),
        find_python=workflow_path("workflow/scripts/find_python.sh"),
        chunk=config["loihi"]["chunk_samples"],
        floor=config["loihi"]["agreement_floor"],
    shell:
        "{{ command -v {params.python} >/dev/null || test -x {params.python} ||"
        " {{ echo 'error: the lava-nc environment (Python 3.10) is missing: run `make setup-lava`"
        " (it needs a Python 3.10, found by workflow/scripts/find_python.sh), or use --sdm conda';"
        " bash {params.find_python} 3.10; exit 1; }}; }} > {log} 2>&1 &&"
        " {params.python} {input.runner} --network {input.network} --inputs {input.inputs}"
        " --predictions {output.predictions} --summary {output.summary}"
        " --chunk-samples {params.chunk} --agreement-floor {params.floor} >> {log} 2>&1"


rule loihi_report:
    input:
        predictions=lambda wildcards: loihi_paths("predictions.csv"),
        summaries=lambda wildcards: loihi_paths("summary.json"),
        code=source_files("loihi/report.py"),
    output:
        predictions=loihi_paths("predictions.parquet"),
        summary="results/loihi/summary.parquet",
        summary_csv="results/loihi/summary.csv",
    log:
        "logs/loihi/report.log",
    benchmark:
        "benchmarks/rules/loihi/report.tsv"
    conda:
        "../../envs/torch.yaml"
    resources:
        mem_mb=memory_mb(1000),
        runtime=5,
    shell:
        "python -m beamnet loihi-report --predictions-csv {input.predictions}"
        " --predictions-parquet {output.predictions} --summaries {input.summaries}"
        " --summary-parquet {output.summary} --summary-csv {output.summary_csv} > {log} 2>&1"
