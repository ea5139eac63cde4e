"""docs/events.md lists every event with an example payload, and is generated from the code."""
from pathlib import Path

from shared.events.docs import load_all, render

DOCS = Path(__file__).resolve().parents[2] / "docs" / "events.md"


def test_events_md_is_up_to_date():
    assert DOCS.read_text() == render(), "run `tessera events docs` and commit docs/events.md"


def test_every_event_type_is_documented_with_an_example():
    text = DOCS.read_text()
    for etype in load_all():
        if etype.service == "?":
            continue
        assert f"### `{etype.name}`" in text
        assert etype.example, etype.name
        assert etype.description, etype.name


def test_no_example_payload_carries_a_raw_secret():
    forbidden = {"client_secret", "secret", "password", "access_token", "refresh_token", "code",
                 "private_jwk", "d"}
    for etype in load_all():
        assert not forbidden & set(etype.example), etype.name
