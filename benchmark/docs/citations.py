"""A method's paper and reference code, read from its module docstring.

Methods carry no structured field for either: CONTRIBUTING's template puts the paper in
the docstring ("Paper: Author et al., Venue Year, ..."). So the reading is conservative,
and says nothing rather than guess:

- the paper: a line starting `Paper:` (up to the next `Label:` line or the paragraph's
  end), else the citation a docstring opens its second paragraph with: authors, a quoted
  title, and the text up to the first year after it (`Hinton, Vinyals, Dean,
  "Distilling the Knowledge in a Neural Network", 2015`);
- the reference code: a line starting `Reference code:`, else the code bases the
  docstring names outside backticks, in order: GitHub `owner/repo` names (with a capital,
  digit, `-` or `_` in them, so prose such as "and/or" is not one) and the two code bases
  the methods cite by name alone (`KNOWN_CODE`). Either way each code base named is
  linked to its repository.
"""

from __future__ import annotations

import re

_END = r"(?=\n\s*\n|\n[A-Z][\w ']{0,30}:|\Z)"  # a blank line, the next `Label:` line, the end
_LABELLED_PAPER = re.compile(r"^Paper:\s*(?P<text>.+?)" + _END, re.M | re.S)
_LABELLED_CODE = re.compile(r"^Reference code:\s*(?P<text>.+?)" + _END, re.M | re.S)
# Authors, a quoted title, then the shortest stretch up to a year (19xx or 20xx), with an
# optional closing parenthesis: "(2024)".
_CITATION = re.compile(r'^(?P<text>[^"\n]{2,200}?"[^"]{4,300}"[^"]{0,80}?\b(?:19|20)\d\d\)?)')
_REPO = re.compile(r"(?<![\w/`.-])(?P<repo>[A-Za-z][\w-]{2,38}/[A-Za-z][\w.-]{2,99})(?![\w/`-])")
_MARKED = re.compile(r"[A-Z0-9_-]")
_BACKTICKED = re.compile(r"`[^`]*`")
# The code bases methods cite by name alone ("RepDistiller's `ConvReg`").
KNOWN_CODE = {
    "RepDistiller": "HobbitLong/RepDistiller",
    "mdistiller": "megvii-research/mdistiller",
}


def _joined(text: str) -> str:
    return " ".join(text.split())


def _paragraphs(doc: str) -> list[str]:
    return [p for p in re.split(r"\n\s*\n", doc.strip()) if p.strip()]


def paper(doc: str) -> str:
    """The paper `doc` cites, or '' when it names none in a form read here."""
    labelled = _LABELLED_PAPER.search(doc)
    if labelled:
        return _joined(labelled.group("text"))
    paragraphs = _paragraphs(doc)
    if len(paragraphs) < 2:
        return ""
    found = _CITATION.match(_joined(paragraphs[1]))
    return found.group("text") if found else ""


def _repo_names(prose: str) -> list[tuple[int, int, str]]:
    """(start, end, owner/repo) of each code base `prose` names (backticked spans blanked)."""
    found: list[tuple[int, int, str]] = []
    for match in _REPO.finditer(prose):
        repo = match.group("repo").rstrip(".")
        if not repo.endswith(".py") and _MARKED.search(repo):
            found.append((match.start(), match.start() + len(repo), repo))
    for name, repo in KNOWN_CODE.items():
        for hit in re.finditer(rf"(?<![\w/-]){re.escape(name)}(?![\w/-])", prose):
            found.append((hit.start(), hit.end(), repo))
    return sorted(found)


def _prose(doc: str) -> str:
    """`doc` with its backticked spans blanked (same length), so code is never read."""
    return _BACKTICKED.sub(lambda m: " " * len(m.group(0)), doc)


def code_bases(doc: str) -> list[str]:
    """The GitHub `owner/repo` names of the code bases `doc` names, first mention first."""
    return list(dict.fromkeys(repo for _, _, repo in _repo_names(_prose(doc))))


def _link(repo: str, text: str) -> str:
    return f"[{text}](https://github.com/{repo})"


def _linked(text: str) -> str:
    """`text` with each code base it names made a link to its repository."""
    out, last = [], 0
    for start, end, repo in _repo_names(_prose(text)):
        if start >= last:
            out += [text[last:start], _link(repo, text[start:end])]
            last = end
    return "".join([*out, text[last:]])


def reference_code(doc: str) -> str:
    """The reference code `doc` names, as Markdown ('' when it names none): its
    `Reference code:` line with the code bases in it linked, else links to the code
    bases the docstring names."""
    labelled = _LABELLED_CODE.search(doc)
    if labelled:
        return _linked(_joined(labelled.group("text")))
    return ", ".join(_link(repo, repo) for repo in code_bases(doc))
