"""The benchmark report's CPU-per-request table (bench/report.py), on plain data."""
from __future__ import annotations

from datetime import datetime, timezone

from bench.load import Measurement, WrkResult
from bench.report import FIRST_SECTION, Cell, Report, Row, cost_table, half_key, optimisation_tables
from bench.scenarios import SCENARIOS
from bench.watch import Usage


def _served(ok: int, non2xx: int = 0) -> WrkResult:
    return WrkResult(requests=ok + non2xx, non2xx=non2xx, statuses={}, errors={}, duration_s=10, latency_us={})


def test_cpu_per_request_divides_each_systems_cpu_by_what_it_served_and_splits_tessera():
    cc_jwt = SCENARIOS[0]
    half = half_key(cc_jwt.key)
    report = Report(datetime.now(timezone.utc), "python -m bench.run", [], {}, {}, {}, [])
    report.members = {"ceiling": ["ceiling"], "tessera": ["token service", "postgres", "nats"]}
    report.usage = {"ceiling": Usage(cpu_s={cc_jwt.key: 1.0}),
                    "token service": Usage(cpu_s={cc_jwt.key: 2.0, half: 3.0}, loaded_s={half: 5.0}),
                    "postgres": Usage(cpu_s={cc_jwt.key: 0.5, half: 1.0}, loaded_s={half: 5.0}),
                    "nats": Usage(cpu_s={})}                      # idle during this scenario
    # Tessera: two rounds, 10,000 successes in all (the 500 failures served nothing); at about half
    # of peak one round of 5,000 in 5 s, 4 s of CPU: 800 µs a request, the server CPU 80 % busy.
    report.rows = [Row(cc_jwt, cells={"ceiling": Cell(Measurement([_served(10_000)])),
                                      "tessera": Cell(Measurement([_served(4_000, 500), _served(6_000)]))},
                       latency={"tessera": Measurement([_served(5_000)])})]
    lines = cost_table(report).splitlines()
    assert lines[0] == ("| Scenario | Ceiling | Tessera | Tessera by process | At about half of peak: "
                        "ceiling / tessera (server CPU busy) | Tessera by process at half of peak |")
    assert lines[2] == f"| {cc_jwt.title} | 100 | 250 | token 200, postgres 50 | — / 800 (80%) | token 600, postgres 200 |"


# The code-flow rows: the load scripts' own counters, the sign-in driver's parsing --------------------
from bench.report import ScalingRow, counters_note, scaling_table, status_table  # noqa: E402
from bench.scenarios import SCALING  # noqa: E402
from bench.signin import Client, LoopResult, SignInError, code_from, parse_form, summary  # noqa: E402
from bench.users import Credentials, username  # noqa: E402


def _run(statuses: dict[str, int], counters: dict[str, int] | None = None) -> WrkResult:
    non2xx = sum(n for s, n in statuses.items() if not s.startswith("2"))
    return WrkResult(requests=sum(statuses.values()), non2xx=non2xx, statuses=statuses, errors={}, duration_s=10,
                     latency_us={}, counters=counters or {})


def test_measurement_sums_the_scripts_counters_over_rounds():
    m = Measurement([_run({"200": 5}, {"exhausted": 2}), _run({"200": 5}, {"exhausted": 1, "starved": 4})])
    assert m.counters == {"exhausted": 3, "starved": 4}


def test_counters_are_said_in_words_and_nothing_when_none():
    assert counters_note({}) == ""
    assert counters_note({"exhausted": 0}) == ""
    note = counters_note({"exhausted": 1_200, "starved": 3})
    assert note.startswith("; of those, 1,200 sent after the codes ran out")
    assert "3 sent with no refresh-token family free" in note
    assert counters_note({"other": 2}) == "; of those, 2 other"


def test_status_table_shows_the_counters_beside_the_statuses():
    code = next(s for s in SCENARIOS if s.key == "code")
    row = Row(code, cells={"peer": Cell(Measurement([_run({"200": 10, "400": 4}, {"exhausted": 4})]))})
    line = status_table([row]).splitlines()[2]
    assert line.startswith(f"| {code.title} | Peer | 200: 10, 400: 4 (of those, 4 sent after the codes ran out")
    assert line.endswith(") |")


def _paced(ok: int, p50_ms: float, p99_ms: float, statuses: dict[str, int] | None = None) -> WrkResult:
    statuses = statuses or {"200": ok}
    non2xx = sum(n for s, n in statuses.items() if not s.startswith("2"))
    return WrkResult(requests=sum(statuses.values()), non2xx=non2xx, statuses=statuses, errors={}, duration_s=10,
                     latency_us={"p50": p50_ms * 1000, "p99": p99_ms * 1000})


