"""The speed targets of issue #4, judged on one run's figures (rendered by bench/report.py).

Each target is judged on what this run measured, as the issue states it: ratios side by side in
one run, p99 at about half of peak, throughput within ±10 % across the scaling rows' cases, and
each service's resident memory under load. A target the run did not measure (a row left out, a
quick run's smaller sizes) is said to be unjudged, not met.

Beside an unmet target, what the run's own figures say of it. For a ratio, with every server
process on one CPU (the default), throughput is the inverse of the server CPU spent per request,
so "≥ k× a system" means at most that system's CPU per request over k: the budget is split into
what Tessera's Postgres, NATS and Redis took and what that leaves its services, set beside the
bare ceiling's whole request. For a p99, how busy the load kept the server CPU and what the peer
answered at about half of its own peak; for a scaling row, the spread of its rounds.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .scenarios import SCENARIOS
from .tessera_suite import INFRA
from .watch import busy_share, cost_per_request, half_key

if TYPE_CHECKING:
    from .report import Report, Row, ScalingRow

P99_MS = 10.0
SCALE_TOLERANCE = 0.10
MEMORY_BYTES = 200 * 10**6                # "under 200 MB"
APPLICATIONS = 10_000
USERS = 1_000_000

# (scenario key, against, at least): "client credentials with durable grant events ≥ 1.5× the
# peer and ≥ 0.7× the ceiling; introspection and refresh ≥ 1.5× the peer"
RATIOS = (
    ("cc_jwt", "peer", 1.5),
    ("cc_jwt", "ceiling", 0.7),
    ("cc_opaque", "peer", 1.5),
    ("introspect", "peer", 1.5),
    ("refresh", "peer", 1.5),
)
# (scaling row key, its size the target names, what the target says)
SCALES = (
    ("apps", APPLICATIONS, f"throughput from 1 to {APPLICATIONS:,} applications within ±10 %"),
    ("users", USERS, f"throughput from 1,000 to {USERS:,} users within ±10 %"),
)


@dataclass(frozen=True)
class Verdict:
    target: str
    measured: str
    met: bool | None          # None: this run did not measure it
    why: str = ""             # of an unmet target: what this run's own figures say of it

    @property
    def word(self) -> str:
        return {True: "met", False: "**not met**", None: "not judged"}[self.met]


def _costs(report: Report, row: Row, system: str, *, half: bool = False) -> dict[str, float] | None:
    """µs of server CPU per request of each of ``system``'s processes on ``row``: over its
    throughput rounds, or (``half``) over its rounds at about half of its peak."""
    if half:
        measurement, key = row.latency.get(system), half_key(row.scenario.key)
    else:
        cell = row.cells.get(system)
        measurement, key = (cell.measurement if cell else None), row.scenario.key
    return cost_per_request(report.usage, measurement.rounds if measurement else [], key,
                            report.members.get(system, []))


def ratio_budget(report: Report, row: Row, against: str, least: float) -> str:
    """The server CPU per request a ratio of ``least`` leaves Tessera, and how this run spent it;
    nothing unless every server process shared one CPU (the budget then holds)."""
    ours, theirs = _costs(report, row, "tessera"), _costs(report, row, against)
    if report.server_cpus != 1 or not ours or not theirs:
        return ""
    spent, their = sum(ours.values()), sum(theirs.values())
    need = their / least
    stores = sum(us for label, us in ours.items() if label in INFRA)
    left = need - stores
    text = (f"{least:g}× the {against} allows Tessera {need:,.0f} µs of server CPU per request (the {against}'s "
            f"{their:,.0f} / {least:g}; this run {spent:,.0f}); its Postgres, NATS and Redis took {stores:,.0f}, "
            f"leaving its services {left:,.0f} (this run {spent - stores:,.0f})")
    ceiling = theirs if against == "ceiling" else _costs(report, row, "ceiling")
    if ceiling and left < sum(ceiling.values()):
        text += f": less than the bare ceiling's whole request, {sum(ceiling.values()):,.0f}"
    return text


def ratio_verdicts(report: Report) -> list[Verdict]:
    by_key = {row.scenario.key: row for row in report.rows}
    short = {s.key: s.short for s in SCENARIOS}
    out = []
    for key, against, least in RATIOS:
        row = by_key.get(key)
        target = f"{short[key]}: Tessera/{against} ≥ {least:g}"
        ours, theirs = (row.rate("tessera"), row.rate(against)) if row else (None, None)
        if not ours or not theirs:
            out.append(Verdict(target, "not measured in this run", None))
        elif ours / theirs >= least:
            out.append(Verdict(target, f"{ours / theirs:.2f}", True))
        else:
            out.append(Verdict(target, f"{ours / theirs:.2f}", False, ratio_budget(report, row, against, least)))
    return out


def latency_context(report: Report, row: Row) -> str:
    """What made Tessera's p99 on ``row``: the CPU its load cost (per request, and the share of
    the server CPU it kept busy) against its cost at peak, and the peer's p99 at its own half."""
    parts = []
    half, peak = _costs(report, row, "tessera", half=True), _costs(report, row, "tessera")
    if half:
        per_request = sum(half.values())
        if per_request / 1000 > P99_MS:
            parts.append(f"each request's own server CPU at that load, {per_request / 1000:,.1f} ms, is above "
                         f"{P99_MS:g} ms")
        else:
            busy = busy_share(report.usage, report.members.get("tessera", []), half_key(row.scenario.key))
            parts.append(f"the server CPU {busy:.0%} busy at that load, {per_request:,.0f} µs per request"
                         + (f" against {sum(peak.values()):,.0f} at peak" if peak else ""))
    peer = row.latency.get("peer")
    if peer is not None and peer.rounds:
        parts.append(f"the peer's p99 at about half of its own peak: {peer.latency_ms('p99'):.1f} ms")
    return "; ".join(parts)


