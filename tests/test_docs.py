"""Generated reference documents stay in step with the code."""

from pathlib import Path

from strangers.core.schema import protocol_markdown
from strangers.gateway.settings import settings_markdown

ROOT = Path(__file__).resolve().parent.parent


def test_protocol_document_is_up_to_date():
    committed = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
    assert committed == protocol_markdown(), "run `strangers protocol` and commit docs/protocol.md"


def test_every_message_has_its_schema_in_the_protocol_document():
    from strangers.core.messages import CLIENT_MESSAGES, SERVER_MESSAGES

    document = protocol_markdown()
    for model in CLIENT_MESSAGES + SERVER_MESSAGES:
        kind = model.model_fields["type"].default
        assert f"### `{kind}`" in document


def test_readme_settings_table_is_up_to_date():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert settings_markdown() in readme, "paste `strangers settings` into the README"


def test_the_security_document_names_only_files_tests_and_settings_that_exist():
    """docs/security.md cites code by name; a rename must not leave it pointing at
    nothing. A paragraph, list item or table row marked ``<!-- issue9: verify -->``
    describes work in progress and is checked once the mark is removed."""
    import re

    from strangers.gateway.settings import Settings

    text = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    units: list[list[str]] = [[]]
    for line in text.splitlines():
        if not line.strip() or re.match(r"\s*(\||[-*] |\d+\. |#)", line):
            units.append([])
        if line.strip():
            units[-1].append(line)
    tests = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "tests").rglob("*.py"))
    settings = {name.upper() for name in Settings.model_fields}
    bases = (ROOT, ROOT / "src" / "strangers", ROOT / "docs")
    missing = []
    for unit in ("\n".join(lines) for lines in units):
        if "<!-- issue9: verify -->" in unit:
            continue
        for path in re.findall(r"`([\w./-]+\.(?:py|js|conf|yml|html|md|example))`", unit):
            if not any((base / path).exists() for base in bases):
                missing.append(path)
        for test in re.findall(r"`(test_\w+)`", unit):
            if f"def {test}(" not in tests:
                missing.append(test)
        for setting in re.findall(r"`STRANGERS_(\w+?)(?:=\w+)?`", unit):
            if setting not in settings:
                missing.append(f"STRANGERS_{setting}")
    assert not missing, f"docs/security.md names what does not exist: {missing}"


def test_every_design_citation_names_a_section_of_the_design_in_the_repository():
    """The code cites the design as ``docs/design.md §N``: the document is in the
    repository, and the section it names exists."""
    import re

    design = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    sections = set(re.findall(r"^## (\d+)\. ", design, flags=re.MULTILINE))
    bare = re.compile(r"(?<![./\w])[Dd]esign §")
    cited = re.compile(r"docs/design\.md §(\d+)")
    unopenable, missing = [], []
    for folder in ("src", "tests", "bench", "docs"):
        for path in sorted((ROOT / folder).rglob("*")):
            if (
                path.suffix not in {".py", ".md", ".js", ".html", ".toml"}
                or path.name == "design.md"
            ):
                continue
            text = path.read_text(encoding="utf-8")
            name = path.relative_to(ROOT)
            unopenable += [f"{name}: {m.group(0)}" for m in bare.finditer(text)]
            missing += [f"{name}: §{n}" for n in cited.findall(text) if n not in sections]
    assert not unopenable, f"cite the design as `docs/design.md §N`: {unopenable[:10]}"
    assert not missing, f"no such section in docs/design.md: {missing[:10]}"
