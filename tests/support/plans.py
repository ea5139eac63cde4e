"""Reading Postgres plans in tests: what a statement really read, from ``EXPLAIN (ANALYZE, FORMAT JSON)``."""
from __future__ import annotations

import orjson


def plan_of(explained: object) -> dict:
    """The top plan node of ``EXPLAIN (…, FORMAT JSON)`` output (asyncpg returns it as text)."""
    (plan,) = orjson.loads(explained) if isinstance(explained, str) else explained
    return plan["Plan"]


def rows_read(node: dict, relation: str) -> float:
    """Rows the scans of ``relation`` in this plan looked at, over all their loops: those they
    returned and those their filters removed (not the rows an UPDATE or INSERT node wrote)."""
    own = 0
    if node.get("Relation Name") == relation and node["Node Type"] != "ModifyTable":
        looked_at = node["Actual Rows"] + node.get("Rows Removed by Filter", 0) \
            + node.get("Rows Removed by Index Recheck", 0)
        own = looked_at * node["Actual Loops"]
    return own + sum(rows_read(child, relation) for child in node.get("Plans", ()))
