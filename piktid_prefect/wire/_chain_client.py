"""The client calls of the chained products (SuperID, consistent identities), as mixins.

:class:`SyncChainCalls` and :class:`AsyncChainCalls` differ only in the lines that do I/O;
what they send is built in ``_endpoints_superid`` / ``_endpoints_identity``, and what they
check before paying lives in :class:`ChainChecks`. They run inside
:class:`~piktid_prefect.wire.client.PiktidClient` and its async twin, which provide
``_call`` and ``download``.

An image may be given as a public ``http(s)`` URL, e.g. a result link of ``/edit/generate``.
No public PiktID client sends a URL to these endpoints (they fetch it and upload the bytes,
as done here, in memory), so no URL field is guessed onto the wire.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from piktid_prefect.wire import _endpoints, _endpoints_identity, _endpoints_superid
from piktid_prefect.wire._spec import RequestSpec
from piktid_prefect.wire.errors import InvalidPerson
from piktid_prefect.wire.images import ImagePayload, ImageSource, is_image_url, load_image
from piktid_prefect.wire.models import Notification
from piktid_prefect.wire.models_chain import (
    NOTIFICATION_IDENTITY_SWAP,
    NOTIFICATION_UPSCALE,
    IdentitySwapJob,
    IdentitySwapOptions,
    IdentityTarget,
    IdentityTargetOptions,
    UpscaleEstimate,
    UpscaleJob,
    UpscaleOptions,
    UpscaleUpload,
)

__all__ = [
    "IDENTITY_NOTIFICATION_NAMES",
    "UPSCALE_NOTIFICATION_NAMES",
    "AsyncChainCalls",
    "ChainChecks",
    "SyncChainCalls",
]

T = TypeVar("T")
UPSCALE_NOTIFICATION_NAMES = (NOTIFICATION_UPSCALE, "error")
IDENTITY_NOTIFICATION_NAMES = (NOTIFICATION_IDENTITY_SWAP, "error")


def _name_from_url(url: str) -> str | None:
    name = posixpath.basename(urlsplit(url).path)
    return name or None


class ChainChecks:
    """What this client uploaded, to refuse a bad start before paying for it."""

    def __init__(self) -> None:
        self._upscale_sizes: dict[str, tuple[int, int]] = {}
        self._identity_targets: dict[str, IdentityTarget] = {}

    def register_identity_target(self, target: IdentityTarget) -> None:
        """Remember a target (e.g. one cached by an earlier run) to check face ids."""
        self._identity_targets[target.image_id] = target

    def _remember_size(self, image_id: str, width: int | None, height: int | None) -> None:
        if width and height:
            self._upscale_sizes[image_id] = (width, height)

    def _upscale_spec(
        self,
        upload: UpscaleUpload,
        scale_factor: int,
        fast: bool,
        output_format: str,
        prompt: str | None,
        options: UpscaleOptions | Mapping[str, Any] | None,
    ) -> RequestSpec[UpscaleJob]:
        size = self._upscale_sizes.get(upload.image_id)
        if size is not None and not upload.width:
            upload = upload.model_copy(update={"width": size[0], "height": size[1]})
        return _endpoints_superid.start_upscale(
            upload,
            scale_factor,
            fast=fast,
            output_format=output_format,
            prompt=prompt,
            options=options,
        )

    def _swap_spec(
        self,
        image_id: str,
        face_id: int,
        identity_name: str,
        options: IdentitySwapOptions | Mapping[str, Any] | None,
        prompt: str | None,
    ) -> RequestSpec[IdentitySwapJob]:
        spec = _endpoints_identity.start_identity_swap(
            image_id, face_id, identity_name, options, prompt
        )
        target = self._identity_targets.get(image_id)
        if target is not None and face_id not in target.approved_face_ids:
            known = ", ".join(map(str, target.approved_face_ids)) or "none"
            raise InvalidPerson(
                f"Image {image_id} has no swappable face {face_id}; its approved faces: {known}"
            )
        return spec


class SyncChainCalls(ChainChecks):
    """The chained products' calls of :class:`~piktid_prefect.wire.client.PiktidClient`."""

    if TYPE_CHECKING:

        def _call(self, spec: RequestSpec[T]) -> T: ...
        def download(self, link: str, destination: None = None) -> bytes: ...

    def _payload(self, image: ImageSource, filename: str | None) -> ImagePayload:
        if is_image_url(image):
            assert isinstance(image, str)
            return load_image(self.download(image), filename=filename or _name_from_url(image))
        return load_image(image, filename=filename)

    def upscale_upload(self, image: ImageSource, *, filename: str | None = None) -> UpscaleUpload:
        """Upload an image to upscale (``POST /superid/upload``); free.

        Args:
            image: A path, bytes, a binary file object, or a public ``http(s)://`` URL
                (e.g. a result link of ``/edit/generate``: fetched, checked, uploaded).
            filename: Name to upload under.

        Returns:
            The project and image ids, with the image's size.
        """
        upload = self._call(_endpoints_superid.upscale_upload(self._payload(image, filename)))
        self._remember_size(upload.image_id, upload.width, upload.height)
        return upload

    def superid_info(self, upload: UpscaleUpload, scale_factor: int = 2) -> UpscaleEstimate:
        """The time and the (possibly fractional) credits an upscale costs (``GET
        /superid_info``), before paying; free."""
        spec = _endpoints_superid.superid_info(upload.project_id, upload.image_id, scale_factor)
        estimate = self._call(spec)
        self._remember_size(upload.image_id, estimate.width, estimate.height)
        return estimate

    def start_upscale(
        self,
        upload: UpscaleUpload,
        scale_factor: int = 2,
        *,
        fast: bool = False,
        output_format: str = "PNG",
        prompt: str | None = None,
        options: UpscaleOptions | Mapping[str, Any] | None = None,
    ) -> UpscaleJob:
        """Start an upscale (``POST /superid/v2``, or ``/superid_fast``); paid, never sent twice.

        Args:
            upload: What :meth:`upscale_upload` returned.
            scale_factor: 2 or 4.
            fast: The fast upscaler (seed and option flags only).
            output_format: ``PNG`` or ``JPEG``.
            prompt: A description of the image (not with ``fast``).
            options: :class:`~piktid_prefect.wire.models_chain.UpscaleOptions`.

        Raises:
            InvalidOptions: Scale factor, format or an option out of range.
            UnsupportedImage: The size is outside SuperID's limits (when known).
            GenerationStartUnconfirmed: Sent, answer lost; wait for its ``superid``
                notification before starting it again.
        """
        spec = self._upscale_spec(upload, scale_factor, fast, output_format, prompt, options)
        return self._call(spec)

    def upload_face(
        self,
        image: ImageSource,
        *,
        identity_name: str | None = None,
        filename: str | None = None,
    ) -> str:
        """Upload an identity's face (``POST /consistent_identities/upload_face``); free.

        Returns:
            The ``identity_name`` to swap with (``identity_name`` if one was given).
        """
        payload = self._payload(image, filename)
        return self._call(_endpoints_identity.upload_face(payload, identity_name))

    def upload_identity_target(
        self,
        image: ImageSource,
        *,
        options: IdentityTargetOptions | Mapping[str, Any] | None = None,
        filename: str | None = None,
    ) -> IdentityTarget:
        """Upload the picture whose face is replaced (``POST
        /consistent_identities/upload_target``), with its faces; free."""
        payload = self._payload(image, filename)
        target = self._call(_endpoints_identity.upload_identity_target(payload, options))
        self.register_identity_target(target)
        return target

    def start_identity_swap(
        self,
        image_id: str,
        face_id: int,
        identity_name: str,
        *,
        options: IdentitySwapOptions | Mapping[str, Any] | None = None,
        prompt: str | None = None,
    ) -> IdentitySwapJob:
        """Put an identity's face on a target's face (``POST /consistent_identities/generate``);
        paid, never sent twice.

        Raises:
            InvalidOptions: An option out of range.
            InvalidPerson: This client uploaded the target and the face is not an approved one.
            GenerationStartUnconfirmed: Sent, answer lost; wait for its ``download``
                notification before starting it again.
        """
        return self._call(self._swap_spec(image_id, face_id, identity_name, options, prompt))

    def identity_notifications(
        self, names: Sequence[str] = IDENTITY_NOTIFICATION_NAMES, *, image_id: str | None = None
    ) -> list[Notification]:
        """Pending notifications read through ``/consistent_identities/notification/read``."""
        path = _endpoints_identity.IDENTITY_NOTIFICATIONS_PATH
        return self._call(_endpoints.notifications(names, image_id, path=path))

    def delete_identity_notification(self, notification_id: int) -> None:
        """Delete one through ``/consistent_identities/notification/delete`` (gone is fine)."""
        path = _endpoints_identity.IDENTITY_DELETE_PATH
        self._call(_endpoints.delete_notification(notification_id, path=path))


