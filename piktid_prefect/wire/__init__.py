"""The wire layer: PiktID's HTTP API as a typed sync/async client. It never imports Prefect.

Modules, each with one job: ``client`` (the two clients), ``_auth`` (tokens, refresh,
re-login), ``_retry`` (repeats only requests safe to repeat), ``_spec`` (a request
described without I/O), ``_endpoints`` (each endpoint's builder and parser), ``_status``
(HTTP statuses mapped onto ``errors``), ``models``, ``keywords`` and ``images`` (input
checks made before any credit is spent). The products a result is chained into have
their own: ``models_chain``, ``_endpoints_superid``, ``_endpoints_identity`` and
``_chain_client`` (the client calls, mixed into both clients); see ``docs/chain-api.md``.
"""
