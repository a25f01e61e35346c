# Stage 2: archives -> encoded spike caches (Eq. 7 latency, population, event latency, Poisson rate).


rule encode_spikes:
    input:
        unpack(encode_inputs),
    output:
        train="results/cache/{dataset}/{encoding}/train.npz",
        val="results/cache/{dataset}/{encoding}/val.npz",
        test="results/cache/{dataset}/{encoding}/test.npz",
    log:
        "logs/encode/{dataset}/{encoding}.log",
    benchmark:
        "benchmarks/rules/encode/{dataset}/{encoding}.tsv"
    wildcard_constraints:
        dataset=DATASET_PATTERN,
        encoding=ENCODING_PATTERN,
    conda:
        "../../envs/torch.yaml"
    resources:
        mem_mb=memory_mb(1000),  # measured peak 0.31 GB at 20,000 and 70,000 recordings (scale benchmark)
        runtime=30,
    params:
        cfg=step_config("data", "encoding"),
        chunk=config["streaming"]["chunk_samples"],
    shell:
        "python -m beamnet encode --dataset {wildcards.dataset} --encoding {wildcards.encoding}"
        " --config-json {params.cfg:q} --source {input.source} --manifest {input.manifest}"
        " --outputs {output.train} {output.val} {output.test} --chunk-samples {params.chunk} > {log} 2>&1"
