# Stage 6: figures. One papermill-executed notebook per figure family (notebooks/{family}.ipynb),
# its parameters cell replaced by the rule's inputs; the executed copy is kept under
# results/notebooks/, each figure is written as PNG (manuscript, HTML report) and PDF.
# Editing a notebook reruns that notebook and the paper, nothing upstream.

FIGURE_CODE = source_files(*PAPER_CODE, "summarise.py")


rule plot_training_dynamics:
    input:
        notebook=workflow_path("notebooks/training_dynamics.ipynb"),
        histories=lambda wildcards: history_paths(),
        predictions=lambda wildcards: prediction_paths(),
        code=FIGURE_CODE,
    output:
        notebook="results/notebooks/training_dynamics.ipynb",
        loss=report(
            "results/figures/loss_curves.png",
            caption="../../paper/captions/loss_curves.rst",
            category="Training dynamics",
        ),
        iterations=report(
            "results/figures/loop_iterations.png",
            caption="../../paper/captions/loop_iterations.rst",
            category="Training dynamics",
        ),
        energy=report(
            "results/figures/loop_energy.png",
            caption="../../paper/captions/loop_energy.rst",
            category="Training dynamics",
        ),
        pdfs=expand("results/figures/{stem}.pdf", stem=["loss_curves", "loop_iterations", "loop_energy"]),
    log:
        "logs/notebooks/training_dynamics.log",
    benchmark:
        "benchmarks/rules/plot_training_dynamics.tsv"
    conda:
        "../../envs/paper.yaml"
    resources:
        mem_mb=memory_mb(2000),
        runtime=10,
    params:
        parameters=lambda wildcards, input, output: papermill_parameters(
            output_dir=figure_folder(output),
            histories=input.histories,
            predictions=input.predictions,
            iteration_bound=theory_bound_iterations(config),
            max_iterations=config["model"]["beam_net"]["loop"]["max_iterations"],
        ),
    shell:
        "papermill {input.notebook} {output.notebook} -k beamnet -y {params.parameters:q} > {log} 2>&1"


rule plot_comparison:
    input:
        notebook=workflow_path("notebooks/comparison.ipynb"),
        metrics="results/tables/metrics_per_seed.parquet",
        code=[*FIGURE_CODE, *source_files("energy.py")],
    output:
        notebook="results/notebooks/comparison.ipynb",
        headline=report(
            "results/figures/headline_comparison.png",
            caption="../../paper/captions/headline_comparison.rst",
            category="Comparative results",
        ),
        energy=report(
            "results/figures/energy_per_inference.png",
            caption="../../paper/captions/energy_per_inference.rst",
            category="Energy efficiency",
        ),
        pdfs=expand("results/figures/{stem}.pdf", stem=["headline_comparison", "energy_per_inference"]),
    log:
        "logs/notebooks/comparison.log",
    benchmark:
        "benchmarks/rules/plot_comparison.tsv"
    conda:
        "../../envs/paper.yaml"
    resources:
        mem_mb=memory_mb(1000),
        runtime=10,
    params:
        parameters=lambda wildcards, input, output: papermill_parameters(
            output_dir=figure_folder(output), metrics_per_seed=input.metrics
        ),
    shell:
        "papermill {input.notebook} {output.notebook} -k beamnet -y {params.parameters:q} > {log} 2>&1"


rule plot_calibration:
    input:
        notebook=workflow_path("notebooks/calibration.ipynb"),
        reliability=rules.summarise_results.output.reliability,
        predictions=lambda wildcards: prediction_paths(),
        code=FIGURE_CODE,
    output:
        notebook="results/notebooks/calibration.ipynb",
        reliability=report(
            "results/figures/reliability.png",
            caption="../../paper/captions/reliability.rst",
            category="Uncertainty calibration",
        ),
        decomposition=report(
            "results/figures/uncertainty_decomposition.png",
            caption="../../paper/captions/uncertainty_decomposition.rst",
            category="Uncertainty calibration",
        ),
        pdfs=expand("results/figures/{stem}.pdf", stem=["reliability", "uncertainty_decomposition"]),
    log:
        "logs/notebooks/calibration.log",
    benchmark:
        "benchmarks/rules/plot_calibration.tsv"
    conda:
        "../../envs/paper.yaml"
    resources:
        mem_mb=memory_mb(2000),
        runtime=10,
    params:
        parameters=lambda wildcards, input, output: papermill_parameters(
            output_dir=figure_folder(output),
            reliability=input.reliability,
            predictions=input.predictions,
            ece_bins=config["evaluate"]["ece_bins"],
        ),
    shell:
        "papermill {input.notebook} {output.notebook} -k beamnet -y {params.parameters:q} > {log} 2>&1"


