"""docs/asyncapi.yaml against the services' event catalogues: every type a service can emit is
documented with its payload's fields, and nothing is documented that no service emits."""

import itertools
from pathlib import Path
from typing import Any

import pytest
import yaml

from atena import events as atena_events
from boshi_core import events as boshi_events
from e_application import events as eapp_events
from identity import events as identity_events
from immunization_bridge import events as immunization_events
from intermediate_server import events as ims_events
from mch_common.events.catalogue import EventType

ASYNCAPI = Path(__file__).resolve().parent.parent / "docs/asyncapi.yaml"
CATALOGUES = {
    "identity": identity_events.CATALOGUE,
    "atena": atena_events.CATALOGUE,
    "boshi_core": boshi_events.CATALOGUE,
    "immunization_bridge": immunization_events.CATALOGUE,
    "e_application": eapp_events.CATALOGUE,
    "intermediate_server": ims_events.CATALOGUE,
}
EMITTED: dict[str, EventType[Any]] = {
    event.type: event for catalogue in CATALOGUES.values() for event in catalogue
}


def _resolve(document: dict[str, Any], ref: str) -> dict[str, Any]:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return dict(node)


def documented_types() -> dict[str, dict[str, Any]]:
    """Each event type the document names (a channel address with its parameters' values
    expanded), with the `data` schema of its message."""
    document = yaml.safe_load(ASYNCAPI.read_text(encoding="utf-8"))
    types: dict[str, dict[str, Any]] = {}
    for channel in document["channels"].values():
        address: str = channel["address"]
        if address.startswith("deadletter."):
            continue  # carries other services' events, not a type of its own
        (message,) = channel["messages"].values()
        payload = _resolve(document, message["$ref"])["payload"]
        (data,) = [
            part["properties"]["data"]
            for part in payload["allOf"]
            if "data" in part.get("properties", {})
        ]
        parameters = channel.get("parameters", {})
        names = list(parameters)
        for values in itertools.product(*(parameters[name]["enum"] for name in names)):
            types[address.format(**dict(zip(names, values, strict=True)))] = data
    return types


DOCUMENTED = documented_types()


def test_every_emitted_type_is_documented_and_every_documented_type_is_emitted() -> None:
    assert sorted(set(EMITTED) - set(DOCUMENTED)) == [], "emitted but not documented"
    assert sorted(set(DOCUMENTED) - set(EMITTED)) == [], "documented but never emitted"


@pytest.mark.parametrize("event_type", sorted(EMITTED))
def test_a_payload_has_the_documented_fields(event_type: str) -> None:
    fields = EMITTED[event_type].payload.model_fields
    data = DOCUMENTED[event_type]
    assert sorted(set(fields) - set(data["properties"])) == [], "fields not documented"
    required = {name for name, field in fields.items() if field.is_required()}
    assert sorted(set(data.get("required", [])) - required) == [], "documented as required"


def test_every_documented_field_is_some_emitted_payload_s() -> None:
    """A message shared by several types (atena's verbs) documents each type's extra field."""
    fields_by_schema: dict[int, tuple[dict[str, Any], set[str]]] = {}
    for event_type, data in DOCUMENTED.items():
        _, fields = fields_by_schema.setdefault(id(data), (data, set()))
        fields |= set(EMITTED[event_type].payload.model_fields)
    for data, fields in fields_by_schema.values():
        assert sorted(set(data["properties"]) - fields) == [], "documented, never emitted"
