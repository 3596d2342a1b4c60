"""The emulator's core: state, clock, faults, and the scheduler that completes generations.

A result is drawn while its generation runs (a render pool starts on it at once), so the
emulator's own CPU time hides inside the latency it models instead of adding to it, as
PiktID's GPUs are not the client's CPU. Generations become due on the virtual clock; a
scheduler thread hands due ones to a completion pool, which posts the notification (once
the drawing is done, if it is late).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from piktid_prefect.emulator.accounts import AccountBook
from piktid_prefect.emulator.clock import VirtualClock
from piktid_prefect.emulator.config import EmulatorConfig, FaultConfig
from piktid_prefect.emulator.detect import FaceBox
from piktid_prefect.emulator.faults import FaultInjector
from piktid_prefect.emulator.identity_book import IdentityBook
from piktid_prefect.emulator.render import render_background, render_person, subject_mask
from piktid_prefect.emulator.render_chain import render_identity_swap, render_upscale
from piktid_prefect.emulator.state import Generation, Store
from piktid_prefect.emulator.stats import StatsRecorder
from piktid_prefect.wire.models import NOTIFICATION_ERROR, NOTIFICATION_FOR_KIND
from piktid_prefect.wire.models_chain import NOTIFICATION_IDENTITY_SWAP, NOTIFICATION_UPSCALE

__all__ = ["EmulatorEngine"]

# Even with nothing due, look again now and then: cheap, and robust to clock edits.
_MAX_IDLE_WAIT_SECONDS = 0.25
# The notification that ends each kind of job.
_TASKS = {
    **NOTIFICATION_FOR_KIND,
    "upscale": NOTIFICATION_UPSCALE,
    "identity_swap": NOTIFICATION_IDENTITY_SWAP,
}
_PURGE_EVERY_SECONDS = 1.0


class EmulatorEngine:
    """Everything behind the HTTP routes.

    Args:
        config: The configuration; ``faults`` may be replaced later with :meth:`set_faults`.
    """

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.clock = VirtualClock(config.time_scale)
        self.recorder = StatsRecorder()
        self.accounts = AccountBook(self.clock, config)
        self.store = Store(self.clock, config, self.recorder)
        self.identities = IdentityBook(config.seed)
        self.faults = FaultInjector(config, self.recorder)
        self.accounts.create(config.demo_email, config.demo_password, config.demo_credits)
        self._wake = threading.Event()
        self._idle = threading.Condition()
        self._in_flight = 0
        self._stopping = threading.Event()
        # Two pools: completions wait for renders, so sharing one pool could deadlock.
        self._render_pool = ThreadPoolExecutor(
            max_workers=4, thread_name_prefix="piktid-emu-render"
        )
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="piktid-emu-notify")
        self._thread = threading.Thread(target=self._run, name="piktid-emu-scheduler", daemon=True)
        self.clock.on_advance(self.wake)

    def start(self) -> None:
        """Start the scheduler thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop the scheduler and the render pool."""
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._render_pool.shutdown(wait=True, cancel_futures=True)

    def wake(self) -> None:
        """Make the scheduler look at the queue now (new work, or the clock jumped)."""
        self._wake.set()

    def prerender(self, generation: Generation) -> None:
        """Start drawing a just-started generation's result (unless it is set to fail)."""
        if "error_notification" not in generation.faults:
            generation.rendered = self._render_pool.submit(self._render, generation)

    def set_faults(self, faults: FaultConfig) -> None:
        """Replace the injected faults (the fault RNG restarts from ``faults.seed``)."""
        self.faults.configure(faults)

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait (real seconds) until every generation due by now has been notified."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.wake()
            due = self.store.next_due()
            with self._idle:
                if self._in_flight == 0 and (due is None or due > self.clock.now()):
                    return True
                self._idle.wait(0.02)
        return False

    def _run(self) -> None:
        last_purge = time.monotonic()
        while not self._stopping.is_set():
            self._wake.clear()
            if time.monotonic() - last_purge >= _PURGE_EVERY_SECONDS:
                # Expired results and images would otherwise only go when someone polls.
                self.store.purge()
                last_purge = time.monotonic()
            for generation in self.store.pop_due():
                with self._idle:
                    self._in_flight += 1
                self._pool.submit(self._complete, generation)
            due = self.store.next_due()
            wait = _MAX_IDLE_WAIT_SECONDS
            if due is not None:
                wait = min(wait, self.clock.real_seconds(due - self.clock.now()))
            self._wake.wait(wait)

    def _complete(self, generation: Generation) -> None:
        try:
            self._finish(generation)
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()

    def _finish(self, generation: Generation) -> None:
        base = _identity(generation)
        task = _TASKS[generation.kind]
        try:
            if "error_notification" in generation.faults:
                raise RuntimeError("Generation failed (injected fault)")
            rendered = generation.rendered
            data = rendered.result() if rendered is not None else self._render(generation)
        except Exception as exc:
            self.store.notify(
                generation.owner,
                NOTIFICATION_ERROR,
                {"tasks": task, "msg": str(exc), **base},
                generation_id=generation.id,
            )
            self.recorder.finish(generation.id, self.clock.now(), "error")
            return
        png = generation.payload.get("output_format") == "PNG"
        name = self.store.add_file(
            data, ".png" if png else ".jpg", faces=_faces_in_result(generation)
        )
        created = self.clock.wall_clock()
        link = {"l": f"{generation.files_url}/files/{name}", "n": name, "t": f"{created:.0f}"}
        if "lose_notification" in generation.faults:
            self.recorder.finish(generation.id, self.clock.now(), "lost")
            return
        copies = 2 if "duplicate_notification" in generation.faults else 1
        self.store.notify(
            generation.owner,
            task,
            {**base, **_result(generation, link)},
            copies=copies,
            generation_id=generation.id,
        )
        self.recorder.finish(generation.id, self.clock.now(), "notified")

    def _render(self, generation: Generation) -> bytes:
        image = generation.image
        payload = generation.payload
        if generation.kind == "upscale":
            return render_upscale(image.pixels, payload["scale_factor"], payload["output_format"])
        if generation.kind == "identity_swap":
            assert generation.person_id is not None
            identity = payload["identity"]
            return render_identity_swap(
                image.pixels,
                image.faces[generation.person_id],
                identity.pixels,
                identity.face,
                generation.seed,
                strength=float(generation.options.get("prompt_strength", 0.9)),
                transfer_hair=bool(generation.options.get("transfer_hair", False)),
            )
        if generation.kind == "person":
            assert generation.person_id is not None
            face = image.faces[generation.person_id]
            location = next(iter(generation.keyword.values())) if generation.keyword else None
            return render_person(
                image.pixels, face, location, generation.seed, prompt=generation.prompt
            )
        with image.mask_lock:
            if image.subject_mask is None:
                image.subject_mask = subject_mask(image.pixels, image.faces)
        if generation.keyword:
            theme = ":".join(next(iter(generation.keyword.items())))
        else:
            theme = generation.prompt
        options = generation.options
        return render_background(
            image.pixels,
            image.subject_mask,
            theme,
            generation.seed,
            relight_strength=float(options.get("relight_strength", 1.0)),
            strength=float(options.get("strength", 1.0)),
        )


