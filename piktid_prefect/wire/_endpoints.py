"""Each PiktID endpoint written once, as pure functions: a builder and its parser.

A builder validates its input (nothing is sent when it raises) and returns a
:class:`~piktid_prefect.wire._spec.RequestSpec`; its parser turns the answer into a model
or raises through :mod:`~piktid_prefect.wire._status`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar, cast

import httpx
from pydantic import BaseModel, ValidationError

from piktid_prefect.wire import _status as status
from piktid_prefect.wire._spec import Parser, RequestSpec
from piktid_prefect.wire.errors import InvalidInput, InvalidKeyword, InvalidPerson
from piktid_prefect.wire.images import ImagePayload, check_link_url
from piktid_prefect.wire.keywords import validate_background_keyword, validate_person_keyword
from piktid_prefect.wire.models import (
    Account,
    BackgroundOptions,
    GenerationJob,
    JobKind,
    Notification,
    PersonOptions,
    ResultLink,
    UploadOptions,
    UploadResult,
)
from piktid_prefect.wire.models_chain import StartedJob

J = TypeVar("J", bound=StartedJob)

logger = logging.getLogger("piktid_prefect.client")


def _parse_upload(
    response: httpx.Response, spec: RequestSpec[Any], secrets: Sequence[str]
) -> UploadResult:
    status.check(response, spec, secrets)
    try:
        return UploadResult.model_validate(status.json_object(response, spec))
    except ValidationError:
        raise status.malformed(response, spec, "the upload answer has no id_image") from None


M = TypeVar("M", bound=BaseModel)


def model_parser(model: type[M], what: str) -> Parser[M]:
    """A parser of a JSON object answer into ``model``; ``what`` names it when malformed."""

    def parse(response: httpx.Response, spec: RequestSpec[Any], secrets: Sequence[str]) -> M:
        status.check(response, spec, secrets)
        try:
            return model.model_validate(status.json_object(response, spec))
        except ValidationError as exc:
            raise status.malformed(
                response, spec, f"unexpected {what}: {exc.error_count()} invalid field(s)"
            ) from None

    return parse


def _parse_reference(
    response: httpx.Response, spec: RequestSpec[Any], secrets: Sequence[str]
) -> str:
    status.check(response, spec, secrets)
    name = status.json_object(response, spec).get("reference_name")
    if not name:
        raise status.malformed(response, spec, "the reference answer has no reference_name")
    return str(name)


def _parse_start(
    response: httpx.Response, spec: RequestSpec[Any], secrets: Sequence[str]
) -> StartedJob:
    assert spec.job is not None
    if response.status_code in status.START_UNCONFIRMED_STATUSES:
        # A gateway or crash error: the generation may have been queued before it failed.
        raise status.unconfirmed(spec.job, f"{spec.endpoint}: HTTP {response.status_code}")
    status.check(response, spec, secrets)
    return spec.job  # the body carries nothing clients rely on


def _parse_notifications(
    response: httpx.Response, spec: RequestSpec[Any], secrets: Sequence[str]
) -> list[Notification]:
    status.check(response, spec, secrets)
    items = status.json_object(response, spec).get("notifications_list") or []
    notifications = []
    for item in items if isinstance(items, list) else []:
        try:
            notifications.append(Notification.model_validate(item))
        except ValidationError:
            # One malformed entry must not hide the others (the poller waits for them).
            logger.warning("Ignoring a malformed notification from %s", spec.endpoint)
    return notifications


def _parse_deleted(
    response: httpx.Response, spec: RequestSpec[Any], secrets: Sequence[str]
) -> None:
    # Already gone (expired after 600 s, or deleted by a retried request) is what we wanted.
    if response.status_code == 404:
        return
    status.check(response, spec, secrets)


def _parse_account(
    response: httpx.Response, spec: RequestSpec[Any], secrets: Sequence[str]
) -> Account:
    status.check(response, spec, secrets)
    try:
        return Account.model_validate(status.json_object(response, spec))
    except ValidationError as exc:
        raise status.malformed(
            response, spec, f"unexpected /me answer: {exc.error_count()} invalid field(s)"
        ) from None


def parse_download_status(
    response: httpx.Response, spec: RequestSpec[Any], secrets: Sequence[str] = ()
) -> None:
    """Downloads are streamed; only the status is checked (the body must be read first)."""
    status.check(response, spec, secrets)


# --- builders -----------------------------------------------------------------------------


def _check_image_id(image_id: str) -> str:
    if not isinstance(image_id, str) or not image_id.strip():
        raise InvalidInput(f"image_id must be a non-empty string, got {image_id!r}")
    return image_id


def upload_target(
    image: ImagePayload | str, options: UploadOptions | Mapping[str, Any] | None
) -> RequestSpec[UploadResult]:
    """``POST /edit/target``: a multipart ``file``, or a form ``url`` (a public image URL)."""
    wire_options = UploadOptions.coerce(options).to_wire()
    if isinstance(image, str):
        check_link_url(image, what="image URL")
        return RequestSpec(
            "POST",
            "/edit/target",
            _parse_upload,
            timeout="upload",
            data={"url": image, "options": wire_options},
        )
    return RequestSpec(
        "POST",
        "/edit/target",
        _parse_upload,
        timeout="upload",
        data={"options": wire_options},
        files={"file": (image.filename, image.data, image.content_type)},
    )


def upload_reference(image: ImagePayload) -> RequestSpec[str]:
    """``POST /edit/reference``: multipart ``reference`` -> ``reference_name``."""
    return RequestSpec(
        "POST",
        "/edit/reference",
        _parse_reference,
        timeout="upload",
        files={"reference": (image.filename, image.data, image.content_type)},
    )


def generate_person(
    image_id: str,
    person_id: int,
    keyword: Mapping[str, str] | None,
    options: PersonOptions | Mapping[str, Any] | None,
    prompt: str | None,
) -> RequestSpec[GenerationJob]:
    """``POST /edit/generate`` (a paid start: never repeated once it may have arrived).

    A keyword, a free-text prompt, or both: PiktID's own swapid client sends a ``prompt``
    and no ``keyword``; the documented quick start sends a ``keyword`` and no prompt.
    """
    _check_image_id(image_id)
    if isinstance(person_id, bool) or not isinstance(person_id, int) or person_id < 0:
        raise InvalidPerson(f"person_id must be an int >= 0, got {person_id!r}")
    canonical = validate_person_keyword(keyword) if keyword else None
    text = _prompt_text(prompt)
    if canonical is None and not text:
        raise InvalidKeyword(
            'A person generation needs a keyword (e.g. {"Location": "Oceania"}) '
            "or a non-empty prompt"
        )
    person_options: PersonOptions = PersonOptions.coerce(options)
    body: dict[str, Any] = {
        "id_image": image_id,
        "id_person": int(person_id),
        "category": "person",
        "options": person_options.to_wire(),
    }
    if canonical is not None:
        body["keyword"] = json.dumps(canonical)
    if text:
        body["prompt"] = text
    job = _job("person", image_id, person_id, canonical or {}, text, person_options.seed)
    return start_spec("/edit/generate", body, job)


def _prompt_text(prompt: str | None) -> str:
    """The prompt as given, or "" when it is absent or blank (blank asks for nothing)."""
    if prompt is None:
        return ""
    if not isinstance(prompt, str):
        raise InvalidKeyword(f"A prompt must be text, got {type(prompt).__name__}")
    return prompt if prompt.strip() else ""


def edit_background(
    image_id: str,
    keyword: Mapping[str, str] | None,
    prompt: str,
    options: BackgroundOptions | Mapping[str, Any] | None,
) -> RequestSpec[GenerationJob]:
    """``POST /edit/background`` (a paid start): a keyword, a prompt, or both."""
    _check_image_id(image_id)
    canonical = validate_background_keyword(keyword) if keyword is not None else None
    if canonical is None and not (prompt or "").strip():
        raise InvalidKeyword("A background edit needs a keyword or a non-empty prompt")
    background_options: BackgroundOptions = BackgroundOptions.coerce(options)
    body: dict[str, Any] = {
        "id_image": image_id,
        "prompt": prompt or "",
        "options": background_options.to_wire(),
    }
    if canonical is not None:
        body["keyword"] = json.dumps(canonical)
    job = _job("background", image_id, None, canonical or {}, prompt, background_options.seed)
    return start_spec("/edit/background", body, job)


def _job(
    kind: JobKind,
    image_id: str,
    person_id: int | None,
    keyword: dict[str, str],
    prompt: str | None,
    seed: int | None,
) -> GenerationJob:
    return GenerationJob(
        kind=kind,
        image_id=image_id,
        person_id=person_id,
        keyword=keyword,
        prompt=prompt or "",
        seed=seed,
        started_at=time.time(),
        confirmed=True,
    )


def start_spec(path: str, body: dict[str, Any], job: J) -> RequestSpec[J]:
    """The spec of a paid start: never repeated once it may have arrived (a second start
    is a second payment); a lost answer raises GenerationStartUnconfirmed with ``job``."""
    parse = cast("Parser[J]", _parse_start)  # returns spec.job, which is ``job``
    return RequestSpec(
        "POST", path, parse, safe_to_repeat=False, json=body, image_id=job.image_id, job=job
    )


NOTIFICATIONS_PATH = "/notification_by_name_json"
DELETE_NOTIFICATION_PATH = "/notification/delete_json"


def notifications(
    names: Sequence[str], image_id: str | None, *, path: str = NOTIFICATIONS_PATH
) -> RequestSpec[list[Notification]]:
    """``POST /notification_by_name_json`` (or a product's own read ``path``) with
    ``name_list`` as a comma-separated string."""
    if isinstance(names, str):
        names = [names]
    if not names or any(not isinstance(n, str) or not n.strip() or "," in n for n in names):
        raise InvalidInput(f"names must be non-empty notification names, got {names!r}")
    body: dict[str, Any] = {"name_list": ",".join(name.strip() for name in names)}
    if image_id is not None:
        body["id_image"] = _check_image_id(image_id)
    return RequestSpec("POST", path, _parse_notifications, json=body, image_id=image_id)


def delete_notification(
    notification_id: int, *, path: str = DELETE_NOTIFICATION_PATH
) -> RequestSpec[None]:
    """``DELETE /notification/delete_json`` (or a product's own ``path``) with ``{"id": ...}``."""
    if isinstance(notification_id, bool) or not isinstance(notification_id, int):
        raise InvalidInput(f"notification_id must be an int, got {notification_id!r}")
    return RequestSpec("DELETE", path, _parse_deleted, json={"id": notification_id})


def me() -> RequestSpec[Account]:
    """``GET /me``: the account, with its credits."""
    return RequestSpec("GET", "/me", _parse_account)


def download(link: str | ResultLink) -> RequestSpec[None]:
    """A plain GET of a result link (public: sent without the Authorization header)."""
    url = link.url if isinstance(link, ResultLink) else link
    if not isinstance(url, str):
        raise InvalidInput(f"A download link must be a URL string, got {type(url).__name__}")
    check_link_url(url, what="download link")
    return RequestSpec("GET", url, parse_download_status, timeout="download")