def test_results_table_shows_each_systems_latency_at_half_its_own_peak_and_counts_its_failures():
    from bench.report import results_table
    cc_jwt = SCENARIOS[0]
    row = Row(cc_jwt, cells={"ceiling": Cell(Measurement([_served(40_000)])),
                             "peer": Cell(Measurement([_served(20_000)])),
                             "tessera": Cell(Measurement([_served(30_000, 3)]))},
              latency={"ceiling": Measurement([_paced(20_000, 0.8, 3.5)]),
                       "peer": Measurement([_paced(10_000, 1.3, 8.5, {"200": 10_000, "500": 2})]),
                       "tessera": Measurement([_paced(15_000, 2.5, 9.75)])})
    cells = [c.strip() for c in results_table([row]).splitlines()[2].split("|")[1:-1]]
    assert cells[6:] == ["2.5 / 9.8 at 1,500/s, 50% of peak", "1.3 / 8.5 at 1,000/s, 50% of peak",
                         "0.8 / 3.5 at 2,000/s, 50% of peak", "0 / 2 / 3"]
    lines = status_table([row]).splitlines()
    assert lines[3] == f"| {cc_jwt.title} | Peer | 200: 10,000, 500: 2 |"


def test_results_table_without_a_latency_run_says_so():
    from bench.report import results_table
    row = Row(SCENARIOS[0], cells={"peer": Cell(Measurement([_served(20_000)]))})
    cells = [c.strip() for c in results_table([row]).splitlines()[2].split("|")[1:-1]]
    assert cells[6:9] == ["—", "—", "—"]


def test_scaling_table_without_rows_names_every_row_unmeasured():
    lines = scaling_table([]).splitlines()[2:]
    assert [ln.split(" | ")[0].lstrip("| ") for ln in lines] == list(SCALING)
    assert all("not measured in this run" in ln for ln in lines)


def test_scaling_row_with_its_cases_and_ratio():
    row = ScalingRow("1,000 vs 1,000,000 users (full sign-in)", ("1,000 users", "1,000,000 users"),
                     base=Measurement([_run({"200": 200})]), scaled=Measurement([_run({"200": 150})]))
    line = scaling_table([row]).splitlines()[2]
    assert line == "| 1,000 vs 1,000,000 users (full sign-in) | 1,000 users: 20; 1,000,000 users: 15 | 0.75 | 0 / 0 |"


def test_scaling_row_with_a_control_shows_the_ratio_net_of_the_machines_drift():
    row = ScalingRow("1,000 vs 1,000,000 users (full sign-in)", ("1,000 users", "1,000,000 users"),
                     base=Measurement([_run({"200": 200})]), scaled=Measurement([_run({"200": 180})]),
                     control=(Measurement([_run({"200": 300})]), Measurement([_run({"200": 270})])))
    assert row.drift() == 0.9
    lines = scaling_table([row]).splitlines()
    assert lines[2] == ("| 1,000 vs 1,000,000 users (full sign-in) | 1,000 users: 20; 1,000,000 users: 18 "
                        "| 0.90 (1.00 net of drift) | 0 / 0 |")
    assert any("30 → 27 req/s (0.90); Tessera's ratio divided by it: 1.00." in line for line in lines)


def test_an_interleaved_scaling_row_gives_each_rounds_ratio():
    row = ScalingRow("t", ("a", "b"), base=Measurement([_run({"200": 200}), _run({"200": 100})]),
                     scaled=Measurement([_run({"200": 150}), _run({"200": 110})]), paired=True)
    assert row.round_ratios() == [0.75, 1.1]
    lines = scaling_table([row]).splitlines()
    assert any(line.endswith("the second case over the first: 0.75, 1.10.") for line in lines)


def test_a_scaling_row_measured_case_after_case_has_no_round_pairs():
    row = ScalingRow("t", ("a", "b"), base=Measurement([_run({"200": 200}), _run({"200": 100})]),
                     scaled=Measurement([_run({"200": 150}), _run({"200": 110})]))
    assert row.round_ratios() == []
    assert "round by round" not in scaling_table([row])


def test_scaling_row_without_a_control_run_has_no_drift():
    row = ScalingRow("t", ("a", "b"), base=Measurement([_run({"200": 200})]), scaled=Measurement([_run({"200": 180})]),
                     control=(Measurement([_run({"200": 300})]), Measurement()))
    assert row.drift() is None
    assert "net of drift" not in scaling_table([row]).splitlines()[2]


LOGIN = """<html><form method="get" action="/search"><input name="q"></form>
<form method="post" action="/bench-code/login?request=abc&amp;x=1">
  <input type="hidden" name="csrf" value="t0k&quot;en">
  <input type='hidden' name='request' value='abc'>
  <input name="username" autocomplete="username" required>
  <input name="password" type="password">
</form></html>"""


