"""Tessera's benchmarks (``make bench``; never part of ``make test``).

One module, one job:

- ``run``: the command line and the order of things (start, check, measure, report).
- ``ceiling``: the bare aiohttp token endpoint no Python server can beat.
- ``peer/``: oidc-provider (Node.js), configured like Tessera; ``contenders`` starts it and the ceiling.
- ``tessera_suite``: Tessera's services on durable embedded Postgres, Redis and NATS;
  ``provision`` makes its benchmark tenant, applications and clients through the admin API.
- ``load`` and ``wrk/``: the load generator (Debian's wrk with Lua scripts) and its rounds.
- ``check``: one request per target before the load, to show the three do the same work.
- ``watch`` and ``procs``: processes pinned to CPUs, their memory and CPU under load.
- ``report``: the table and docs/benchmarks.md; ``machine``: what it ran on.
"""