def _faces_in_result(generation: Generation) -> list[FaceBox]:
    """Where the result's faces are: where the input's were, scaled by an upscale."""
    scale = int(generation.payload.get("scale_factor", 1))
    return [
        FaceBox(f.x * scale, f.y * scale, f.w * scale, f.h * scale, f.sharpness)
        for f in generation.image.faces
    ]


def _result(generation: Generation, link: dict[str, str]) -> dict[str, Any]:
    """Where each product's notification puts the result (see ``docs/chain-api.md``)."""
    if generation.kind == "upscale":
        return {"link": link}  # one object, not a list
    if generation.kind == "identity_swap":
        return {"link_hd": link["l"]}  # a URL
    return {"links": [link]}


def _identity(generation: Generation) -> dict[str, Any]:
    """The fields that tie a notification to its request."""
    if generation.kind == "upscale":
        return {"id_image": generation.image.id, "id_project": generation.image.project_id}
    if generation.kind == "identity_swap":
        name = generation.payload["identity"].name
        return {"id_image": generation.image.id, "f": generation.person_id, "identity_name": name}
    data: dict[str, Any] = {"address": generation.image.id}
    if generation.kind == "person":
        data["id_person"] = generation.person_id
    if generation.keyword_json is not None:
        data["keyword"] = generation.keyword_json
    if generation.kind == "background" or generation.prompt:
        data["prompt"] = generation.prompt
    return data
