"""A flow for schedules: process every new image that appears in an input location.

An image is new when ``manifest.json`` in the output folder does not yet list every
requested keyword for its content hash. Images already done cost nothing: they are not
even uploaded again. (If the manifest were lost, Prefect's result cache would still keep
each paid output from being paid twice.)
"""

# No `from __future__ import annotations`: see piktid_prefect/flows/variations.py (serve()).
import hashlib
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.blocks.core import Block
from prefect.client.schemas.objects import State
from prefect.settings import PREFECT_UI_URL
from pydantic import Field

from piktid_prefect.credentials import CredentialsLike
from piktid_prefect.execution import specs
from piktid_prefect.execution.account_limit import existing_concurrency_limit
from piktid_prefect.execution.outcome import VariationsResult
from piktid_prefect.execution.settings import (
    DEFAULT_MAX_IN_FLIGHT,
    DEFAULT_OUT_DIR,
    DEFAULT_OUTPUT_RETRIES,
    DEFAULT_STAGGER_SECONDS,
    DEFAULT_TIMEOUT_SECONDS,
    RunSettings,
)
from piktid_prefect.execution.specs import (
    BackgroundKeyword,
    PersonKeyword,
    PersonSelection,
    images_in,
)
from piktid_prefect.flows.variations import batch_variations
from piktid_prefect.runtime.results import Manifest
from piktid_prefect.wire.errors import InvalidConfiguration

__all__ = ["pending_images", "process_new_images"]

# Typed so that the deployment's parameter schema rejects a bad run before it is queued:
# an unknown Location or background keyword (PersonKeyword, BackgroundKeyword), a zero
# timeout.
PositiveSeconds = Annotated[float, Field(gt=0)]
SUMMARY_KEY = "piktid-inbox-summary"
# Rows of the summary table; the subflow's own table artifact lists every output.
SUMMARY_ROWS = 50


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pending_images(
    files: list[Path],
    out_dir: str | Path,
    person_keywords: list[dict[str, str]],
    background_keywords: list[dict[str, str]],
) -> list[Path]:
    """The files whose requested outputs are not all in ``out_dir/manifest.json``.

    A file the manifest lists as rejected (same content hash) is not new: it would only be
    rejected again. Once the file changes, its hash does, and it is tried again.
    """
    done: dict[str, set[tuple[str, str]]] = {}
    manifest = Manifest.merged(out_dir, [])
    for record in manifest.outputs:
        for pair in record.keyword.items():
            done.setdefault(record.image_sha256, set()).add((record.kind, "=".join(pair)))
    wanted = {("person", "=".join(p)) for k in person_keywords for p in k.items()} | {
        ("background", "=".join(p)) for k in background_keywords for p in k.items()
    }
    pending = []
    for file in files:
        digest = _sha256(file)
        if digest not in manifest.rejected and not wanted <= done.get(digest, set()):
            pending.append(file)
    return pending


def _local_copy(inbox: str, storage_block: str | None) -> Path:
    if storage_block is None:
        folder = Path(inbox)
        if not folder.is_dir():
            raise InvalidConfiguration(f"Input folder {inbox} does not exist")
        return folder
    block: Any = Block.load(storage_block)
    if not hasattr(block, "get_directory"):
        raise InvalidConfiguration(
            f"Block {storage_block!r} ({type(block).__name__}) cannot list files"
        )
    local = Path(tempfile.mkdtemp(prefix="piktid-inbox-"))
    block.get_directory(from_path=inbox, local_path=str(local))
    return local


@flow(name="piktid-process-new-images")
def process_new_images(
    inbox: str = "piktid-inbox",
    person_keywords: list[PersonKeyword] | None = None,
    background_keywords: list[BackgroundKeyword] | None = None,
    storage_block: str | None = None,
    persons: PersonSelection = "approved",
    relight_strength: Annotated[float, Field(ge=0, le=1)] | None = None,
    credentials: CredentialsLike = None,
    out_dir: str = DEFAULT_OUT_DIR,
    stagger_seconds: Annotated[float, Field(ge=0)] = DEFAULT_STAGGER_SECONDS,
    max_in_flight: Annotated[int, Field(ge=1)] | None = DEFAULT_MAX_IN_FLIGHT,
    timeout_seconds: PositiveSeconds = DEFAULT_TIMEOUT_SECONDS,
    concurrency_limit: str | None = None,
    output_retries: int = DEFAULT_OUTPUT_RETRIES,
    max_credits: Annotated[int, Field(ge=0)] | None = None,
    allow_partial: bool = False,
    low_credits_threshold: float | None = None,
) -> VariationsResult:
    """Make the requested variations of every image in ``inbox`` not processed yet.

    Args:
        inbox: A local folder, or a path inside ``storage_block``.
        person_keywords: Location keywords for person replacements.
        background_keywords: Background keywords.
        storage_block: Name of a saved Prefect filesystem block (``LocalFileSystem``,
            ``RemoteFileSystem``, S3/GCS/Azure blocks...) to read ``inbox`` from.
        persons, relight_strength, credentials, out_dir, stagger_seconds, max_in_flight,
        timeout_seconds, concurrency_limit, output_retries, max_credits, allow_partial,
        low_credits_threshold: as in :func:`~piktid_prefect.flows.batch_variations`.
    """
    settings = RunSettings.of(locals())
    request = specs.request_of("batch", locals())
    folder = _local_copy(inbox, storage_block)
    try:
        files = images_in(folder)
        new = pending_images(files, out_dir, request.person_keywords, request.background_keywords)
        get_run_logger().info("%d image(s) in %s, %d new", len(files), inbox, len(new))
        if not new:
            _summarize_nothing_new(inbox, len(files))
            return VariationsResult(manifest_path=str(Path(out_dir) / "manifest.json"))
        state = _variations(new, request, relight_strength, credentials, settings)
        _summarize_variations(inbox, len(files), len(new), state)
        return state.result()
    finally:
        if storage_block is not None:
            shutil.rmtree(folder, ignore_errors=True)