rule plot_sparsity:
    input:
        notebook=workflow_path("notebooks/sparsity.ipynb"),
        metrics="results/tables/metrics_per_seed.parquet",
        code=FIGURE_CODE,
    output:
        notebook="results/notebooks/sparsity.ipynb",
        pareto=report(
            "results/figures/sparsity_pareto.png",
            caption="../../paper/captions/sparsity_pareto.rst",
            category="Comparative results",
        ),
        pdf="results/figures/sparsity_pareto.pdf",
    log:
        "logs/notebooks/sparsity.log",
    benchmark:
        "benchmarks/rules/plot_sparsity.tsv"
    conda:
        "../../envs/paper.yaml"
    resources:
        mem_mb=memory_mb(1000),
        runtime=10,
    params:
        parameters=lambda wildcards, input, output: papermill_parameters(
            output_dir=figure_folder(output),
            metrics_per_seed=input.metrics,
            activity_range=config["claims"]["activity_range"],
        ),
    shell:
        "papermill {input.notebook} {output.notebook} -k beamnet -y {params.parameters:q} > {log} 2>&1"


# Optional families; their sections' named values come from the paper stage (paper.smk).
rule plot_energy_scaling:
    input:
        notebook=workflow_path("notebooks/energy_scaling.ipynb"),
        sweep="results/energy/sweep.parquet",
        crossings="results/energy/crossings.parquet",
        code=FIGURE_CODE,
    output:
        notebook="results/notebooks/energy_scaling.ipynb",
        scaling=report(
            "results/figures/energy_scaling.png",
            caption="../../paper/captions/energy_scaling.rst",
            category="Energy efficiency",
        ),
        pdf="results/figures/energy_scaling.pdf",
    log:
        "logs/notebooks/energy_scaling.log",
    benchmark:
        "benchmarks/rules/plot_energy_scaling.tsv"
    conda:
        "../../envs/paper.yaml"
    resources:
        mem_mb=memory_mb(1000),
        runtime=10,
    params:
        parameters=lambda wildcards, input, output: papermill_parameters(
            output_dir=figure_folder(output),
            sweep=input.sweep,
            crossings=input.crossings,
            lif_steps=config["model"]["beam_net"]["lif_steps"],
        ),
    shell:
        "papermill {input.notebook} {output.notebook} -k beamnet -y {params.parameters:q} > {log} 2>&1"


rule plot_loihi:
    input:
        notebook=workflow_path("notebooks/loihi.ipynb"),
        summary="results/loihi/summary.parquet",
        predictions=lambda wildcards: [run["predictions"] for run in loihi_runs()],
        code=FIGURE_CODE,
    output:
        notebook="results/notebooks/loihi.ipynb",
        loihi=report("results/figures/loihi.png", caption="../../paper/captions/loihi.rst", category="Loihi runs"),
        pdf="results/figures/loihi.pdf",
    log:
        "logs/notebooks/loihi.log",
    benchmark:
        "benchmarks/rules/plot_loihi.tsv"
    conda:
        "../../envs/paper.yaml"
    resources:
        mem_mb=memory_mb(1000),
        runtime=10,
    params:
        parameters=lambda wildcards, input, output: papermill_parameters(
            output_dir=figure_folder(output),
            summary=input.summary,
            run_records=loihi_runs(),
            agreement_floor=config["loihi"]["agreement_floor"],
        ),
    shell:
        "papermill {input.notebook} {output.notebook} -k beamnet -y {params.parameters:q} > {log} 2>&1"
