"""The benchmark's results and their rendering as Markdown (printed, and written to docs/)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from .load import Measurement
from .scenarios import SCALING, Scenario
from .targets import targets_section
from .watch import Usage, busy_share, cost_per_request, half_key

SYSTEMS = ("ceiling", "peer", "tessera")
TITLES = {"ceiling": "Ceiling", "peer": "Peer", "tessera": "Tessera"}
SATURATED = 0.8   # below this share of the server CPUs, something else limited the throughput
NOISY = 0.10      # above this share of the machine's CPU used by others, the run says it was noisy


@dataclass
class Cell:
    measurement: Measurement | None = None
    note: str = ""                      # why there is no measurement (n/a, not built yet, check failed)
    detail: str = ""                    # a sentence under the table explaining the note
    busy: float | None = None           # CPU share of all the system's processes under load


@dataclass
class Row:
    scenario: Scenario
    cells: dict[str, Cell] = field(default_factory=dict)
    latency: dict[str, Measurement] = field(default_factory=dict)   # each system at about half its own peak
    checks: dict[str, str] = field(default_factory=dict)
    reruns: dict[str, list[int]] = field(default_factory=dict)   # system -> [rounds run again (codes ran out)]
    supplies: dict[str, str] = field(default_factory=dict)        # system -> what its runs used up, as made
    # system -> buffers its Postgres's checkpointer wrote during its throughput rounds (Tessera's only)
    checkpoint_buffers: dict[str, int] = field(default_factory=dict)

    def rate(self, system: str) -> float | None:
        cell = self.cells.get(system)
        return cell.measurement.throughput if cell and cell.measurement and cell.measurement.rounds else None


@dataclass
class ScalingRow:
    """Tessera alone, measured two ways (``base`` and ``scaled``, named by ``cases``)."""
    title: str
    cases: tuple[str, str]
    base: Measurement | None = None
    scaled: Measurement | None = None
    note: str = ""                      # instead of figures: why there are none
    details: list[str] = field(default_factory=list)   # sentences under the table
    check: str = ""                     # what the scaled case answered before the load
    provision_s: float | None = None
    provision_rate: float | None = None
    # the peer's same scenario in rounds beside each case (its own data unchanged): the machine's drift
    control: tuple[Measurement, Measurement] | None = None
    paired: bool = False                # round i of each case measured back to back (interleaved)
    key: str = ""                       # apps, users, tokens or procs (bench/scaling.py)
    size: int | None = None             # what the second case really had (applications made, users stored)
    rss: dict[str, int] = field(default_factory=dict)   # process label -> resident bytes read in the row

    def drift(self) -> float | None:
        """The peer's rate in the second case over the first; None without a control."""
        if not self.control or not all(m.rounds and m.throughput for m in self.control):
            return None
        return self.control[1].throughput / self.control[0].throughput

    def measured(self) -> bool:
        return bool(self.base and self.base.rounds and self.scaled and self.scaled.rounds)

    def ratio(self) -> float | None:
        """The second case's throughput over the first's; None unless both were measured."""
        if not self.measured() or not self.base.throughput:
            return None
        return self.scaled.throughput / self.base.throughput

    def round_ratios(self) -> list[float]:
        """Of an interleaved row, each round's second case over the same round's first: the spread
        shows how far the machine moved within the row; empty for rows measured case after case."""
        if not (self.paired and self.measured()):
            return []
        assert self.base and self.scaled
        return [s.ok_per_s / b.ok_per_s for b, s in zip(self.base.rounds, self.scaled.rounds) if b.ok_per_s]

    def runs(self) -> list[tuple[str, Measurement]]:
        return [(case, m) for case, m in zip(self.cases, (self.base, self.scaled)) if m and m.rounds]


