"""Every `docs/architecture.md#<section>` cited in code, tests or README names a real section."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "architecture.md"
CITATION = re.compile(r"docs/architecture\.md#([A-Za-z0-9_-]+)")


def _anchors() -> set[str]:
    text = DOC.read_text(encoding="utf-8")
    explicit = set(re.findall(r'<a id="([^"]+)"></a>', text))
    headings = {re.sub(r"[^a-z0-9 -]", "", h.strip().lower()).replace(" ", "-")
                for h in re.findall(r"^#+ (.+)$", text, flags=re.M)}
    return explicit | headings


def _citing_files():
    for folder in ("memgpt", "tests", "benchmarks", "scripts", "examples"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.is_file() and path.suffix in {".py", ".sh", ".md", ".js", ".mjs"}:
                yield path
    yield ROOT / "README.md"
    yield DOC


def test_every_architecture_citation_resolves():
    anchors = _anchors()
    cited = {}
    for path in _citing_files():
        for name in CITATION.findall(path.read_text(encoding="utf-8", errors="replace")):
            cited.setdefault(name, path.relative_to(ROOT))
    missing = {name: str(where) for name, where in cited.items() if name not in anchors}
    assert cited and not missing, f"citations of missing sections: {missing}"


def test_no_citation_of_documents_outside_the_repository():
    stale = [f"{p.relative_to(ROOT)}:{i}" for p in _citing_files() if p != DOC
             for i, line in enumerate(p.read_text(encoding="utf-8", errors="replace")
                                      .splitlines(), 1)
             if re.search(r"\b(DESIGN|DATA)\.md\b", line)]
    assert not stale, f"cite docs/architecture.md instead: {stale}"
