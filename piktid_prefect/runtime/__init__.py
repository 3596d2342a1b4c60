"""The runtime: what makes one output inside a process, below Prefect's tasks.

``generation`` (upload, start, wait, download — never paying twice), ``notifications``
(one poller per account serves every waiting job), ``stagger`` (a person's follow-ups
start after its first), ``journal`` (paid starts survive a crash), ``registry`` (the one
store of per-process state) and ``results`` (the plain models they pass around).
"""
