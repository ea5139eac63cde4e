"""The benchmark report's CPU-per-request table (bench/report.py), on plain data."""
from __future__ import annotations

from datetime import datetime, timezone

from bench.load import Measurement, WrkResult
from bench.report import Cell, Report, Row, cost_table
from bench.scenarios import SCENARIOS
from bench.watch import Usage


def _served(ok: int, non2xx: int = 0) -> WrkResult:
    return WrkResult(requests=ok + non2xx, non2xx=non2xx, statuses={}, errors={}, duration_s=10, latency_us={})


def test_cpu_per_request_divides_each_systems_cpu_by_what_it_served_and_splits_tessera():
    cc_jwt = SCENARIOS[0]
    report = Report(datetime.now(timezone.utc), "python -m bench.run", [], {}, {}, {}, [])
    report.members = {"ceiling": ["ceiling"], "tessera": ["token service", "postgres", "nats"]}
    report.usage = {"ceiling": Usage(cpu_s={cc_jwt.key: 1.0}),
                    "token service": Usage(cpu_s={cc_jwt.key: 2.0}),
                    "postgres": Usage(cpu_s={cc_jwt.key: 0.5}),
                    "nats": Usage(cpu_s={})}                      # idle during this scenario
    # Tessera: two rounds, 10,000 successes in all (the 500 failures served nothing).
    report.rows = [Row(cc_jwt, cells={"ceiling": Cell(Measurement([_served(10_000)])),
                                      "tessera": Cell(Measurement([_served(4_000, 500), _served(6_000)]))})]
    lines = cost_table(report).splitlines()
    assert lines[0] == "| Scenario | Ceiling | Tessera | Tessera by process |"
    assert lines[2] == f"| {cc_jwt.title} | 100 | 250 | token 200, postgres 50 |"