@dataclass
class Report:
    started: datetime
    command: str
    method: list[str]
    machine: dict[str, str]
    versions: dict[str, str]
    configurations: dict[str, str]
    server_commands: list[str]
    server_cpus: int = 1
    rows: list[Row] = field(default_factory=list)
    scaling: list[ScalingRow] = field(default_factory=list)
    usage: dict[str, Usage] = field(default_factory=dict)   # process label -> memory and CPU
    members: dict[str, list[str]] = field(default_factory=dict)   # system -> its process labels
    idle_cpu: float | None = None       # all server processes together, nothing under load
    cpu_ledger: dict[str, float] = field(default_factory=dict)   # machine CPU shares over the run
    problems: list[str] = field(default_factory=list)
    finished: datetime | None = None
    performance_log: str = ""           # docs/performance-log.md: its change tables are copied in
    short_run: str = ""                 # how the run's warm-up and rounds fall short of a full run's


COUNTERS = {
    "exhausted": "sent after the codes ran out (a code redeemed twice would be answered 400 too)",
    "starved": "sent with no refresh-token family free",
}


def counters_note(counters: dict[str, int]) -> str:
    """The load script's own counts (bench/wrk/stats.lua ``count``), said in words; '' when none."""
    shown = [f"{n:,} {COUNTERS.get(name, name)}" for name, n in sorted(counters.items()) if n]
    return f"; of those, {', '.join(shown)}" if shown else ""


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def _ratio(a: float | None, b: float | None) -> str:
    return "—" if a is None or not b else f"{a / b:.2f}"


def _cell(row: Row, system: str, server_cpus: int) -> str:
    cell = row.cells.get(system)
    if cell is None:
        return "—"
    if cell.measurement is None or not cell.measurement.rounds:
        return cell.note or "—"
    return _rate(cell.measurement.throughput) + ("†" if _unsaturated(cell, server_cpus) else "")


def _unsaturated(cell: Cell, server_cpus: int) -> bool:
    return cell.busy is not None and cell.busy < SATURATED * server_cpus


def _latency(row: Row, system: str) -> str:
    m = row.latency.get(system)
    if m is None or not m.rounds:
        return "—"
    peak = row.rate(system)
    share = f", {m.throughput / peak:.0%} of peak" if peak else ""
    return f"{m.latency_ms('p50'):.1f} / {m.latency_ms('p99'):.1f} at {m.throughput:,.0f}/s{share}"


def runs_of(row: Row, system: str) -> list[Measurement]:
    """Every measurement of a system in a row: its throughput rounds, then its latency rounds."""
    cell = row.cells.get(system)
    runs = [cell.measurement] if cell and cell.measurement and cell.measurement.rounds else []
    return runs + ([row.latency[system]] if system in row.latency and runs else [])


def _failures(row: Row) -> str:
    parts = []
    for system in SYSTEMS:
        runs = runs_of(row, system)
        if runs:
            bad, errors = sum(m.non2xx for m in runs), sum(m.socket_errors for m in runs)
            parts.append(f"{bad}" + (f" (+{errors} socket errors)" if errors else ""))
        else:
            parts.append("—")
    return " / ".join(parts)


def results_table(rows: list[Row], server_cpus: int = 1) -> str:
    lines = [
        "| Scenario | Ceiling req/s | Peer req/s | Tessera req/s | Tessera/peer | Tessera/ceiling "
        "| Tessera p50 / p99 ms (at load) | Peer p50 / p99 ms (at load) | Ceiling p50 / p99 ms (at load) "
        "| non-2xx ceiling / peer / Tessera |",
        "|---|---:|---:|---:|---:|---:|---|---|---|---|",
    ]
    notes: list[str] = []
    unsaturated = False
    for row in rows:
        if not row.scenario.measured:
            lines.append(f"| {row.scenario.title} | — | — | not built yet | — | — | — | — | — | — |")
            continue
        for system in SYSTEMS:
            cell = row.cells.get(system)
            if cell and cell.detail and f"{TITLES[system]}: {cell.detail}" not in notes:
                notes.append(f"{TITLES[system]}: {cell.detail}")
            unsaturated = unsaturated or bool(cell and _unsaturated(cell, server_cpus))
            if system in row.supplies:
                notes.append(f"{row.scenario.short}, {TITLES[system]}: {row.supplies[system]}")
        lines.append(
            f"| {row.scenario.title} | {_cell(row, 'ceiling', server_cpus)} | {_cell(row, 'peer', server_cpus)} "
            f"| {_cell(row, 'tessera', server_cpus)} "
            f"| {_ratio(row.rate('tessera'), row.rate('peer'))} | {_ratio(row.rate('tessera'), row.rate('ceiling'))} "
            f"| {_latency(row, 'tessera')} | {_latency(row, 'peer')} | {_latency(row, 'ceiling')} "
            f"| {_failures(row)} |")
    if unsaturated:
        notes.append(f"†: the system's processes kept the server CPUs less than {SATURATED:.0%} busy (see "
                     "Memory and CPU), so something besides the server limited the figure: the load generator, "
                     "or other work on the machine taking the server CPUs; ratios with it say less")
    if notes:
        lines += ["", *[f"- {note}" for note in notes]]
    return "\n".join(lines)


