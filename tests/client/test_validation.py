"""Bad input fails before any request: no credit is spent and the error says why."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest

from piktid_prefect.wire import images
from piktid_prefect.wire.errors import (
    InvalidConfiguration,
    InvalidInput,
    InvalidKeyword,
    InvalidOptions,
    InvalidPerson,
    UnsupportedImage,
)
from piktid_prefect.wire.images import check_base_url, detect_format, load_image
from tests.client.conftest import MockAPI, call, image_bytes, upload_answer


def bomb_png(width: int = 10_000, height: int = 10_000) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_supported_formats_load_with_hash_and_content_type(fmt: str) -> None:
    data = image_bytes(fmt)
    payload = load_image(data)
    assert payload.data == data
    assert payload.content_type == images.CONTENT_TYPES[fmt]
    assert len(payload.sha256) == 64
    assert len(repr(payload)) < 120  # never the bytes themselves


@pytest.mark.parametrize(("fmt", "name"), [("GIF", "GIF"), ("BMP", "BMP"), ("TIFF", "TIFF")])
def test_other_formats_are_refused_naming_the_format(fmt: str, name: str) -> None:
    with pytest.raises(UnsupportedImage, match=f"is {name} format"):
        load_image(image_bytes(fmt))


def test_format_is_detected_by_magic_bytes_not_the_file_name(tmp_path: Path) -> None:
    fake = tmp_path / "photo.png"
    fake.write_bytes(image_bytes("GIF"))
    with pytest.raises(UnsupportedImage, match=r"photo\.png is GIF"):
        load_image(fake)
    assert detect_format(b"not an image at all") == "unknown"


def test_empty_truncated_and_oversized_images_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(UnsupportedImage, match="empty"):
        load_image(b"")
    whole = image_bytes("JPEG", (64, 64))
    with pytest.raises(UnsupportedImage, match="truncated or corrupt"):
        load_image(whole[: len(whole) // 2])
    monkeypatch.setattr(images, "MAX_UPLOAD_BYTES", 100)
    path = tmp_path / "big.png"
    path.write_bytes(image_bytes("PNG", (200, 200)) + b"\0" * 200)
    with pytest.raises(UnsupportedImage, match="upload limit"):
        load_image(path)
    with pytest.raises(UnsupportedImage, match="upload limit"):
        load_image(io.BytesIO(path.read_bytes()))


def test_decompression_bomb_is_refused_without_a_pillow_warning(
    recwarn: pytest.WarningsRecorder,
) -> None:
    with pytest.raises(UnsupportedImage, match="more than 40000000 pixels"):
        load_image(bomb_png(10_000, 10_000))
    with pytest.raises(UnsupportedImage, match="pixels"):
        load_image(bomb_png(20_000, 20_000))  # past Pillow's own hard limit
    assert not [w for w in recwarn if "DecompressionBomb" in str(w.category)]


def test_missing_file_and_wrong_types_are_invalid_input(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="No image file"):
        load_image(tmp_path / "missing.png")
    with pytest.raises(InvalidInput):
        load_image(12)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        load_image(io.StringIO("text"))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/api",
        "http://127.5.6.7/api",
        "http://localhost:9/api",
        "http://[::1]:8000/api",
        "https://api.piktid.com/api/",
    ],
)
def test_base_url_https_or_loopback_http_is_accepted(url: str) -> None:
    assert not check_base_url(url).endswith("/")


@pytest.mark.parametrize(
    "url",
    [
        "http://api.piktid.com/api",
        "http://10.0.0.5/api",
        "ftp://api.piktid.com",
        "api.piktid.com/api",
        "https:///api",
        "https://user:pw@api.piktid.com/api",
    ],
)
def test_bad_base_url_is_invalid_configuration(url: str) -> None:
    with pytest.raises(InvalidConfiguration) as info:
        check_base_url(url)
    assert "pw@" not in str(info.value)


async def assert_nothing_sent(
    api: MockAPI, coro: Any, error: type[Exception], match: str | None = None
) -> None:
    with pytest.raises(error, match=match):
        await call(coro())
    assert api.requests == []


async def test_invalid_inputs_raise_before_any_request(
    api: MockAPI, make_client: Any, tmp_path: Path
) -> None:
    client = make_client()
    gif = image_bytes("GIF")
    ok = {"Location": "Oceania"}
    await assert_nothing_sent(api, lambda: client.upload_target(gif), UnsupportedImage, "GIF")
    await assert_nothing_sent(api, lambda: client.upload_reference(b""), UnsupportedImage)
    await assert_nothing_sent(api, lambda: client.upload_target("ftp://x/y.png"), InvalidInput)
    await assert_nothing_sent(
        api, lambda: client.upload_target(b"x" * 10, options={"flag_x": 1}), UnsupportedImage
    )
    await assert_nothing_sent(
        api,
        lambda: client.upload_target("https://a/b.png", options={"Flag_Detection": False}),
        InvalidOptions,
        "did you mean 'flag_detection'",
    )
    await assert_nothing_sent(
        api, lambda: client.generate_person("img", 0, {"Location": "Atlantis"}), InvalidKeyword
    )
    await assert_nothing_sent(
        api,
        lambda: client.generate_person("img", 0, ok, options={"strength": 3}),
        InvalidOptions,
        "strength",
    )
    await assert_nothing_sent(api, lambda: client.generate_person("img", -1, ok), InvalidPerson)
    await assert_nothing_sent(api, lambda: client.generate_person("", 0, ok), InvalidInput)
    await assert_nothing_sent(
        api, lambda: client.edit_background("img", {"seasonal": "Monsoon"}), InvalidKeyword
    )
    await assert_nothing_sent(api, lambda: client.edit_background("img"), InvalidKeyword)
    await assert_nothing_sent(
        api, lambda: client.edit_background("img", prompt="   "), InvalidKeyword
    )
    await assert_nothing_sent(
        api,
        lambda: client.edit_background("img", prompt="x", options={"relight_strength": -1}),
        InvalidOptions,
    )
    await assert_nothing_sent(api, lambda: client.notifications([]), InvalidInput)
    await assert_nothing_sent(api, lambda: client.notifications(["a,b"]), InvalidInput)
    await assert_nothing_sent(api, lambda: client.delete_notification("5"), InvalidInput)
    await assert_nothing_sent(api, lambda: client.download("file:///etc/passwd"), InvalidInput)
    await assert_nothing_sent(api, lambda: client.download("https://x/y", tmp_path), InvalidInput)


async def test_person_of_an_own_upload_is_checked_before_sending(
    api: MockAPI, make_client: Any, png: bytes
) -> None:
    api.on("POST", "/edit/target", upload_answer("img-1"))
    client = make_client()
    await call(client.upload_target(png))
    api.requests.clear()
    ok = {"Location": "Oceania"}
    await assert_nothing_sent(
        api, lambda: client.generate_person("img-1", 1, ok), InvalidPerson, "not approved"
    )
    await assert_nothing_sent(
        api, lambda: client.generate_person("img-1", 7, ok), InvalidPerson, "no person 7"
    )
    api.on("POST", "/edit/target", upload_answer("img-2", persons=[]))
    await call(client.upload_target(png))
    api.requests.clear()
    await assert_nothing_sent(
        api, lambda: client.generate_person("img-2", 0, ok), InvalidPerson, "No person"
    )
    api.on("POST", "/edit/generate", upload_answer())
    await call(client.generate_person("img-1", 0, ok))
    await call(client.generate_person("unknown-image", 5, ok))  # not ours: the server decides
    assert len(api.requests) == 2
