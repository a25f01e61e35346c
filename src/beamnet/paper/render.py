"""Expanding paper/report.qmd (values, tables, conditional sections, image paths) and rendering it to PDF
(Quarto, or pandoc + typst)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from beamnet.io import atomic_paths

TOKEN = re.compile(r"\{\{\s*(value|table|caption):([A-Za-z0-9_.\-]+)\s*\}\}")


CONDITIONAL = re.compile(
    r'^:::+ *\{\.content-(visible|hidden) +(when|unless)-meta="([^"]+)"\} *\n(.*?)^:::+ *$', re.DOTALL | re.MULTILINE
)


IMAGE = re.compile(r"(!\[[^\]]*\]\()([^)\s]+)")


# --- optional sections: the energy sweep and the Loihi runs -----------------------------------
# Their values are written by the section's paper-stage rule (collect_energy_values,
# collect_loihi_values: `python -m beamnet section-values`) to SECTION_VALUES_DIR/{family}.json
# beside values.json; paper_figure_families() (workflow/rules/common.smk) registers that file with
# the family's figures, so render_paper depends on it and render_report merges it for the
# registered sections only.
SECTION_VALUES_DIR = "values"


def write_section_values(values: Mapping[str, str], path: str | Path) -> Path:
    """Write a section's named values (JSON) atomically; render_report merges them."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_paths(path) as (temp,):
        temp.write_text(json.dumps(dict(values), indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    return path


def section_values(values_path: Path, sections: Sequence[str]) -> dict[str, str]:
    """The named values of the registered ``sections`` that wrote any (SECTION_VALUES_DIR/{family}.json)."""
    merged: dict[str, str] = {}
    for name in sections:
        path = values_path.parent / SECTION_VALUES_DIR / f"{name}.json"
        if path.is_file():
            merged.update(json.loads(path.read_text()))
    return merged


def expand_source(
    text: str, values: Mapping[str, str], tables: Mapping[str, str], captions: Mapping[str, str] | None = None
) -> str:
    """Substitute ``{{ value:NAME }}``, ``{{ table:NAME }}`` and ``{{ caption:NAME }}`` tokens.

    Captions are the plain-text files the HTML report also uses (paper/captions/NAME.rst), so a
    figure has one caption. Unknown names are errors.
    """
    missing = []
    sources = {"value": values, "table": tables, "caption": captions or {}}

    def substitute(match: re.Match[str]) -> str:
        kind, name = match.groups()
        source = sources[kind]
        if name not in source:
            missing.append(f"{kind}:{name}")
            return match.group(0)
        return source[name].rstrip("\n")

    expanded = TOKEN.sub(substitute, text)
    if missing:
        raise ValueError(
            f"report source names unknown values or tables: {', '.join(sorted(set(missing)))} "
            f"(known values: {', '.join(sorted(values))}; tables: {', '.join(sorted(tables))}; "
            f"captions: {', '.join(sorted(sources['caption']))})"
        )
    return expanded


def apply_conditions(body: str, flags: Mapping[str, bool]) -> str:
    """Keep or drop Quarto's ``::: {.content-visible when-meta="key"}`` blocks (and unless-meta,
    .content-hidden) by the boolean ``flags``, as Quarto would; blocks must not nest."""

    def choose(match: re.Match[str]) -> str:
        kind, condition, key, content = match.groups()
        show = bool(flags.get(key, False)) == (condition == "when")
        return content if show == (kind == "visible") else ""

    return CONDITIONAL.sub(choose, body)


def _split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    if not text.startswith("---"):
        return {}, text
    _, header, body = text.split("---", 2)
    return yaml.safe_load(header) or {}, body


def _rebase_images(body: str, source_dir: Path, build_dir: Path) -> str:
    """Re-base relative image paths from the source's folder to the build folder."""

    def rebase(match: re.Match[str]) -> str:
        path = match.group(2)
        if path.startswith(("/", "http:", "https:")):
            return match.group(0)
        return match.group(1) + Path(os.path.relpath((source_dir / path).resolve(), build_dir.resolve())).as_posix()

    return IMAGE.sub(rebase, body)


def referenced_images(text: str) -> list[str]:
    """Relative image paths a Markdown document references."""
    return [path for _, path in IMAGE.findall(text) if not path.startswith(("/", "http:", "https:"))]


def renderer_name() -> tuple[str, str | None]:
    """('quarto', version) where Quarto is on PATH, else ('pandoc+typst', None)."""
    quarto = shutil.which("quarto")
    if quarto:
        version = subprocess.run([quarto, "--version"], capture_output=True, text=True).stdout.strip()
        return "quarto", version
    return "pandoc+typst", None


def _pandoc_typst_description() -> str:
    import pypandoc

    return (
        f"pandoc {pypandoc.get_pandoc_version()} (pypandoc-binary) and typst "
        f"{metadata.version('typst')} (PyPI package), Quarto's fallback"
    )


def render_report(
    source: Path,
    values_path: Path,
    tables_dir: Path,
    captions_dir: Path,
    sections: Sequence[str],
    lua_filter: Path,
    output: Path,
    build_dir: Path,
    renderer: str = "auto",
) -> str:
    """Expand ``source`` and render it to ``output`` (PDF); returns a description of the renderer."""
    values = dict(json.loads(values_path.read_text()))
    values.update(section_values(values_path, sections))
    tables = {path.stem: path.read_text() for path in sorted(tables_dir.glob("*.md"))}
    captions = {path.stem: " ".join(path.read_text().split()) for path in sorted(captions_dir.glob("*.rst"))}
    kind, version = renderer_name() if renderer == "auto" else (renderer, None)
    if kind == "quarto":
        values["renderer"] = f"Quarto {version or ''} (typst format)".replace("  ", " ")
    else:
        values["renderer"] = _pandoc_typst_description()
    build_dir.mkdir(parents=True, exist_ok=True)
    front, body = _split_front_matter(source.read_text())
    flags = {f"has-{name}": True for name in sections}
    body = apply_conditions(body, flags)
    body = _rebase_images(expand_source(body, values, tables, captions), source.parent, build_dir)
    for path in referenced_images(body):
        if not (build_dir / path).exists():
            raise FileNotFoundError(f"figure '{path}' referenced by {source} does not exist (relative to {build_dir})")
    front = {
        key: (expand_source(value, values, tables) if isinstance(value, str) else value) for key, value in front.items()
    }
    front.update(flags)
    if "bibliography" in front:
        front["bibliography"] = str((source.parent / front["bibliography"]).resolve())
    document = build_dir / source.name
    document.write_text("---\n" + yaml.safe_dump(front, sort_keys=False, allow_unicode=True) + "---\n" + body)
    output.parent.mkdir(parents=True, exist_ok=True)
    if kind == "quarto":
        _render_quarto(document, output)
    else:
        _render_pandoc_typst(document, lua_filter, output)
    return values["renderer"]


def _render_quarto(document: Path, output: Path) -> None:
    subprocess.run(["quarto", "render", document.name, "--to", "typst"], cwd=document.parent, check=True)
    with atomic_paths(output) as (temp,):
        shutil.move(document.with_suffix(".pdf"), temp)


def _render_pandoc_typst(document: Path, lua_filter: Path, output: Path) -> None:
    import pypandoc
    import typst

    typ = document.with_suffix(".typ")
    command = [
        pypandoc.get_pandoc_path(),
        document.name,
        "--from",
        "markdown",
        "--to",
        "typst",
        "--standalone",
        "--lua-filter",
        str(lua_filter.resolve()),
        "--citeproc",
        "--output",
        typ.name,
    ]
    result = subprocess.run(command, cwd=document.parent, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"pandoc failed on {document}: {result.stderr.strip()}")
    root = Path.cwd().resolve()
    if not document.resolve().is_relative_to(root):
        root = Path(document.resolve().anchor)
    with atomic_paths(output) as (temp,):
        typst.compile(str(typ), output=str(temp), root=str(root))
