"""The token tests use the suite-wide fixtures (``suite``, ``admin``, ``make_app``) defined in the root
``tests/conftest.py`` from ``tests/support/fixtures.py``; nothing here is token-specific yet."""