class AsyncChainCalls(ChainChecks):
    """The async twins of :class:`SyncChainCalls`, for the async client."""

    if TYPE_CHECKING:

        async def _call(self, spec: RequestSpec[T]) -> T: ...
        async def download(self, link: str, destination: None = None) -> bytes: ...

    async def _payload(self, image: ImageSource, filename: str | None) -> ImagePayload:
        if is_image_url(image):
            assert isinstance(image, str)
            data = await self.download(image)
            return load_image(data, filename=filename or _name_from_url(image))
        return load_image(image, filename=filename)

    async def upscale_upload(
        self, image: ImageSource, *, filename: str | None = None
    ) -> UpscaleUpload:
        """See :meth:`SyncChainCalls.upscale_upload`."""
        payload = await self._payload(image, filename)
        upload = await self._call(_endpoints_superid.upscale_upload(payload))
        self._remember_size(upload.image_id, upload.width, upload.height)
        return upload

    async def superid_info(self, upload: UpscaleUpload, scale_factor: int = 2) -> UpscaleEstimate:
        """See :meth:`SyncChainCalls.superid_info`."""
        spec = _endpoints_superid.superid_info(upload.project_id, upload.image_id, scale_factor)
        estimate = await self._call(spec)
        self._remember_size(upload.image_id, estimate.width, estimate.height)
        return estimate

    async def start_upscale(
        self,
        upload: UpscaleUpload,
        scale_factor: int = 2,
        *,
        fast: bool = False,
        output_format: str = "PNG",
        prompt: str | None = None,
        options: UpscaleOptions | Mapping[str, Any] | None = None,
    ) -> UpscaleJob:
        """See :meth:`SyncChainCalls.start_upscale`."""
        spec = self._upscale_spec(upload, scale_factor, fast, output_format, prompt, options)
        return await self._call(spec)

    async def upload_face(
        self,
        image: ImageSource,
        *,
        identity_name: str | None = None,
        filename: str | None = None,
    ) -> str:
        """See :meth:`SyncChainCalls.upload_face`."""
        payload = await self._payload(image, filename)
        return await self._call(_endpoints_identity.upload_face(payload, identity_name))

    async def upload_identity_target(
        self,
        image: ImageSource,
        *,
        options: IdentityTargetOptions | Mapping[str, Any] | None = None,
        filename: str | None = None,
    ) -> IdentityTarget:
        """See :meth:`SyncChainCalls.upload_identity_target`."""
        payload = await self._payload(image, filename)
        target = await self._call(_endpoints_identity.upload_identity_target(payload, options))
        self.register_identity_target(target)
        return target

    async def start_identity_swap(
        self,
        image_id: str,
        face_id: int,
        identity_name: str,
        *,
        options: IdentitySwapOptions | Mapping[str, Any] | None = None,
        prompt: str | None = None,
    ) -> IdentitySwapJob:
        """See :meth:`SyncChainCalls.start_identity_swap`."""
        spec = self._swap_spec(image_id, face_id, identity_name, options, prompt)
        return await self._call(spec)

    async def identity_notifications(
        self, names: Sequence[str] = IDENTITY_NOTIFICATION_NAMES, *, image_id: str | None = None
    ) -> list[Notification]:
        """See :meth:`SyncChainCalls.identity_notifications`."""
        path = _endpoints_identity.IDENTITY_NOTIFICATIONS_PATH
        return await self._call(_endpoints.notifications(names, image_id, path=path))

    async def delete_identity_notification(self, notification_id: int) -> None:
        """See :meth:`SyncChainCalls.delete_identity_notification`."""
        path = _endpoints_identity.IDENTITY_DELETE_PATH
        await self._call(_endpoints.delete_notification(notification_id, path=path))
