"""The execution room: one run, from its settings to its outcome.

:mod:`.settings` (the frozen settings of a run, built once), :mod:`.inputs` and
:mod:`.specs` (the checks and spec builders the flows, the plans and the command share),
:mod:`.preflight` and :mod:`.plan` (what a run would make and cost), :mod:`.steps` (a
run: prepare, execute, report, raise) over :mod:`.fanout` (the concurrent outputs),
:mod:`.account_limit` (the account-wide cap, looked up once).

This ``__init__`` imports nothing, so the command line can check its input with
:mod:`.inputs` and read :mod:`.settings`'s defaults before Prefect is imported.
"""