def test_parse_form_takes_the_form_with_a_password_and_its_hidden_inputs():
    action, inputs = parse_form(LOGIN)
    assert action == "/bench-code/login?request=abc&x=1"
    assert inputs == {"csrf": 't0k"en', "request": "abc", "username": "", "password": ""}
    assert parse_form("<form action='/x'><input name='q'></form>") is None


def test_code_from_a_redirect_checks_state_and_errors():
    assert code_from("https://client.example/callback?code=c1&state=s&iss=x", "https://client.example/callback",
                     "s") == "c1"
    for location in ("https://client.example/callback?code=c1&state=other",
                     "https://client.example/callback?error=access_denied&state=s",
                     "https://client.example/callback?state=s"):
        try:
            code_from(location, "https://client.example/callback", "s")
        except SignInError as exc:
            assert exc.step == "authorize"
        else:
            raise AssertionError(location)


def test_client_resolve_sends_public_paths_to_their_service_as_the_gateway_would():
    gateway = (("public", "http://127.0.0.1:1"), ("token", "http://127.0.0.1:1"), ("authn", "http://127.0.0.1:2"),
               ("userinfo", "http://127.0.0.1:3"))
    c = Client("http://127.0.0.1:1/app/authorize", "http://127.0.0.1:1/app/token", "c", "Basic x", "https://rp/cb",
               gateway=gateway)
    assert c.resolve("http://127.0.0.1:1/app/login?request=r") == "http://127.0.0.1:2/app/login?request=r"
    assert c.resolve("http://127.0.0.1:1/app/authorize/resume?request=r") == \
        "http://127.0.0.1:1/app/authorize/resume?request=r"
    assert c.resolve("http://127.0.0.1:1/app/userinfo") == "http://127.0.0.1:3/app/userinfo"
    assert c.resolve("https://rp/cb?code=1") == "https://rp/cb?code=1"
    no_gateway = Client("u", "t", "c", "b", "r")
    assert no_gateway.resolve("http://127.0.0.1:1/app/login") == "http://127.0.0.1:1/app/login"


def test_sign_in_summary_is_shaped_like_the_wrk_scripts_line():
    result = LoopResult(completed=3, latencies_us=[1000.0, 3000.0, 2000.0], duration_s=2.0)
    result.failed["login: HTTP 500"] = 1
    line = summary(result)
    assert line["requests"] == 4 and line["non2xx"] == 1
    assert line["statuses"] == {"200": 3, "failed at login: HTTP 500": 1}
    assert line["latency_us"]["p50"] == 2000 and line["latency_us"]["max"] == 3000
    assert line["duration_s"] == 2.0
    empty = summary(LoopResult())
    assert empty["requests"] == 0 and empty["latency_us"]["p99"] == 0


def test_credentials_are_made_when_asked():
    users = Credentials(range(10, 1_000_010))
    assert len(users) == 1_000_000
    assert users[0] == (username(10), users[0][1])
    assert users[-1][0] == "user1000009"
    assert [u for u, _ in users[1:3]] == ["user0000011", "user0000012"]


# Quiescence and the synthetic refresh tokens (plain data) ----------------------------------------
from datetime import timedelta  # noqa: E402

from bench.quiesce import Quiesced, busy_consumers, pending_total  # noqa: E402
from bench.refresh_fill import COLUMNS, synthetic_rows  # noqa: E402


def test_busy_consumers_names_only_those_with_work_left():
    infos = [("userinfo-authn-users", 18_040, 32), ("authn-tenants", 0, 0), ("token-x", 0, 3)]
    assert busy_consumers(infos) == ["userinfo-authn-users: 18,040 pending, 32 unacknowledged",
                                     "token-x: 0 pending, 3 unacknowledged"]
    assert pending_total(infos) == 18_075
    assert busy_consumers([("a", 0, 0)]) == [] and pending_total([]) == 0


def test_quiesced_says_each_step_and_what_was_still_busy():
    done = Quiesced(steps={"consumers and outboxes": 31.0, "VACUUM (ANALYZE)": 0.4, "CPU quiet": 2.1},
                    drained=19_000, analyzed="authn.users")
    assert done.ok and round(done.seconds, 1) == 33.5
    assert done.describe() == ("33.5 s: consumers and outboxes 31.0 s (19,000 events applied), "
                               "VACUUM (ANALYZE) 0.4 s (authn.users), CPU quiet 2.1 s")
    late = Quiesced(steps={"consumers and outboxes": 600.0}, busy=["userinfo-authn-users: 5 pending, 0 unacknowledged"])
    assert not late.ok
    assert late.describe().endswith("NOT quiet when the time ran out: userinfo-authn-users: 5 pending, 0 unacknowledged")


