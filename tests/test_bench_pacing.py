"""The think time of the latency rounds (bench/load.py), on plain data."""
from __future__ import annotations

from bench.load import Load, pacing_for, repaced


def test_think_time_offers_the_rate_once_the_response_time_is_counted():
    assert pacing_for(1_000, 32) == 32
    assert pacing_for(1_000, 32, response_ms=4.4) == 28
    assert pacing_for(100_000, 32, response_ms=4.0) == 1     # never below a millisecond


def test_rounds_near_their_rate_are_kept():
    load = Load(32, 1, 10, "1", delay_ms=19)
    assert repaced(load, achieved=1_600, rate=1_486) is None
    assert repaced(load, achieved=1_200, rate=1_486) is None


def test_rounds_far_off_their_rate_are_paced_from_the_response_time_they_saw():
    load = Load(32, 1, 10, "1", delay_ms=15)
    # 1,849/s with 15 ms of think time: each connection's cycle took 17.3 ms, 2.3 of them answering.
    again = repaced(load, achieved=1_849, rate=1_486)
    assert again == Load(32, 1, 10, "1", delay_ms=19)       # 32 / 1,486 s = 21.5 ms, less 2.3
    assert repaced(load, achieved=0, rate=1_486) is None     # nothing served: nothing to correct from
