"""The same batch with asyncio + httpx only: no Prefect, no piktid_prefect client.

What a careful hand-written script would do, following the same rules as the flows: all
uploads at once; each person's first generation at once and its follow-ups a stagger
after it; backgrounds at once; at most ``max_in_flight`` generations between start and
notification; one poller for the account every 3 API-seconds, deleting what it consumed;
downloads streamed to disk. Its makespan is the yardstick of orchestration overhead.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx

from batchbench.spec import Job

__all__ = ["run_bare"]

POLLED = "edit_generate,edit_background,error"


def _key(data: dict[str, Any]) -> tuple[Any, ...]:
    return (data.get("address"), data.get("id_person"), data.get("keyword"))


class _Poller:
    """One poll every ``interval`` real seconds while anyone waits; routes by identity."""

    def __init__(self, client: httpx.AsyncClient, interval: float) -> None:
        self.client = client
        self.interval = interval
        self.waiting: dict[tuple[Any, ...], asyncio.Future[dict[str, Any]]] = {}
        self._task: asyncio.Task[None] | None = None

    def wait(self, key: tuple[Any, ...]) -> asyncio.Future[dict[str, Any]]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.waiting[key] = future
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        return future

    async def _run(self) -> None:
        while self.waiting:
            await asyncio.sleep(self.interval)
            body = {"name_list": POLLED}
            answer = await self.client.post("/notification_by_name_json", json=body)
            if answer.status_code == 429:
                continue
            answer.raise_for_status()
            consumed = []
            for item in answer.json().get("notifications_list", []):
                future = self.waiting.pop(_key(item["data"]), None)
                if future is None:
                    continue
                consumed.append(item["id"])
                if item["name"] == "error":
                    future.set_exception(RuntimeError(str(item["data"])))
                else:
                    future.set_result(item["data"])
            await asyncio.gather(
                *(
                    self.client.request("DELETE", "/notification/delete_json", json={"id": i})
                    for i in consumed
                )
            )


async def _upload(client: httpx.AsyncClient, path: Path) -> dict[str, Any]:
    files = {"file": (path.name, path.read_bytes(), "image/jpeg")}
    answer = await client.post("/edit/target", files=files, data={"options": "{}"})
    answer.raise_for_status()
    result: dict[str, Any] = answer.json()
    return result


async def _download(client: httpx.AsyncClient, url: str, target: Path) -> None:
    async with client.stream("GET", url) as answer:
        answer.raise_for_status()
        with target.open("wb") as handle:
            async for chunk in answer.aiter_bytes():
                handle.write(chunk)


async def _batch(job: Job) -> int:
    headers = {"Authorization": f"Bearer {job.access_token}"}
    # Idle connections are dropped after 2 s, as the package's client does: a server
    # closes an idle keep-alive connection after its own timeout (uvicorn: 5 s), and a
    # request sent on it at that moment fails with "Server disconnected without sending a
    # response" (seen once in two fresh-clone runs with httpx's default expiry of 5 s).
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100, keepalive_expiry=2.0)
    out = Path(job.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    async with httpx.AsyncClient(
        base_url=job.base_url, headers=headers, timeout=120.0, limits=limits
    ) as client:
        poller = _Poller(client, job.real(job.extra["poll_seconds"]))
        slots = asyncio.Semaphore(job.max_in_flight)
        stagger = job.real(job.extra["stagger_seconds"])
        uploads = await asyncio.gather(*(_upload(client, Path(p)) for p in job.images))

        async def one(
            path: str,
            body: dict[str, Any],
            key: tuple[Any, ...],
            name: str,
            gate: asyncio.Future[float] | None = None,
        ) -> None:
            async with slots:
                sent_at = time.monotonic()
                started = await client.post(path, json=body)
                if gate is not None:
                    gate.set_result(sent_at)
                started.raise_for_status()
                data = await poller.wait(key)
            await _download(client, data["links"][0]["l"], out / name)

        async def person(image_id: str, person_id: int) -> None:
            def body(index: int) -> dict[str, Any]:
                return {
                    "id_image": image_id,
                    "id_person": person_id,
                    "keyword": json.dumps(job.person_keywords[index]),
                    "category": "person",
                    "options": json.dumps({"seed": index}),
                }

            def run(index: int, gate: asyncio.Future[float] | None = None) -> Any:
                key = (image_id, person_id, body(index)["keyword"])
                name = f"{image_id}_p{person_id}_{index}.jpg"
                return one("/edit/generate", body(index), key, name, gate)

            # Follow-ups start a stagger after the first start was sent (its warm-up).
            gate: asyncio.Future[float] = asyncio.get_running_loop().create_future()
            first = asyncio.create_task(run(0, gate))
            sent_at = await gate
            await asyncio.sleep(max(0.0, sent_at + stagger - time.monotonic()))
            await asyncio.gather(first, *(run(i) for i in range(1, len(job.person_keywords))))

        async def background(image_id: str, index: int) -> None:
            keyword = json.dumps(job.background_keywords[index])
            body = {"id_image": image_id, "keyword": keyword, "prompt": "", "options": "{}"}
            name = f"{image_id}_bg{index}.jpg"
            await one("/edit/background", body, (image_id, None, keyword), name)

        work = []
        for upload in uploads:
            image_id = upload["id_image"]
            approved = [p["id"] for p in upload["coordinates_list"] if p.get("approve")]
            work += [person(image_id, pid) for pid in approved]
            work += [background(image_id, i) for i in range(len(job.background_keywords))]
        await asyncio.gather(*work)
    return sum(1 for _ in out.glob("*.jpg"))


def run_bare(job: Job) -> dict[str, Any]:
    """Run the batch; return the outputs written and the real seconds it took."""
    began = time.monotonic()
    outputs = asyncio.run(_batch(job))
    return {"outputs": outputs, "real_seconds": time.monotonic() - began, "began_monotonic": began}
