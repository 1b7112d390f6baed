"""The shape of the code base, kept true by tests: small modules, no copied code, tasks
that stand alone, a clean linter, a README that fits on a screen (the rest in docs/)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "keras_rnn"
MAX_MODULE_LINES = 500
MAX_README_BYTES = 10_240
DUPLICATE_LINES = 6  # a run of this many identical code lines in two places is copied code


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


# One parameter or argument per line ("units: int = 64,", "self,", "name=cfg.name,"): lists
# alike in shape (a layer and its cell take the same arguments), not copied logic.
PARAMETER = re.compile(r"^\*{0,2}\w+(\s*:\s*[^=]+?)?(\s*=\s*.+)?,$")


def code_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, text with white space folded) of the lines that carry code: no blank lines,
    comments, imports, parameter lines, or lines of lone punctuation."""
    kept = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        text = " ".join(line.split())
        skipped = not text or text.startswith(("#", "import ", "from ")) or PARAMETER.match(text)
        if skipped or not re.search(r"\w", text):
            continue
        kept.append((number, text))
    return kept


def test_no_module_is_over_500_lines():
    sizes = {str(p.relative_to(ROOT)): len(p.read_text(encoding="utf-8").splitlines()) for p in modules()}
    assert {p: n for p, n in sizes.items() if n > MAX_MODULE_LINES} == {}


def test_no_code_is_copied_between_or_within_modules():
    seen = defaultdict(list)  # window of lines -> [(file, first line)]
    for path in modules():
        lines = code_lines(path)
        for i in range(len(lines) - DUPLICATE_LINES + 1):
            window = tuple(text for _, text in lines[i : i + DUPLICATE_LINES])
            seen[window].append((str(path.relative_to(ROOT)), lines[i][0]))
    copies = []
    for places in seen.values():
        for (file_a, line_a), (file_b, line_b) in zip(places, places[1:]):
            if file_a != file_b or abs(line_a - line_b) >= DUPLICATE_LINES:
                copies.append(f"{file_a}:{line_a} ~ {file_b}:{line_b}")
    assert copies == []


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_captioning_does_not_import_translation():
    assert not {m for m in imported_modules(PACKAGE / "tasks" / "caption.py") if "translate" in m}


@pytest.mark.parametrize("path", sorted((PACKAGE / "hosts").glob("*.py")), ids=lambda p: p.name)
def test_litert_hosts_import_no_tensorflow(path):
    """Only numpy, ai_edge_litert, Pillow, the standard library, the light top of keras_rnn
    and the hosts package itself (the subprocess tests check the imports that run, too)."""
    light = (  # the standard library and numpy only (tests/test_labelled.py runs labelled without TF)
        "keras_rnn.hosts",
        "keras_rnn.data.subword_py",
        "keras_rnn.data.tokens_py",
        "keras_rnn.data.labelled",
        "keras_rnn.data.punctuation",  # numpy and tokens_py only (tests/test_tag.py runs the host without TF)
        "keras_rnn.limits",
    )
    heavy = {m for m in imported_modules(path) if m.split(".")[0] in ("tensorflow", "keras")}
    for module in imported_modules(path):
        inside = (
            module.startswith("keras_rnn.") and module.rsplit(".", 1)[0] != "keras_rnn"
        )  # not its light top
        if inside and not any(module == x or module.startswith(x + ".") for x in light):
            heavy.add(module)
    assert heavy == set()


@pytest.mark.parametrize("args", [["check", "."], ["format", "--check", "."]], ids=["lint", "format"])
def test_ruff_is_clean(args):
    proc = subprocess.run([sys.executable, "-m", "ruff", *args], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-1000:]


def test_readme_fits_on_a_screen_and_links_every_docs_page():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.encode("utf-8")) <= MAX_README_BYTES
    linked = set(re.findall(r"\]\((docs/[^)#]+)", readme))
    assert linked == {f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")}
    for page in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            assert (page.parent / target).exists(), f"{page.name} links to {target}, which does not exist"
