"""The web side: admin API, live wallboard, advisor screen pop, reports and Prometheus metrics.

Pure modules (no I/O library): ``roles``, ``passwords``, ``security``, ``wallboard``,
``metrics``, ``screen``, ``rules_form``, ``pages``, ``openapi``. Adapters: ``store``
(asyncpg), ``live`` (the polling fan-out), ``routes`` (aiohttp handlers, a module per feature),
``http`` (what they share), ``app`` (the route table and the guard), ``server``.
"""
