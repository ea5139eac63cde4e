"""The event contract's JSON Schemas (draft 2020-12): ``envelope.v1.json`` and one
``<type>.v<version>.json`` per event type and version. Loaded by :mod:`shared.events.schema`."""
