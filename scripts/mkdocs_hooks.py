"""The site build's hook (mkdocs.yml, `hooks:`): the reference pages rendered from the
code (`benchmark.docs.pages.CODE_PAGES`: methods, tasks, CLI) join the site's files at
every build, so they always match the code and nobody commits them; a copy that
`bench docs` left under docs/ is replaced by the fresh rendering."""

from __future__ import annotations

from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files


def on_files(files: Files, config: MkDocsConfig) -> Files:
    from benchmark.cli.main import build_parser
    from benchmark.docs.pages import CODE_PAGES, render_all
    from benchmark.docs.site import Site

    root = Path(config.config_file_path).parent
    site = Site(Path(config.docs_dir), build_parser(), root / "results")
    for path, text in render_all(site, CODE_PAGES).items():
        stale = files.get_file_from_path(path)
        if stale is not None:
            files.remove(stale)
        files.append(File.generated(config, path, content=text))
    return files
