"""The speed targets of issue #4, judged on one run's figures (rendered by bench/report.py).

Each target is judged on what this run measured, as the issue states it: ratios side by side in
one run, p99 at about half of peak, throughput within ±10 % across the scaling rows' cases, and
each service's resident memory under load. A target the run did not measure (a row left out, a
quick run's smaller sizes) is said to be unjudged, not met.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .scenarios import SCENARIOS

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

    @property
    def word(self) -> str:
        return {True: "met", False: "**not met**", None: "not judged"}[self.met]


def ratio_verdicts(rows: list[Row]) -> list[Verdict]:
    by_key = {row.scenario.key: row for row in rows}
    short = {s.key: s.short for s in SCENARIOS}
    out = []
    for key, against, least in RATIOS:
        row = by_key.get(key)
        target = f"{short[key]}: Tessera/{against} ≥ {least:g}"
        ours, theirs = (row.rate("tessera"), row.rate(against)) if row else (None, None)
        if not ours or not theirs:
            out.append(Verdict(target, "not measured in this run", None))
        else:
            out.append(Verdict(target, f"{ours / theirs:.2f}", ours / theirs >= least))
    return out


def latency_verdicts(rows: list[Row]) -> list[Verdict]:
    """One per row Tessera was measured on at about half of its peak."""
    out = []
    for row in rows:
        m = row.latency.get("tessera")
        if m is None or not m.rounds:
            continue
        peak = row.rate("tessera")
        share = f" at {m.throughput / peak:.0%} of peak" if peak else ""
        p99 = m.latency_ms("p99")
        out.append(Verdict(f"{row.scenario.short}: p99 ≤ {P99_MS:g} ms at about half of peak",
                           f"{p99:.1f} ms{share}", p99 <= P99_MS))
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
        drift = row.drift()
        if drift is None:
            out.append(Verdict(target, f"{ratio:.2f}", _within(ratio)))
            continue
        net = ratio / drift
        met = _within(ratio)
        shown = f"{ratio:.2f} ({net:.2f} net of the machine's drift"
        if not met and _within(net):
            shown += ": within"
        out.append(Verdict(target, shown + ")", met))
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
    return [*ratio_verdicts(report.rows), *latency_verdicts(report.rows), *scaling_verdicts(report.scaling),
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
        "peak on the rows that write a durable grant).",
        "",
        "| Target | This run | Verdict |",
        "|---|---|---|",
        *[f"| {v.target} | {v.measured} | {v.word} |" for v in verdicts],
        "",
    ]
