"""The README stays true: two commands up front, CI runs the test one, every command documented."""

from __future__ import annotations

import re
from pathlib import Path

from importer.cli._app import app

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def quick_start_commands() -> list[str]:
    """The shell lines of the README's first section."""
    first = README.split("\n## ", 2)[1]
    block = re.search(r"```sh\n(.*?)```", first, re.S)
    assert block, "the first section has no ```sh block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_first_section_has_exactly_two_commands() -> None:
    """One installs and runs the demo on the sample; one installs and runs the tests."""
    demo, tests = quick_start_commands()
    assert "importer run sample_data/" in demo
    assert "--sandbox" in demo
    assert "pytest" in tests


def test_ci_runs_the_readme_test_command() -> None:
    """.ci/run contains the README's test command, verbatim but for pip's -q."""
    _, tests = quick_start_commands()
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert tests.replace("pip install -e", "pip install -q -e") in ci


def test_every_command_is_documented() -> None:
    """Each CLI command appears in the README as `importer NAME`."""
    names = [c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands]
    assert names
    missing = [n for n in names if f"importer {n}" not in README]
    assert not missing, f"undocumented commands: {missing}"


# -- docs/kantata-api.md: every section the code cites exists -------------------------------------

API_NOTES = ROOT / "docs" / "kantata-api.md"
SECTION_SIGN = "\u00a7"  # spelled out so this file holds no citation of its own
# The sections the issue and the code name; the notes must keep these headings word for word.
REQUIRED_SECTIONS = (
    "Basics",
    "Response format",
    "The endpoint: POST /organization_memberships",
    "The organization membership object",
    "Not documented — design for both",
    "Updating and deleting",
    "Lookups",
    "What a real run must survive",
    "More facts and open points",
)
CITING_SUFFIXES = {".py", ".md", ".toml", ".html", ".js", ".cfg", ".txt"}
# A line break inside a citation, with the next line's indentation or comment marker.
_CONTINUATION = re.compile(r"[ \t]*\n[ \t]*(?:#[ \t]*)?")


def note_sections(text: str) -> list[str]:
    """The titles of the ``##`` and ``###`` headings of a Markdown text."""
    return [m.group(1).strip() for m in re.finditer(r"^#{2,3} (.+)$", text, re.M)]


def resolve_citation(cited: str, sections: list[str]) -> str | None:
    """The section a citation's text names, or None when it names none (or several).

    ``cited`` is the text after the section sign. It names a section when it starts with the
    section's whole title (``Lookups: workspaces ...``), or with the first words of exactly one
    title (``The endpoint.`` for ``The endpoint: POST /organization_memberships``).
    """
    whole = [
        s for s in sections if cited.startswith(s) and not cited[len(s) : len(s) + 1].isalnum()
    ]
    if whole:
        return max(whole, key=len)
    words = re.match(r"[A-Za-z][A-Za-z ]*[A-Za-z]|[A-Za-z]", cited)
    if not words:
        return None
    name = words.group(0)
    starts = [
        s for s in sections if s.startswith(name) and not s[len(name) : len(name) + 1].isalnum()
    ]
    return starts[0] if len(starts) == 1 else None


def citations(text: str) -> list[tuple[int, str]]:
    """(line, cited text) for every section sign in ``text``, line breaks joined."""
    found = []
    for m in re.finditer(SECTION_SIGN, text):
        rest = _CONTINUATION.sub(" ", text[m.end() : m.end() + 200]).lstrip()
        found.append((text.count("\n", 0, m.start()) + 1, rest[:80]))
    return found


def citing_files() -> list[Path]:
    """The project's own text files that may cite the notes (not the notes themselves)."""
    roots = [ROOT / "importer", ROOT / "tests", ROOT / "benchmarks", ROOT / "schemas"]
    files = [ROOT / "README.md"]
    for root in roots:
        files += [p for p in root.rglob("*") if p.is_file() and p.suffix in CITING_SUFFIXES]
    return sorted(files)


def test_api_notes_have_the_cited_sections() -> None:
    """docs/kantata-api.md keeps the nine section headings code and tests cite."""
    sections = note_sections(API_NOTES.read_text(encoding="utf-8"))
    missing = [s for s in REQUIRED_SECTIONS if s not in sections]
    assert not missing, f"docs/kantata-api.md lacks the sections {missing}"


def test_every_cited_section_exists() -> None:
    """Each '<section sign> Name' in the code, tests and README names a section of the notes."""
    sections = note_sections(API_NOTES.read_text(encoding="utf-8"))
    broken, seen = [], 0
    for path in citing_files():
        for line, cited in citations(path.read_text(encoding="utf-8", errors="replace")):
            if cited.startswith("..."):  # "cited as '<sign> ...'": a mention, not a citation
                continue
            seen += 1
            if resolve_citation(cited, sections) is None:
                broken.append(f"{path.relative_to(ROOT)}:{line}: {SECTION_SIGN} {cited[:40]!r}")
    assert seen > 50, f"only {seen} citations found: is the scan looking in the right place?"
    assert not broken, "citations of sections docs/kantata-api.md does not have:\n" + "\n".join(
        broken
    )


def test_a_citation_of_an_absent_section_is_caught() -> None:
    """The checker refuses a section that does not exist, and an ambiguous abbreviation."""
    sections = list(REQUIRED_SECTIONS)
    assert resolve_citation("Exit codes: 2 for input", sections) is None
    assert resolve_citation("The thing", sections) is None  # no title starts so
    assert resolve_citation("The", sections) is None  # two titles start with "The"
    assert resolve_citation("Updating.", sections) == "Updating and deleting"
    assert resolve_citation("Not documented).", sections) == "Not documented — design for both"
    assert resolve_citation("Lookups: by_email_addresses", sections) == "Lookups"
    text = f"x (docs/kantata-api.md {SECTION_SIGN}\n    # Lookups), y {SECTION_SIGN} Basics."
    assert citations(text) == [(1, "Lookups), y " + SECTION_SIGN + " Basics."), (2, "Basics.")]
