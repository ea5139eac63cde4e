"""Issue #4's targets judged on a run's figures (bench/targets.py), on plain data."""
from __future__ import annotations

from datetime import datetime, timezone

from bench.load import Measurement, WrkResult
from bench.report import Cell, Report, Row, ScalingRow, render
from bench.scenarios import SCENARIOS
from bench.targets import judge, latency_verdicts, memory_verdict, ratio_verdicts, scaling_verdicts
from bench.watch import Usage, half_key

SCENARIO = {s.key: s for s in SCENARIOS}


def _round(ok: int, p99_ms: float = 0.0) -> WrkResult:
    return WrkResult(requests=ok, non2xx=0, statuses={"200": ok}, errors={}, duration_s=10,
                     latency_us={"p50": 1000.0, "p99": p99_ms * 1000})


def _row(key: str, *, half_p99: float | None = None, **rates: int) -> Row:
    row = Row(SCENARIO[key], cells={system: Cell(Measurement([_round(ok * 10)])) for system, ok in rates.items()})
    if half_p99 is not None:
        row.latency["tessera"] = Measurement([_round(rates["tessera"] * 5, half_p99)])
    return row


def _report(rows=(), scaling=(), usage=None, members=None) -> Report:
    return Report(started=datetime(2026, 12, 7, tzinfo=timezone.utc), command="python -m bench.run", method=[],
                  machine={}, versions={}, configurations={}, server_commands=[], rows=list(rows),
                  scaling=list(scaling), usage=usage or {}, members=members or {})


def test_ratios_are_judged_against_their_least_and_a_row_not_run_is_not_judged():
    verdicts = ratio_verdicts(_report([_row("cc_jwt", ceiling=4_000, peer=2_000, tessera=3_000),
                                       _row("introspect", peer=2_000, tessera=2_900)]))
    assert [(v.target, v.measured, v.met) for v in verdicts] == [
        ("CC JWT: Tessera/peer ≥ 1.5", "1.50", True),
        ("CC JWT: Tessera/ceiling ≥ 0.7", "0.75", True),
        ("CC opaque: Tessera/peer ≥ 1.5", "not measured in this run", None),
        ("introspection: Tessera/peer ≥ 1.5", "1.45", False),
        ("refresh: Tessera/peer ≥ 1.5", "not measured in this run", None),
    ]


def test_p99_is_judged_on_every_row_with_a_latency_run_at_its_share_of_peak():
    verdicts = latency_verdicts(_report([_row("jwks", tessera=8_000, half_p99=4.7),
                                         _row("refresh", tessera=700, half_p99=10.2),
                                         _row("userinfo", tessera=5_000)]))
    assert [(v.target, v.measured, v.met) for v in verdicts] == [
        ("JWKS: p99 ≤ 10 ms at about half of peak", "4.7 ms at 50% of peak", True),
        ("refresh: p99 ≤ 10 ms at about half of peak", "10.2 ms at 50% of peak", False),
    ]


def _scaled(key: str, base: int, scaled: int, *, size: int | None = None, control=None) -> ScalingRow:
    row = ScalingRow(key, ("a", "b"), base=Measurement([_round(base)]), scaled=Measurement([_round(scaled)]),
                     key=key, size=size)
    if control:
        row.control = (Measurement([_round(control[0])]), Measurement([_round(control[1])]))
    return row


def test_scaling_is_judged_raw_with_the_drift_shown_and_a_smaller_run_is_not_judged():
    quick = scaling_verdicts([_scaled("apps", 1_000, 920, size=1_000),
                              _scaled("users", 250, 205, size=1_000_000, control=(290, 250))])
    assert [(v.measured, v.met) for v in quick] == [
        ("0.92, but with 1,000, not 10,000", None),
        ("0.82 (0.95 net of the machine's drift: within)", False),
    ]
    full = scaling_verdicts([_scaled("apps", 1_000, 920, size=10_000)])
    assert [(v.measured, v.met) for v in full] == [("0.92", True), ("not measured in this run", None)]


def test_memory_takes_the_largest_service_including_what_a_scaling_row_read():
    usage = {"token service": Usage(peak_bytes=70 * 2**20), "authn service": Usage(peak_bytes=110 * 2**20),
             "postgres": Usage(peak_bytes=400 * 2**20)}
    members = {"tessera": ["token service", "authn service", "postgres"]}
    assert memory_verdict(_report(usage=usage, members=members)).measured == "largest 115.3 MB (authn service)"
    big = ScalingRow("apps", ("a", "b"), key="apps", rss={"token service": 210_000_000})
    verdict = memory_verdict(_report(usage=usage, members=members, scaling=[big]))
    assert (verdict.measured, verdict.met) == ("largest 210.0 MB (token service)", False)