def checkpoint_note(rows: list[Row]) -> list[str]:
    """What Tessera's Postgres checkpointer wrote during each row's throughput rounds: a checkpoint
    under way competes with the commits' WAL flushes (the peer's Redis syncs once a second)."""
    written = [(row.scenario.short, row.checkpoint_buffers["tessera"]) for row in rows
               if "tessera" in row.checkpoint_buffers]
    if not written:
        return []
    shown = ", ".join(f"{short} {buffers * 8 / 1024:,.1f} MiB" for short, buffers in written)
    return [f"Postgres checkpoint writes during Tessera's throughput rounds (`pg_stat_bgwriter.buffers_checkpoint`, "
            f"8 KiB buffers): {shown}. A checkpoint under way shares the disk with every commit's WAL flush.", ""]


def scaling_table(rows: list[ScalingRow]) -> str:
    """Tessera alone: each row's two cases side by side, their ratio, and what was done."""
    lines = ["| Scaling | Tessera req/s | Ratio | non-2xx |", "|---|---:|---:|---|"]
    if not rows:
        lines += [f"| {what} | not measured in this run (--skip-scaling) | — | — |" for what in SCALING]
        return "\n".join(lines)
    details: list[str] = []
    for row in rows:
        if not row.measured():
            lines.append(f"| {row.title} | {row.note or 'not measured'} | — | — |")
        else:
            assert row.base and row.scaled
            bad = " / ".join(f"{m.non2xx}" + (f" (+{m.socket_errors} socket errors)" if m.socket_errors else "")
                             for m in (row.base, row.scaled))
            ratio = _ratio(row.scaled.throughput, row.base.throughput)
            drift, raw = row.drift(), row.ratio()
            if drift is not None and row.control is not None and raw is not None:
                net = raw / drift
                ratio += f" ({net:.2f} net of drift)"
                details.append(f"{row.title}: the machine's drift between the two cases: the peer's same scenario, its "
                               "own data the same in both, measured in a round after each of Tessera's: "
                               f"{_rate(row.control[0].throughput)} → {_rate(row.control[1].throughput)} req/s "
                               f"({drift:.2f}); Tessera's ratio divided by it: {net:.2f}.")
            lines.append(f"| {row.title} | {row.cases[0]}: {_rate(row.base.throughput)}; {row.cases[1]}: "
                         f"{_rate(row.scaled.throughput)} | {ratio} | {bad} |")
            pairs = row.round_ratios()
            if len(pairs) > 1:
                details.append(f"{row.title}: round by round (each round's two cases measured one after the other), "
                               f"the second case over the first: {', '.join(f'{r:.2f}' for r in pairs)}.")
        details += row.details
    lines += ["", "Ratio: the second case over the first. Tessera only, measured after the rows above in the same run "
              "(the ceiling and the peer idle beside it): the applications and processes rows with client credentials "
              "(ES256 JWT access tokens), the users row with the full sign-in, the refresh-token row with refresh "
              "with rotation; how each was loaded, and how long that took, is below. The users and refresh-token "
              "rows measure their two cases minutes apart (the store only grows), and this machine's speed drifts "
              "that much over minutes: beside each of Tessera's rounds the peer's same scenario runs on its own "
              "unchanged data, and \"net of drift\" divides Tessera's ratio by the peer's (both figures shown)."]
    if details:
        lines += ["", *[f"- {d}" for d in details]]
    return "\n".join(lines)