def latency_verdicts(report: Report) -> list[Verdict]:
    """One per row Tessera was measured on at about half of its peak."""
    out = []
    for row in report.rows:
        m = row.latency.get("tessera")
        if m is None or not m.rounds:
            continue
        peak = row.rate("tessera")
        share = f" at {m.throughput / peak:.0%} of peak" if peak else ""
        p99 = m.latency_ms("p99")
        met = p99 <= P99_MS
        out.append(Verdict(f"{row.scenario.short}: p99 ≤ {P99_MS:g} ms at about half of peak",
                           f"{p99:.1f} ms{share}", met, "" if met else latency_context(report, row)))
    return out


def _within(ratio: float) -> bool:
    return abs(ratio - 1) <= SCALE_TOLERANCE


def scaling_verdicts(scaling: list[ScalingRow]) -> list[Verdict]:
    by_key = {row.key: row for row in scaling}
    out = []
    for key, size, target in SCALES:
        row = by_key.get(key)
        ratio = row.ratio() if row else None
        if ratio is None:
            out.append(Verdict(target, "not measured in this run", None))
            continue
        if row.size is not None and row.size < size:
            out.append(Verdict(target, f"{ratio:.2f}, but with {row.size:,}, not {size:,}", None))
            continue
        met = _within(ratio)
        rounds = row.round_ratios()
        why = "" if met or not rounds else f"round by round {min(rounds):.2f}–{max(rounds):.2f}"
        drift = row.drift()
        if drift is None:
            out.append(Verdict(target, f"{ratio:.2f}", met, why))
            continue
        net = ratio / drift
        shown = f"{ratio:.2f} ({net:.2f} net of the machine's drift"
        if not met and _within(net):
            shown += ": within"
        out.append(Verdict(target, shown + ")", met, why))
    return out


def memory_verdict(report: Report) -> Verdict:
    """The largest resident memory of a Tessera service: under the main rows' load, and where a
    scaling row read it (the token service with 10,000 applications, a second token process)."""
    target = "each service's resident memory under load < 200 MB"
    seen = {label: report.usage[label].peak_bytes for label in report.members.get("tessera", [])
            if label.endswith("service") and label in report.usage}
    for row in report.scaling:
        for label, rss in row.rss.items():
            seen[label] = max(seen.get(label, 0), rss)
    if not seen:
        return Verdict(target, "not measured in this run", None)
    label, peak = max(seen.items(), key=lambda kv: kv[1])
    return Verdict(target, f"largest {peak / 10**6:,.1f} MB ({label})", peak < MEMORY_BYTES)


def judge(report: Report) -> list[Verdict]:
    return [*ratio_verdicts(report), *latency_verdicts(report), *scaling_verdicts(report.scaling),
            memory_verdict(report)]


def targets_section(report: Report) -> list[str]:
    verdicts = judge(report)
    met = sum(v.met is True for v in verdicts)
    judged = sum(v.met is not None for v in verdicts)
    return [
        "## Targets",
        "",
        f"Issue #4's targets, judged on this run's figures: **{met} of {judged} met**"
        + (f" ({len(verdicts) - judged} not judged: not measured in this run)" if judged < len(verdicts) else "")
        + ". Why those unmet stay so: [ADR 0006](adr/0006-one-durable-event-per-grant.md) (client credentials "
        "against the peer and the ceiling), [ADR 0007](adr/0007-latency-at-half-of-peak.md) (p99 at half of "
        "peak on the rows that write a durable grant). Beside each, what this run's own figures say of it: for a "
        "ratio, with every server process on one CPU, the server CPU per request it allows Tessera (the other "
        "system's over the ratio) and how this run spent it; for a p99, how busy that load kept the server CPU "
        "and the peer's p99 at about half of its own peak; for a scaling row, its rounds' spread.",
        "",
        "| Target | This run | Verdict | What this run's figures say |",
        "|---|---|---|---|",
        *[f"| {v.target} | {v.measured} | {v.word} | {v.why} |" for v in verdicts],
        "",
    ]