def test_synthetic_refresh_tokens_are_live_rows_of_their_own_families_shaped_like_the_template():
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    template = {"tenant_id": "bench", "application_id": "bench-code", "client_id": "cid", "scopes": ["openid"],
                "claims": {"auth_time": 1, "amr": ["pwd"], "acr": "0", "sid": "s"},
                "issued_at": now - timedelta(days=1), "expires_at": now + timedelta(days=29)}
    rows = [dict(zip(COLUMNS, r)) for r in synthetic_rows(template, ["u1", "u2"], 1_000, now)]
    assert len(rows) == 1_000 and all(len(r) == len(COLUMNS) for r in rows)
    hashes = {r["token_hash"] for r in rows}
    assert len(hashes) == 1_000 and all(len(h) == 64 and int(h, 16) >= 0 for h in hashes)
    assert len({r["family_id"] for r in rows}) == 1_000 and len({r["grant_id"] for r in rows}) == 1_000
    assert {r["subject"] for r in rows} == {"u1", "u2"}
    for r in rows:
        assert r["consumed_at"] is None and r["revoked_at"] is None and r["access_hash"] is None
        assert r["expires_at"] - r["issued_at"] == timedelta(days=30) and r["expires_at"] > now
        assert r["issued_at"] <= now and r["claims"]["amr"] == ["pwd"] and r["claims"]["sid"] != "s"
        assert (r["tenant_id"], r["application_id"], r["client_id"]) == ("bench", "bench-code", "cid")
        assert len(r["token_id"]) == 22


def test_log_problems_leave_out_the_reuses_the_checks_provoked(tmp_path):
    from types import SimpleNamespace

    from bench.run import log_problems
    reused = '{"event":"token.refresh_token_reused","level":"warning"}\n'
    (tmp_path / "token.log").write_text(reused * 3 + '{"event":"nats.disconnected","level":"warning"}\n')
    (tmp_path / "authn.log").write_text(reused)
    servers = [SimpleNamespace(name=name, log_path=tmp_path / f"{name}.log") for name in ("token", "authn")]
    suite = SimpleNamespace(servers=servers, flows={"jwt": SimpleNamespace(reuses=2)})
    assert log_problems(suite) == [
        "Tessera token service log: warnings: token.refresh_token_reused × 1, nats.disconnected × 1",
        "Tessera authn service log: warnings: token.refresh_token_reused × 1"]
    suite.flows["jwt"].reuses = 3
    (tmp_path / "token.log").write_text(reused * 3)
    assert log_problems(suite) == ["Tessera authn service log: warnings: token.refresh_token_reused × 1"]


def test_checkpoint_note_gives_what_tesseras_checkpointer_wrote_per_row():
    from bench.report import checkpoint_note
    rows = [Row(SCENARIOS[0], checkpoint_buffers={"tessera": 12_800}), Row(SCENARIOS[3], checkpoint_buffers={}),
            Row(SCENARIOS[5], checkpoint_buffers={"tessera": 0})]
    note = checkpoint_note(rows)
    assert "CC JWT 100.0 MiB, refresh 0.0 MiB." in note[0]
    assert "JWKS" not in note[0]
    assert checkpoint_note([Row(SCENARIOS[0])]) == []


def test_the_optimisation_tables_are_copied_from_the_performance_log_under_their_sections():
    log = "\n".join([
        "# Performance log", "", "Intro.", "",
        "| change (commit) | what it does | ratio |", "| --- | --- | --- |", "| a (1) | x | 0.5 |", "",
        "Prose between.", "| not a change table |", "",
        "## Session 2: more", "", "Words.", "",
        "| change (commit) | what it does | measured |", "| --- | --- | --- |", "| b (2) | y | 1.0 |",
        "| c (3) | z | 1.1 |", "After the table.", "| another table | a |", "",
        "## Session 3: nothing changed", "", "Only prose.",
    ])
    assert optimisation_tables(log) == [
        f"### {FIRST_SECTION}", "",
        "| change (commit) | what it does | ratio |", "| --- | --- | --- |", "| a (1) | x | 0.5 |", "",
        "### Session 2: more", "",
        "| change (commit) | what it does | measured |", "| --- | --- | --- |", "| b (2) | y | 1.0 |",
        "| c (3) | z | 1.1 |",
    ]
    assert optimisation_tables("# Performance log\n\nNo table yet.") == []


def test_a_short_run_says_its_ratios_are_not_figures_to_quote():
    from bench.report import render
    from bench.run import parse_args, short_run
    assert short_run(parse_args([])) == ""
    said = short_run(parse_args(["--quick"]))
    assert said == "1 s warm-up and 1 round(s) of 3 s, against a full run's 3 s and 3 × 10 s"
    report = Report(started=datetime(2026, 12, 7, tzinfo=timezone.utc), command="python -m bench.run --quick",
                    method=[], machine={}, versions={}, configurations={}, server_commands=[], short_run=said)
    assert f"**A short run** ({said})" in render(report)
    report.short_run = ""
    assert "A short run" not in render(report)
