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