def usage_table(usage: dict[str, Usage], rows: list[Row]) -> str:
    """Memory of each process, and its CPU share while its system served each scenario."""
    measured = [row.scenario for row in rows if row.scenario.measured]
    lines = ["| Process | Idle MiB | Peak under load MiB | " + " | ".join(f"CPU {s.short}" for s in measured) + " |",
             "|---|---:|---:|" + "---:|" * len(measured)]
    for name, u in usage.items():
        cpu = [u.cpu_share(s.key) for s in measured]
        shown = ["—" if c is None else f"{c:.0%}" for c in cpu]
        lines.append(f"| {name} | {u.idle_bytes / 2**20:.1f} | {u.peak_bytes / 2**20:.1f} | " + " | ".join(shown) + " |")
    return "\n".join(lines)


FIRST_SECTION = "Before the code flow: the client-credentials path"


def optimisation_tables(log: str) -> list[str]:
    """The change tables of docs/performance-log.md (rows under a ``| change (commit) |`` header),
    each under its section's title: what each optimisation gained, as measured when it landed."""
    out: list[str] = []
    section, in_table = FIRST_SECTION, False
    for line in log.splitlines():
        if line.startswith("## "):
            section, in_table = line[3:].strip(), False
        elif line.startswith("| change (commit) |"):
            in_table = True
            out += ["", f"### {section}", "", line]
        elif in_table and line.startswith("|"):
            out.append(line)
        else:
            in_table = False
    return out[1:]


def optimisation_section(log: str) -> list[str]:
    """The report's section of optimisations: :func:`optimisation_tables` under a heading."""
    tables = optimisation_tables(log)
    if not tables:
        return []
    return ["## What each optimisation gained", "",
            "Each change made for speed, what it does and what it measured when it landed, copied from "
            "[performance-log.md](performance-log.md) (which also has what was tried and not taken, and where "
            "the time goes). Each figure is from its own session's machine and hour: compare within a row, "
            "not across rows.", "", *tables, ""]


def cost_table(report: Report) -> str:
    """Microseconds of server CPU per successful request: each system's processes' CPU time over
    its throughput rounds, divided by the 2xx answers of those rounds; Tessera's split by process.
    Then the same over its latency rounds (about half of peak), with how busy that kept the
    server CPUs: the load at which its p50 / p99 were measured."""
    systems = [name for name in ("ceiling", "peer", "tessera") if name in report.members]
    lines = ["| Scenario | " + " | ".join(TITLES[name] for name in systems) + " | Tessera by process "
             "| At about half of peak: " + " / ".join(TITLES[name].lower() for name in systems)
             + " (server CPU busy) | Tessera by process at half of peak |",
             "|---|" + "---:|" * len(systems) + "---|---|---|"]
    for row in report.rows:
        if not row.scenario.measured:
            continue
        cells, half = [], []
        split = half_split = "—"
        for name in systems:
            labels = report.members[name]
            cell = row.cells.get(name)
            per = cost_per_request(report.usage, cell.measurement.rounds if cell and cell.measurement else [],
                                   row.scenario.key, labels)
            cells.append("—" if per is None else f"{sum(per.values()):,.0f}")
            latency = row.latency.get(name)
            at_half = cost_per_request(report.usage, latency.rounds if latency else [],
                                       half_key(row.scenario.key), labels)
            busy = busy_share(report.usage, labels, half_key(row.scenario.key))
            half.append("—" if at_half is None else f"{sum(at_half.values()):,.0f} ({busy:.0%})")
            if name == "tessera":
                split, half_split = _split(per), _split(at_half)
        lines.append(f"| {row.scenario.title} | " + " | ".join(cells) + f" | {split} | " + " / ".join(half)
                     + f" | {half_split} |")
    return "\n".join(lines)


