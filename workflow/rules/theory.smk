# Proposition 3.3 measured: the distance between the Bayesian LIF rates and the posterior they
# should encode, over a grid of lateral inhibition strengths (src/beamnet/theory.py), and its figure.


rule prop_3_3_sweep:
    input:
        code=source_files("theory.py", "models/bayesian_lif.py"),
    output:
        table="results/tables/prop_3_3_sweep.parquet",
        csv="results/tables/prop_3_3_sweep.csv",
    log:
        "logs/theory/prop_3_3_sweep.log",
    benchmark:
        "benchmarks/rules/theory/prop_3_3_sweep.tsv"
    conda:
        "../../envs/torch.yaml"
    resources:
        mem_mb=memory_mb(1000),
        runtime=5,
    params:
        cfg=step_config("encoding", "model", "theory"),
    shell:
        "python -m beamnet prop-3-3 --config-json {params.cfg:q} --output {output.table}"
        " --output-csv {output.csv} > {log} 2>&1"


rule plot_prop_3_3:
    input:
        notebook=workflow_path("notebooks/prop_3_3.ipynb"),
        sweep=rules.prop_3_3_sweep.output.table,
        code=source_files(*PAPER_CODE),
    output:
        notebook="results/notebooks/prop_3_3.ipynb",
        distance=report(
            "results/figures/prop_3_3_distance.png",
            caption="../../paper/captions/prop_3_3_distance.rst",
            category="Uncertainty calibration",
        ),
        pdf="results/figures/prop_3_3_distance.pdf",
    log:
        "logs/notebooks/prop_3_3.log",
    benchmark:
        "benchmarks/rules/plot_prop_3_3.tsv"
    conda:
        "../../envs/paper.yaml"
    resources:
        mem_mb=memory_mb(2000),
        runtime=10,
    params:
        parameters=lambda wildcards, input, output: papermill_parameters(
            output_dir=figure_folder(output),
            sweep=input.sweep,
            model_w_inh=config["model"]["beam_net"]["w_inh"],
            proposition_w_inh=2.0,
        ),
    shell:
        "papermill {input.notebook} {output.notebook} -k beamnet -y {params.parameters:q} > {log} 2>&1"
