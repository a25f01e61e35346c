# Stage 7: the manuscript. Named values and Markdown tables from results/tables/ (no number typed
# by hand), then paper/report.qmd -> paper/report.pdf through Quarto where it is on PATH, else
# pandoc (pypandoc-binary) -> typst (PyPI) with paper/crossref.lua (src/beamnet/paper/).


rule collect_paper_values:
    input:
        summary="results/tables/summary.parquet",
        headline="results/tables/summary.md",
        claims="results/tables/claims.csv",
        quality="results/tables/uncertainty_quality.parquet",
        targets="results/tables/training_targets.parquet",
        prop_3_3="results/tables/prop_3_3_sweep.parquet",
        tuning=lambda wildcards: tuning_targets(active_datasets()),
        manifests=lambda wildcards: expand("results/datasets/{dataset}/manifest.csv", dataset=active_datasets()),
        code=source_files(*PAPER_CODE, "theory.py", "energy.py"),
    output:
        values="results/paper/values.json",
        tables=expand(
            "results/paper/tables/{name}.md",
            name=[
                "headline",
                "config",
                "theory",
                "datasets",
                "claims",
                "uncertainty",
                "quality",
                "targets",
                "tuning",
                "ablations",
                "prop_3_3",
                "energy",
                "platforms",
            ],
        ),
    log:
        "logs/paper/collect_paper_values.log",
    benchmark:
        "benchmarks/rules/collect_paper_values.tsv"
    conda:
        "../../envs/paper.yaml"
    resources:
        mem_mb=memory_mb(1000),
        runtime=5,
    params:
        cfg=step_config(
            "datasets",
            "models",
            "seeds",
            "encoding",
            "model",
            "train",
            "evaluate",
            "claims",
            "tuning",
            "dataset_settings",
        ),
        tuning_dir=lambda wildcards: "--tuning-dir results/tuning" if tuning_targets(active_datasets()) else "",
    shell:
        "python -m beamnet paper-values --config-json {params.cfg:q} --tables-dir results/tables"
        " --manifests {input.manifests} --values {output.values} --tables-out results/paper/tables"
        " {params.tuning_dir} > {log} 2>&1"


# Named values of the optional sections (results/paper/values/{family}.json; render_paper merges them).
rule collect_energy_values:
    input:
        sweep="results/energy/sweep.parquet",
        crossings="results/energy/crossings.parquet",
        summary="results/tables/summary.parquet",
        code=source_files(*PAPER_CODE, "energy.py"),
    output:
        values="results/paper/values/energy_scaling.json",
    log:
        "logs/paper/collect_energy_values.log",
    benchmark:
        "benchmarks/rules/collect_energy_values.tsv"
    conda:
        "../../envs/paper.yaml"
    resources:
        mem_mb=memory_mb(1000),
        runtime=5,
    params:
        lif_steps=config["model"]["beam_net"]["lif_steps"],
        n_patterns=config["model"]["beam_net"]["n_patterns"],
    shell:
        "python -m beamnet section-values energy_scaling --sweep {input.sweep} --crossings {input.crossings}"
        " --summary {input.summary} --lif-steps {params.lif_steps} --n-patterns {params.n_patterns}"
        " --output {output.values} > {log} 2>&1"


rule collect_loihi_values:
    input:
        summary="results/loihi/summary.parquet",
        code=source_files(*PAPER_CODE, "energy.py"),
    output:
        values="results/paper/values/loihi.json",
    log:
        "logs/paper/collect_loihi_values.log",
    benchmark:
        "benchmarks/rules/collect_loihi_values.tsv"
    conda:
        "../../envs/paper.yaml"
    resources:
        mem_mb=memory_mb(1000),
        runtime=5,
    shell:
        "python -m beamnet section-values loihi --summary {input.summary} --output {output.values} > {log} 2>&1"


rule render_paper:
    input:
        source=workflow_path("paper/report.qmd"),
        bibliography=workflow_path("paper/references.bib"),
        lua_filter=workflow_path("paper/crossref.lua"),
        captions=sorted(str(path) for path in Path(workflow_path("paper/captions")).glob("*.rst")),
        values=rules.collect_paper_values.output.values,
        tables=rules.collect_paper_values.output.tables,
        figures=lambda wildcards: paper_figures(),
        code=source_files(*PAPER_CODE),
    output:
        "paper/report.pdf",
    log:
        "logs/paper/render_paper.log",
    benchmark:
        "benchmarks/rules/render_paper.tsv"
    conda:
        "../../envs/paper.yaml"
    resources:
        mem_mb=memory_mb(2000),
        runtime=10,
    params:
        sections=lambda wildcards: " ".join(sorted(paper_figure_families())),
        captions_dir=lambda wildcards, input: str(Path(input.captions[0]).parent),
    shell:
        "python -m beamnet paper-render --source {input.source} --values {input.values}"
        " --tables-dir results/paper/tables --captions-dir {params.captions_dir} --sections {params.sections}"
        " --lua-filter {input.lua_filter} --build-dir paper/_generated --output {output} > {log} 2>&1"