def _split(per: dict[str, float] | None) -> str:
    if not per:
        return "—"
    return ", ".join(f"{label.removesuffix(' service')} {us:,.0f}"
                     for label, us in sorted(per.items(), key=lambda kv: -kv[1]) if us >= 0.5)


def status_table(rows: list[Row], scaling: list[ScalingRow] = ()) -> str:
    lines = ["| Scenario | System | Responses by status (all rounds, warm-up excluded) |", "|---|---|---|"]
    for row in rows:
        for system in SYSTEMS:
            runs = runs_of(row, system)
            if runs:
                statuses: dict[str, int] = {}
                counters: dict[str, int] = {}
                for m in runs:
                    for status, count in m.statuses.items():
                        statuses[status] = statuses.get(status, 0) + count
                    for name, count in m.counters.items():
                        counters[name] = counters.get(name, 0) + count
                shown = (", ".join(f"{s}: {n:,}" for s, n in sorted(statuses.items())) or "none") + \
                    counters_note(counters).replace("; of those,", " (of those,", 1) + (")" if counters_note(counters) else "")
                lines.append(f"| {row.scenario.title} | {TITLES[system]} | {shown} |")
    for srow in scaling:
        for case, m in srow.runs():
            shown = ", ".join(f"{s}: {n:,}" for s, n in sorted(m.statuses.items())) or "none"
            lines.append(f"| {srow.title} | Tessera, {case} | {shown} |")
    return "\n".join(lines)