def _variations(
    new: list[Path],
    request: specs.WorkRequest,
    relight_strength: float | None,
    credentials: CredentialsLike,
    settings: RunSettings,
) -> State[VariationsResult]:
    """The batch subflow on the new images, with the inbox run's settings."""
    # Checked once here: a missing limit gets one warning, in this run.
    limit = existing_concurrency_limit(settings.concurrency_limit)
    settings = settings.model_copy(update={"concurrency_limit": limit})
    state: State[VariationsResult] = batch_variations(
        images=[str(p) for p in new],
        person_keywords=request.person_keywords,
        background_keywords=request.background_keywords,
        persons=request.persons,
        relight_strength=relight_strength,
        credentials=credentials,
        # One unreadable photo, or one without a person, must not block the inbox
        # forever: it is skipped, listed in manifest.json, and not tried again.
        on_bad_image="skip",
        return_state=True,
        **settings.for_flow(batch_variations),
    )
    return state


# --- the summary on the inbox run's own page ---------------------------------------------


def _summarize_nothing_new(inbox: str, seen: int) -> None:
    _publish(
        f"## Nothing new in `{inbox}`\n\n{seen} image(s) found, all already made for every"
        " requested keyword (listed in `manifest.json`): nothing uploaded, no credit spent.",
        description="No new image",
    )


def _summarize_variations(inbox: str, seen: int, new: int, state: State[Any]) -> None:
    run_id = state.state_details.flow_run_id
    lines = [
        f"## {new} new image(s) of {seen} in `{inbox}`",
        "",
        f"Variations run: {_run_link(run_id)} (its table, images and progress).",
        "",
    ]
    if state.is_completed():
        result: VariationsResult = state.result()
        lines += _outputs_table(result)
        if result.failures:
            lines += ["", f"**{len(result.failures)} output(s) failed** (see the run's logs)."]
        if result.rejected:
            lines += [
                "",
                f"**{len(result.rejected)} image(s) skipped**, not tried again until"
                " the file changes:",
                "",
            ]
            lines += [f"- `{r.image}`: {r.reason}" for r in result.rejected]
    else:
        lines.append(f"**The variations run ended {state.name}:** {state.message or ''}")
    _publish("\n".join(lines), description=f"{new} new image(s)")


def _outputs_table(result: VariationsResult) -> list[str]:
    if not result.outputs:
        return ["No output delivered."]
    rows = [
        "| image | kind | person | keyword | file |",
        "|---|---|---|---|---|",
    ]
    for o in result.outputs[:SUMMARY_ROWS]:
        keyword = ", ".join(f"{k}={v}" for k, v in o.keyword.items())
        person = "" if o.person is None else str(o.person)
        rows.append(f"| {o.image} | {o.kind} | {person} | {keyword} | `{o.path}` |")
    more = len(result.outputs) - SUMMARY_ROWS
    if more > 0:
        rows += ["", f"... and {more} more in the variations run's table."]
    return [f"{len(result.outputs)} output(s) delivered:", "", *rows]


def _run_link(run_id: UUID | None) -> str:
    if run_id is None:
        return "(unknown)"
    ui = PREFECT_UI_URL.value()
    return f"[{run_id}]({ui}/runs/flow-run/{run_id})" if ui else f"`{run_id}`"


def _publish(markdown: str, description: str) -> None:
    # The outputs are already written: an artifact that cannot be made is only logged.
    try:
        create_markdown_artifact(markdown=markdown, key=SUMMARY_KEY, description=description)
    except Exception as exc:
        get_run_logger().warning("Could not create the run's summary artifact: %s", exc)
