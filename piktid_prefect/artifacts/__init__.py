"""The artifacts room: what a run shows in Prefect's UI while it runs and after.

:mod:`.display` (progress, the outputs table, the contact sheets, in order),
:mod:`.sheets` (a sheet's markdown), :mod:`.thumbnails` (small inline previews).
It imports the runtime's result models and the wire's errors; nothing that runs a step.
"""
