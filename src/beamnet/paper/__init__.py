"""The manuscript (paper/report.qmd -> paper/report.pdf): named values, generated tables, rendering.

No number in the manuscript is typed by hand (the showyourwork rule). Two steps:

1. ``write_paper_inputs`` (rule ``collect_paper_values``) reads results/tables/ and the config
   and writes ``values.json`` (named inline values, as display strings) and one Markdown table
   per name under ``tables/``; the headline table is ``results/tables/summary.md`` verbatim.
2. ``render_report`` (rule ``render_paper``) expands the source: ``{{ value:NAME }}`` becomes
   the named value, a line ``{{ table:NAME }}`` becomes the generated Markdown table, relative
   image paths are re-based to the build folder, and the front matter gets one boolean
   ``has-SECTION`` per figure family the workflow registered (optional sections such as the
   energy sweep and the Loihi runs are fenced with ``::: {.content-visible when-meta="has-..."}``).
   Optional sections also have named values, written by their paper-stage rule
   (``python -m beamnet section-values``) to ``values/{family}.json`` beside ``values.json``
   (:func:`write_section_values`) and merged for the registered families. An unknown name is
   an error, never a blank. The expanded document is then rendered by

   - Quarto (``quarto render --to typst``) where ``quarto`` is on PATH (envs/paper.yaml), or
   - pandoc (the binary bundled with pypandoc-binary) -> typst source -> PDF with the ``typst``
     Python package. ``paper/crossref.lua`` turns Quarto's ``@fig-``/``@tbl-``/``@sec-``
     references into typst references (numbered by typst) and applies ``when-meta``;
     citations go through pandoc's citeproc with paper/references.bib.

   Either way the PDF states which renderer made it (``{{ value:renderer }}``).

The package: :mod:`~beamnet.paper.style` (figure style, display names),
:mod:`~beamnet.paper.tables` (Markdown tables), :mod:`~beamnet.paper.values` (named values, the
paper-values step) and :mod:`~beamnet.paper.render` (expansion and rendering).
"""

from beamnet.paper.render import (
    CONDITIONAL,
    IMAGE,
    SECTION_VALUES_DIR,
    TOKEN,
    apply_conditions,
    expand_source,
    referenced_images,
    render_report,
    renderer_name,
    section_values,
    write_section_values,
)
from beamnet.paper.style import (
    BASELINE_NAMES,
    DATASET_NAMES,
    FIGURE_DPI,
    MODEL_COLOURS,
    MODEL_NAMES,
    PLATFORM_NAMES,
    REFERENCE_LABELS,
    apply_figure_style,
    display_names,
    save_figure,
)
from beamnet.paper.tables import (
    QUALITY_COLUMNS,
    VERDICT_NAMES,
    ablations_markdown,
    beam_net_codes,
    claims_markdown,
    config_table,
    dataset_table,
    energy_markdown,
    grid_variants,
    loihi_markdown,
    markdown_table,
    platform_markdown,
    prop_3_3_markdown,
    quality_markdown,
    sweep_markdown,
    targets_markdown,
    theory_table,
    tuning_record_markdown,
    uncertainty_markdown,
)
from beamnet.paper.values import (
    RULE_SENTENCES,
    adoption,
    claim_counts,
    energy_values,
    loihi_values,
    paper_values,
    result_datasets,
    sweep_steps,
    tuning_values,
    write_paper_inputs,
)

__all__ = [
    "BASELINE_NAMES",
    "CONDITIONAL",
    "DATASET_NAMES",
    "FIGURE_DPI",
    "IMAGE",
    "MODEL_COLOURS",
    "MODEL_NAMES",
    "PLATFORM_NAMES",
    "QUALITY_COLUMNS",
    "REFERENCE_LABELS",
    "RULE_SENTENCES",
    "SECTION_VALUES_DIR",
    "TOKEN",
    "VERDICT_NAMES",
    "ablations_markdown",
    "adoption",
    "apply_conditions",
    "apply_figure_style",
    "beam_net_codes",
    "claim_counts",
    "claims_markdown",
    "config_table",
    "dataset_table",
    "display_names",
    "energy_markdown",
    "energy_values",
    "expand_source",
    "grid_variants",
    "loihi_markdown",
    "loihi_values",
    "markdown_table",
    "paper_values",
    "platform_markdown",
    "prop_3_3_markdown",
    "quality_markdown",
    "referenced_images",
    "render_report",
    "renderer_name",
    "result_datasets",
    "save_figure",
    "section_values",
    "sweep_markdown",
    "sweep_steps",
    "targets_markdown",
    "theory_table",
    "tuning_record_markdown",
    "tuning_values",
    "uncertainty_markdown",
    "write_paper_inputs",
    "write_section_values",
]