def render(report: Report) -> str:
    """The whole report, as docs/benchmarks.md."""
    when = report.started.strftime("%Y-%m-%d %H:%M UTC")
    if report.finished:
        when += f", {(report.finished - report.started).total_seconds() / 60:.0f} min"
    out = [
        "# Benchmarks",
        "",
        f"Generated by `{report.command}` on {when} (`make bench`; rewritten by every run, do not edit by hand).",
        "How Tessera measures its speed is in the project's BENCHMARKS.md note: every figure that matters is a "
        "**ratio measured side by side in one run** on the same machine with the same load generator, "
        "against the bare ceiling and the peer (`oidc-provider`). Absolute requests per second move from "
        "one run and one machine to the next; read the ratios.",
        "",
        "To run: `make bench` (installs wrk, and g++, make and python3 for the peer's npm argon2, from Debian when missing, "
        "the peer with `npm ci --prefix bench/peer`, "
        "then runs `python -m bench.run`: about an hour, most of it loading the scaling rows: 10,000 applications, "
        "1,000,000 users (and the wait while Tessera's consumers digest them), and 1,000,000 live refresh tokens "
        "(1,000 through the code flow, the rest inserted directly, about a minute); "
        "`BENCH_ARGS=--skip-scaling` leaves the scaling rows out, about 20 minutes); "
        "`make bench BENCH_ARGS=--quick` for a short check (1,000 applications, 20,000 users, 100,000 refresh tokens); "
        "`--scenario KEY` runs one row alone; `python -m bench.run --help` for the rounds, durations, connections, "
        "CPUs and the scaling sizes and time budgets.",
        "",
        *targets_section(report),
        "## Results",
        "",
        "Throughput counts successful (2xx) responses only; the median of the rounds. Latency is each "
        "system's p50 / p99 at a fixed, lower load, about half its own peak (see Method): Tessera's is the "
        "target, the peer's and the ceiling's show what the machine gives a single process.",
        "",
        *([f"**A short run** ({report.short_run}): a check that every row works, not figures to quote. The peer "
           "runs on Node.js, whose compiler is still optimising its hot paths after seconds of load: short runs "
           "have measured it far slower than a full run of the same hour (docs/performance-log.md, session 11), "
           "so their ratios flatter Tessera.", ""] if report.short_run else []),
        results_table(report.rows, report.server_cpus),
        "",
        *checkpoint_note(report.rows),
        *([f"**Other processes on the machine used {report.cpu_ledger['others']:.0%} of its CPU time during this "
           "run** (see Machine): the ratios, measured side by side, hold better than the absolute figures, "
           "but both are noisier than on a quiet machine.", ""]
          if report.cpu_ledger.get("others", 0) > NOISY else []),
        scaling_table(report.scaling),
        "",
        "## Memory and CPU",
        "",
        "Each process's resident memory (RSS, /proc/PID/status) when idle after start and its peak while its "
        "system was under load; Tessera's embedded servers as PSS summed over their processes (Postgres has "
        "a backend per connection, sharing its buffers). CPU, per scenario: the process's CPU time over the "
        "time its system was under load (throughput rounds), as a share of one CPU; every server process "
        "shares the server CPUs, so this is where they went.",
        "",
        usage_table(report.usage, report.rows),
        "",
        "CPU per request: microseconds of CPU of all a system's server processes per successful (2xx) "
        "request, over its throughput rounds (the same CPU times as above, divided by what they served). "
        "Ratios of throughput are ratios of these when every system keeps the server CPUs busy. The same "
        "over the latency rounds (about half of each system's own peak) follows, with the share of the "
        "server CPUs they kept busy: a system whose work per request grows as the load falls (batches "
        "that shrink: a group commit, a publish burst) is busier at half of its peak than half, and its "
        "latency there measures queueing as well as work.",
        "",
        cost_table(report),
        "",
        *([f"With nothing under load, all server processes together used {report.idle_cpu:.1%} of one CPU: "
           "what the two idle systems take from the one being measured."]
          if report.idle_cpu is not None else []),
        "",
        *optimisation_section(report.performance_log),
        "## Method",
        "",
        *[f"- {line}" for line in report.method],
        "",
        "## Machine",
        "",
        *[f"- {name}: {value}" for name, value in report.machine.items()],
        *([f"- CPU time over the run (all {report.machine.get('CPUs (nproc)', '?')} CPUs): this benchmark "
           f"{report.cpu_ledger['ours']:.0%}, other processes on the machine {report.cpu_ledger['others']:.0%}, "
           f"taken by the hypervisor (steal) {report.cpu_ledger['steal']:.0%}"] if report.cpu_ledger else []),
        "",
        "## Versions",
        "",
        *[f"- {TITLES.get(name, name)}: {value}" for name, value in report.versions.items()],
        "",
        "## Configurations",
        "",
        *[f"- {TITLES.get(name, name)}: {value}" for name, value in report.configurations.items()],
        "",
        "What each answered before the load (one request, checked by the runner):",
        "",
        *[f"- {row.scenario.title}, {TITLES[s]}: {text}" for row in report.rows for s, text in row.checks.items()],
        *[f"- {row.title}, Tessera, {row.cases[1]}: {row.check}" for row in report.scaling if row.check],
        "",
        "## Command lines",
        "",
        "Servers (secrets replaced by placeholders):",
        "",
        "```",
        *report.server_commands,
        "```",
        "",
        "Load (one round of each; the warm-up runs the same command with its own duration):",
        "",
        "```",
        *_wrk_commands(report.rows, report.scaling),
        "```",
        "",
        "## Responses by status",
        "",
        status_table(report.rows, report.scaling),
        "",
        "## Problems seen",
        "",
        *([f"- {p}" for p in report.problems] or ["- none: every response counted was 2xx, no socket error, "
                                                  "no process died, no error in Tessera's logs"]),
        "",
    ]
    return "\n".join(out)


def _wrk_commands(rows: list[Row], scaling: list[ScalingRow] = ()) -> list[str]:
    out = []
    for row in rows:
        for system in SYSTEMS:
            cell = row.cells.get(system)
            if cell and cell.measurement and cell.measurement.rounds:
                out.append(f"# {row.scenario.title}: {TITLES[system]}")
                out.append(cell.measurement.rounds[0].command)
        for system, m in row.latency.items():
            if m.rounds:
                out.append(f"# {row.scenario.title}: {TITLES[system]} at a fixed, lower load")
                out.append(m.rounds[0].command)
    for srow in scaling:
        for case, m in srow.runs():
            out.append(f"# {srow.title}: Tessera, {case}")
            out.append(m.rounds[0].command)
    return out