def test_the_report_opens_with_the_targets_and_counts_those_met():
    report = _report(rows=[_row("cc_jwt", ceiling=4_000, peer=2_000, tessera=2_200, half_p99=8.0)],
                     usage={"token service": Usage(peak_bytes=70 * 2**20)}, members={"tessera": ["token service"]})
    assert [v.met for v in judge(report)] == [False, False, None, None, None, True, None, None, True]
    text = render(report)
    assert text.index("## Targets") < text.index("## Results")
    assert "**2 of 4 met** (5 not judged: not measured in this run)" in text
    assert "| CC JWT: Tessera/peer ≥ 1.5 | 1.10 | **not met** |" in text


def _cpu(key: str, usage: dict[str, Usage] | None = None, **seconds: float) -> dict[str, Usage]:
    """``usage`` (or new) with each process's ``seconds`` of CPU under ``key``, over 10 s of load."""
    usage = usage if usage is not None else {}
    for label, s in seconds.items():
        counted = usage.setdefault(label.replace("_", " "), Usage())
        counted.cpu_s[key], counted.loaded_s[key] = s, 10.0
    return usage


CC_MEMBERS = {"ceiling": ["ceiling"], "peer": ["peer"], "tessera": ["token service", "postgres", "nats"]}


def test_an_unmet_ratio_shows_the_cpu_budget_it_allows_and_how_the_run_spent_it():
    # Rounds of 10 s: 4,000 / 2,000 / 2,500 tokens a second. CPU per token: the ceiling 250 µs, the peer
    # 500, Tessera 400 (token service 300, Postgres 70, NATS 30).
    row = _row("cc_jwt", ceiling=4_000, peer=2_000, tessera=2_500)
    usage = _cpu("cc_jwt", ceiling=10.0, peer=10.0, token_service=7.5, postgres=1.75, nats=0.75)
    peer, ceiling, *_ = ratio_verdicts(_report([row], usage=usage, members=CC_MEMBERS))
    assert (peer.measured, peer.met) == ("1.25", False)
    assert peer.why == ("1.5× the peer allows Tessera 333 µs of server CPU per request (the peer's 500 / 1.5; "
                        "this run 400); its Postgres, NATS and Redis took 100, leaving its services 233 "
                        "(this run 300): less than the bare ceiling's whole request, 250")
    assert (ceiling.measured, ceiling.met) == ("0.62", False)
    assert ceiling.why.startswith("0.7× the ceiling allows Tessera 357 µs of server CPU per request (the "
                                  "ceiling's 250 / 0.7; this run 400)")


def test_the_budget_is_left_out_when_the_servers_had_more_than_one_cpu_or_a_ratio_is_met():
    row = _row("cc_jwt", ceiling=4_000, peer=2_000, tessera=2_500)
    usage = _cpu("cc_jwt", ceiling=10.0, peer=10.0, token_service=7.5, postgres=1.75, nats=0.75)
    report = _report([row], usage=usage, members=CC_MEMBERS)
    report.server_cpus = 2
    assert [v.why for v in ratio_verdicts(report)] == [""] * 5
    met = _row("cc_jwt", ceiling=4_000, peer=1_000, tessera=3_000)
    assert ratio_verdicts(_report([met], usage=usage, members=CC_MEMBERS))[0].why == ""


def test_an_unmet_p99_shows_how_busy_its_load_kept_the_cpu_and_the_peers_p99():
    row = _row("refresh", peer=800, tessera=1_000, half_p99=28.5)      # 500 refreshes a second at half
    row.latency["peer"] = Measurement([_round(4_000, 52.4)])
    usage = _cpu(half_key("refresh"), _cpu("refresh", token_service=9.0, postgres=1.0), token_service=6.0,
                 postgres=3.0)
    members = {"tessera": ["token service", "postgres"], "peer": ["peer"]}
    (verdict,) = latency_verdicts(_report([row], usage=usage, members=members))
    assert verdict.why == ("the server CPU 90% busy at that load, 1,800 µs per request against 1,000 at peak; "
                           "the peer's p99 at about half of its own peak: 52.4 ms")
    slow = _row("login", tessera=30, half_p99=1540.0)                   # 150 sign-ins in the round
    usage = _cpu(half_key("login"), authn_service=6.3)
    (verdict,) = latency_verdicts(_report([slow], usage=usage, members={"tessera": ["authn service"]}))
    assert verdict.why == "each request's own server CPU at that load, 42.0 ms, is above 10 ms"


def test_an_unmet_scaling_row_shows_its_rounds_spread():
    row = ScalingRow("apps", ("a", "b"), key="apps", size=10_000, paired=True,
                     base=Measurement([_round(2_500), _round(2_600), _round(2_400)]),
                     scaled=Measurement([_round(1_975), _round(2_150), _round(2_350)]))
    (verdict, _users) = scaling_verdicts([row])
    assert (verdict.measured, verdict.met, verdict.why) == ("0.86", False, "round by round 0.79–0.98")
