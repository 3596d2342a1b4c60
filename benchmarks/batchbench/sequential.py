"""The batch the way PiktID's public sample scripts run it: one job at a time.

Upload an image; then for each output: start it, poll the notifications every 5
API-seconds until its own arrives, delete it, download the result, and only then start
the next one. (One job at a time means a person's follow-ups start long after its first
call, so the 15 s stagger never has to be waited for.)
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx

from batchbench.spec import Job

__all__ = ["run_sequential"]

POLLED = "edit_generate,edit_background,error"


def _wait_for(client: httpx.Client, key: tuple[Any, ...], every: float) -> dict[str, Any]:
    while True:
        time.sleep(every)
        answer = client.post("/notification_by_name_json", json={"name_list": POLLED})
        if answer.status_code == 429:
            continue
        answer.raise_for_status()
        for item in answer.json().get("notifications_list", []):
            data = item["data"]
            if (data.get("address"), data.get("id_person"), data.get("keyword")) == key:
                client.request("DELETE", "/notification/delete_json", json={"id": item["id"]})
                if item["name"] == "error":
                    raise RuntimeError(str(data))
                result: dict[str, Any] = data
                return result


def _download(client: httpx.Client, url: str, target: Path) -> None:
    with client.stream("GET", url) as answer, target.open("wb") as handle:
        answer.raise_for_status()
        for chunk in answer.iter_bytes():
            handle.write(chunk)


def run_sequential(job: Job) -> dict[str, Any]:
    """Run the batch one job at a time; return outputs and real seconds."""
    every = job.real(job.extra["poll_seconds"])
    out = Path(job.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    headers = {"Authorization": f"Bearer {job.access_token}"}
    # Real seconds per kind of step: the driver extrapolates a subset from these.
    seconds: dict[str, list[float]] = {"upload": [], "first": [], "follow_up": [], "background": []}
    seen: set[tuple[Any, ...]] = set()
    # Idle connections dropped before the server's keep-alive timeout: see bare.py.
    limits = httpx.Limits(keepalive_expiry=2.0)
    with httpx.Client(
        base_url=job.base_url, headers=headers, timeout=120.0, limits=limits
    ) as client:
        for path in map(Path, job.images):
            began_image = time.monotonic()
            files = {"file": (path.name, path.read_bytes(), "image/jpeg")}
            upload = client.post("/edit/target", files=files, data={"options": "{}"})
            upload.raise_for_status()
            image_id = upload.json()["id_image"]
            persons = [p["id"] for p in upload.json()["coordinates_list"] if p.get("approve")]
            starts: list[tuple[str, dict[str, Any], tuple[Any, ...]]] = []
            for pid in persons[: job.extra.get("persons")]:
                for keyword in job.person_keywords:
                    body = {
                        "id_image": image_id,
                        "id_person": pid,
                        "keyword": json.dumps(keyword),
                        "category": "person",
                    }
                    starts.append(("/edit/generate", body, (image_id, pid, body["keyword"])))
            for keyword in job.background_keywords:
                body = {"id_image": image_id, "keyword": json.dumps(keyword), "prompt": ""}
                starts.append(("/edit/background", body, (image_id, None, body["keyword"])))
            seconds["upload"].append(time.monotonic() - began_image)
            for index, (endpoint, body, key) in enumerate(starts):
                began_job = time.monotonic()
                client.post(endpoint, json=body).raise_for_status()
                data = _wait_for(client, key, every)
                _download(client, data["links"][0]["l"], out / f"{image_id}_{index}.jpg")
                person = key[:2]
                kind = "follow_up" if person in seen else "first"
                kind = "background" if key[1] is None else kind
                seen.add(person)
                seconds[kind].append(time.monotonic() - began_job)
    outputs = sum(1 for _ in out.glob("*.jpg"))
    return {
        "outputs": outputs,
        "real_seconds": time.monotonic() - began,
        "seconds": seconds,
        "began_monotonic": began,
    }
