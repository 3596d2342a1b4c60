"""A flow for schedules: process every new image that appears in an input location.

An image is new when the output location's manifest does not yet list every requested
keyword for its content hash. The inbox is *listed*, not copied: a photo whose name and
change token (ETag, mtime) an earlier run recorded is settled without being read, so a
scheduled run over an unchanged bucket downloads no photo (issue 22; see
``docs/storage.md``). Only the others are read; those whose bytes are new are uploaded.
Images already done cost nothing. (If the manifest were lost, Prefect's result cache
would still keep each paid output from being paid twice.)
"""

# No `from __future__ import annotations`: see piktid_prefect/flows/variations.py (serve()).
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
)
from piktid_prefect.flows.variations import batch_variations
from piktid_prefect.storage import (
    OutputLocation,
    SourceEntry,
    classify_content,
    list_images,
    open_output_location,
    pending_entries,
    read_entry,
    wanted_pairs,
)
from piktid_prefect.wire.errors import InvalidConfiguration

__all__ = ["new_photos", "process_new_images"]

# Typed so that the deployment's parameter schema rejects a bad run before it is queued:
# an unknown Location or background keyword (PersonKeyword, BackgroundKeyword), a zero
# timeout.
PositiveSeconds = Annotated[float, Field(gt=0)]
SUMMARY_KEY = "piktid-inbox-summary"
# Rows of the summary table; the subflow's own table artifact lists every output.
SUMMARY_ROWS = 50


def _listing(inbox: str, storage_block: str | None) -> list[SourceEntry]:
    """The inbox's photos by name and change token: one LIST per 1,000, nothing read."""
    if storage_block is None:
        if not Path(inbox).is_dir():
            raise InvalidConfiguration(f"Input folder {inbox} does not exist")
        return list_images(None, inbox)
    try:
        block: Any = Block.load(storage_block)
    except (ValueError, RuntimeError) as exc:
        raise InvalidConfiguration(f"Cannot load storage block {storage_block!r}: {exc}") from exc
    return list_images(block, inbox)


def new_photos(
    entries: list[SourceEntry],
    out: OutputLocation,
    request: specs.WorkRequest,
    scratch: Path,
) -> list[Path]:
    """The photos to make, as local files; only entries the manifest does not settle are read.

    A bucket's photo is written to ``scratch`` (it must outlive the upload: an upload
    expires after 24 h and is re-sent from that file); a local one is used in place.
    Every photo read is recorded as *seen* (its source key and hash), so the next run
    settles it from the listing alone once its outputs are made.
    """
    view = out.manifest.read()
    wanted = wanted_pairs(request.person_keywords, request.background_keywords)
    new: list[Path] = []
    for entry in pending_entries(entries, view.manifest, wanted, view.seen):
        try:
            data = read_entry(entry)
        except FileNotFoundError:
            continue  # deleted since the listing
        sha256, settled = classify_content(data, view.manifest, wanted, view.seen)
        if entry.key:
            out.manifest.record_seen(entry.key, sha256)
        if settled == "new":
            new.append(_local_file(entry, data, scratch))
    return new


def _local_file(entry: SourceEntry, data: bytes, scratch: Path) -> Path:
    if entry.local_path is not None:
        return entry.local_path
    # Listed non-recursively: base names are unique, and the stem names the outputs.
    path = scratch / Path(entry.name).name
    path.write_bytes(data)
    return path


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
    output_storage_block: str | None = None,
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
        storage_block: A saved Prefect filesystem block (``LocalFileSystem``,
            ``RemoteFileSystem``, prefect-aws ``S3Bucket``), as ``"<slug>/<name>"``
            (e.g. ``"s3-bucket/inbox"``), to read ``inbox`` from. It is listed, not
            copied: only photos not settled by an earlier run are downloaded.
        persons, relight_strength, credentials, out_dir, output_storage_block,
        stagger_seconds, max_in_flight,
        timeout_seconds, concurrency_limit, output_retries, max_credits, allow_partial,
        low_credits_threshold: as in :func:`~piktid_prefect.flows.batch_variations`.
    """
    settings = RunSettings.of(locals())
    request = specs.request_of("batch", locals())
    entries = _listing(inbox, storage_block)
    out = open_output_location(out_dir, output_storage_block)
    with tempfile.TemporaryDirectory(prefix="piktid-inbox-") as scratch:
        new = new_photos(entries, out, request, Path(scratch))
        get_run_logger().info("%d image(s) in %s, %d new", len(entries), inbox, len(new))
        if not new:
            _summarize_nothing_new(inbox, len(entries))
            return VariationsResult(manifest_path=out.manifest_uri)
        state = _variations(new, request, relight_strength, credentials, settings)
        _summarize_variations(inbox, len(entries), len(new), state, out.manifest_uri)
        return state.result()


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


def _summarize_variations(
    inbox: str, seen: int, new: int, state: State[Any], manifest_uri: str
) -> None:
    run_id = state.state_details.flow_run_id
    lines = [
        f"## {new} new image(s) of {seen} in `{inbox}`",
        "",
        f"Variations run: {_run_link(run_id)} (its table, images and progress).",
        "",
    ]
    if state.is_completed():
        result: VariationsResult = state.result()
        lines += _outputs_table(result, manifest_uri)
        if result.failures:
            lines += ["", f"**{len(result.failures)} output(s) failed** (see the run's logs)."]
        if result.rejected:
            lines += [
                "",
                f"**{len(result.rejected)} image(s) skipped**, not tried again until"
                " the file changes:",
                "",
            ]
            lines += [f"- `{r.image}`: {r.reason}" for r in result.rejected[:SUMMARY_ROWS]]
            if len(result.rejected) > SUMMARY_ROWS:
                lines.append(f"- ... all of them in `{manifest_uri}` (`rejected`)")
    else:
        lines.append(f"**The variations run ended {state.name}:** {state.message or ''}")
    _publish("\n".join(lines), description=f"{new} new image(s)")


def _outputs_table(result: VariationsResult, manifest_uri: str) -> list[str]:
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
        rows += ["", f"... and {more} more: every output is in `{manifest_uri}`."]
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
