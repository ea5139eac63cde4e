"""Tessera's benchmarks (``make bench``; never part of ``make test``).

One module, one job:

- ``run``: the command line and the order of things (start, check, measure, report).
- ``ceiling``: the bare aiohttp token endpoint no Python server can beat.
- ``peer/``: oidc-provider (Node.js), configured like Tessera; ``contenders`` starts it and the ceiling.
- ``tessera_suite``: Tessera's services on durable embedded Postgres, Redis and NATS;
  ``provision`` makes its benchmark tenant, applications and clients through the admin API.
- ``load`` and ``wrk/``: the load generator (Debian's wrk with Lua scripts) and its rounds.
- ``signin``: the browserless sign-in (authorize → login page → password → code → token), the
  same for both sides: the full sign-in row's own generator (``python -m bench.signin``) and the
  maker of codes, refresh-token families and access tokens; ``codeflow`` makes them before each
  run and builds each system's code-flow targets; ``users``: the users and their one argon2id hash.
- ``check``: one request per target before the load, to show the three do the same work.
- ``watch`` and ``procs``: processes pinned to CPUs, their memory and CPU under load.
- ``scaling``: Tessera alone: 1 vs 2 token processes, users, live refresh tokens, applications.
- ``report``: the table and docs/benchmarks.md; ``machine``: what it ran on.
"""
