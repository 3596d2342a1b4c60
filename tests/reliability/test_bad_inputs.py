"""Bad input: each case fails with an error naming the problem, spends 0 credits, and leaves
the outputs an earlier run delivered exactly as they were."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from PIL import Image
from prefect import flow
from typer.testing import CliRunner

from piktid_prefect.cli import app
from piktid_prefect.credentials import PiktidCredentials
from piktid_prefect.emulator import EmulatorServer
from piktid_prefect.flows import batch_variations, edit_backgrounds, generate_people
from piktid_prefect.runtime.results import GenerationResult, GenerationSpec
from piktid_prefect.tasks import download_result, upload_image
from piktid_prefect.wire.errors import (
    AuthenticationFailed,
    BadRequest,
    InvalidConfiguration,
    InvalidInput,
    InvalidKeyword,
    InvalidOptions,
    InvalidPerson,
    PiktidError,
    UnsupportedImage,
)
from piktid_prefect.wire.models import GenerationJob
from tests.reliability.conftest import folder_snapshot

OCEANIA = [{"Location": "Oceania"}]


@dataclass
class Case:
    """What one bad-input case may use."""

    credentials: PiktidCredentials
    samples: dict[str, Path]
    tmp_path: Path
    out_dir: Path
    emulator: EmulatorServer
    time_scale: float

    def people(self, image: Path | Any, **kwargs: Any) -> Any:
        arguments: dict[str, Any] = {
            "keywords": OCEANIA,
            "credentials": self.credentials,
            "out_dir": str(self.out_dir),
            "stagger_seconds": 0.0,
            "timeout_seconds": 600.0 * self.time_scale,
            **kwargs,
        }
        return generate_people(
            image=image if not isinstance(image, Path) else str(image), **arguments
        )

    def backgrounds(self, keywords: list[dict[str, str]], **kwargs: Any) -> Any:
        return edit_backgrounds(
            image=str(self.samples["astronaut"]),
            keywords=keywords,
            credentials=self.credentials,
            out_dir=str(self.out_dir),
            timeout_seconds=600.0 * self.time_scale,
            **kwargs,
        )

    def write(self, name: str, data: bytes) -> Path:
        path = self.tmp_path / name
        path.write_bytes(data)
        return path


def _encoded(pixels: np.ndarray, ext: str = ".png") -> bytes:
    ok, encoded = cv2.imencode(ext, pixels)
    assert ok
    return bytes(encoded.tobytes())


def _gif(case: Case) -> Any:
    buffer = io.BytesIO()
    Image.open(case.samples["astronaut"]).save(buffer, format="GIF")
    return case.people(case.write("portrait.gif", buffer.getvalue()))


def _truncated(case: Case) -> Any:
    data = case.samples["astronaut"].read_bytes()
    return case.people(case.write("cut.jpg", data[: len(data) // 2]))


def _empty(case: Case) -> Any:
    return case.people(case.write("empty.jpg", b""))


def _bomb(case: Case) -> Any:
    # 80 000 x 1 000 = 80 Mpx of one colour: a few hundred KB on disk.
    buffer = io.BytesIO()
    Image.new("L", (80_000, 1_000)).save(buffer, format="PNG", optimize=True)
    return case.people(case.write("bomb.png", buffer.getvalue()))


def _crowd(case: Case) -> Any:
    pixels = cv2.imread(str(case.samples["astronaut"]))
    tile = cv2.resize(pixels[36:201, 147:302], (120, 150))
    grid = np.full((6 * 150, 6 * 120, 3), 255, np.uint8)
    for index in range(31):
        row, column = divmod(index, 6)
        grid[row * 150 : (row + 1) * 150, column * 120 : (column + 1) * 120] = tile
    return case.people(case.write("crowd.png", _encoded(grid)))


def _nobody(case: Case) -> Any:
    gradient = np.tile(np.linspace(0, 255, 512, dtype=np.uint8), (512, 1))
    landscape = cv2.merge([gradient, np.flipud(gradient), np.full_like(gradient, 90)])
    return case.people(case.write("landscape.png", _encoded(landscape)))


def _one_bad_image_in_a_batch(case: Case) -> Any:
    # Good photos first: the bad one is found only by PiktID, at upload. Nothing may be
    # generated for the good ones before that answer (the flow waits for every upload).
    gradient = np.tile(np.linspace(0, 255, 512, dtype=np.uint8), (512, 1))
    landscape = case.write("zz-landscape.png", _encoded(cv2.merge([gradient] * 3)))
    return batch_variations(
        images=[str(case.samples["astronaut"]), str(case.samples["grace_hopper"]), str(landscape)],
        person_keywords=OCEANIA,
        background_keywords=[{"nature_landscapes": "Beach"}],
        credentials=case.credentials,
        out_dir=str(case.out_dir),
        stagger_seconds=0.0,
        timeout_seconds=600.0 * case.time_scale,
    )


def _blurred(case: Case) -> Any:
    pixels = cv2.GaussianBlur(cv2.imread(str(case.samples["astronaut"])), (15, 15), 0)
    return case.people(case.write("blurred.png", _encoded(pixels)))


def _person_out_of_range(case: Case) -> Any:
    return case.people(case.samples["group_of_three"], persons=[3])


def _unknown_category(case: Case) -> Any:
    return case.backgrounds([{"mood": "Happy"}])


def _unknown_value(case: Case) -> Any:
    return case.people(case.samples["astronaut"], keywords=[{"Location": "Atlantis"}])


def _relight_out_of_range(case: Case) -> Any:
    return case.backgrounds([{"nature_landscapes": "Beach"}], relight_strength=1.5)


def _malformed_base_url(case: Case) -> Any:
    return PiktidCredentials(base_url="api.piktid.com/api", access_token="t")


def _plain_http_remote(case: Case) -> Any:
    return PiktidCredentials(base_url="http://api.piktid.com/api", access_token="t")


def _non_http_link(case: Case) -> Any:
    @flow
    def download_a_file_link() -> Any:
        image = upload_image(case.credentials, case.samples["astronaut"])
        spec = GenerationSpec(kind="person", person_id=0, keyword=OCEANIA[0], options={"seed": 1})
        job = GenerationJob(kind="person", image_id=image.image_id, person_id=0, keyword=OCEANIA[0])
        forged = GenerationResult(
            identity="x", image=image, spec=spec, job=job, link="file:///etc/passwd", seconds=0.0
        )
        return download_result(case.credentials, forged, str(case.out_dir))

    return download_a_file_link()


def _expired_image(case: Case) -> Any:
    @flow
    def upload_bytes() -> Any:
        return upload_image(case.credentials, case.samples["astronaut"].read_bytes())

    uploaded = upload_bytes()
    case.emulator.advance(86_400 + 60)  # PiktID deletes targets 24 h after upload
    return case.people(uploaded)


def _wrong_password(case: Case) -> Any:
    wrong = case.credentials.model_copy(update={"password": "not-the-password"})
    return case.people(case.samples["astronaut"], credentials=wrong)


def _output_folder_is_a_file(case: Case) -> Any:
    blocker = case.write("not-a-folder", b"keep me")
    return case.people(case.samples["astronaut"], out_dir=str(blocker / "out"))


CASES: list[tuple[str, Callable[[Case], Any], type[Exception], str]] = [
    ("unsupported format (GIF)", _gif, UnsupportedImage, "GIF format"),
    ("truncated file", _truncated, UnsupportedImage, "truncated"),
    ("zero bytes", _empty, UnsupportedImage, "is empty"),
    ("decompression bomb", _bomb, UnsupportedImage, "decompression bomb"),
    ("more than 30 persons", _crowd, BadRequest, "more than 30 persons"),
    ("no persons", _nobody, InvalidPerson, "no person was detected"),
    (
        "one image without persons in a batch",
        _one_bad_image_in_a_batch,
        InvalidPerson,
        "zz-landscape",
    ),
    ("person not approved", _blurred, InvalidPerson, "no detected person is approved"),
    ("person id out of range", _person_out_of_range, InvalidPerson, "person 3 does not exist"),
    ("unknown keyword category", _unknown_category, InvalidKeyword, "mood"),
    ("unknown keyword value", _unknown_value, InvalidKeyword, "Atlantis"),
    ("relight strength out of range", _relight_out_of_range, InvalidOptions, "relight_strength"),
    ("malformed base URL", _malformed_base_url, ValueError, "base URL must be http(s)"),
    ("plain http to a remote host", _plain_http_remote, ValueError, "only for loopback"),
    ("result link not http(s)", _non_http_link, InvalidInput, "scheme 'file'"),
    ("expired image id", _expired_image, PiktidError, "ImageNotFound"),
    ("wrong credentials", _wrong_password, AuthenticationFailed, "HTTP 401"),
    ("output folder not writable", _output_folder_is_a_file, InvalidConfiguration, "Output folder"),
]


@pytest.fixture(scope="module")
def delivered(piktid_emulator: EmulatorServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding a real earlier delivery (two outputs and their manifest)."""
    account = piktid_emulator.create_account(credits=10)
    scale = piktid_emulator.config.time_scale
    folder = tmp_path_factory.mktemp("delivered")
    result = generate_people(
        image=str(next(p for p in _samples() if p.stem == "astronaut")),
        keywords=[{"Location": "Oceania"}, {"Location": "Africa"}],
        credentials=PiktidCredentials(
            base_url=account.base_url,
            email=account.email,
            password=account.password,
            poll_interval_seconds=4.5 * scale,
        ),
        out_dir=str(folder),
        stagger_seconds=15.0 * scale,
        timeout_seconds=600.0 * scale,
    )
    assert len(result.outputs) == 2
    return folder


def _samples() -> list[Path]:
    from piktid_prefect.demo import sample_images

    return sample_images()


@pytest.mark.parametrize(
    ("case_fn", "error", "fragment"),
    [pytest.param(fn, error, fragment, id=name) for name, fn, error, fragment in CASES],
)
def test_bad_input_is_named_costs_nothing_and_keeps_delivered_outputs(
    case_fn: Callable[[Case], Any],
    error: type[Exception],
    fragment: str,
    delivered: Path,
    piktid_emulator: EmulatorServer,
    piktid_account,
    credentials: PiktidCredentials,
    samples: dict[str, Path],
    tmp_path: Path,
    time_scale: float,
) -> None:
    before = folder_snapshot(delivered)
    case = Case(credentials, samples, tmp_path, delivered, piktid_emulator, time_scale)

    with pytest.raises(error) as caught:
        case_fn(case)

    assert fragment in str(caught.value)
    assert piktid_emulator.stats(piktid_account.email).credits_charged == 0
    assert folder_snapshot(delivered) == before


runner = CliRunner()


@pytest.mark.parametrize(
    ("arguments", "env_update", "fragment"),
    [
        pytest.param(["-k", "Location=Atlantis"], {}, "Atlantis", id="unknown keyword value"),
        pytest.param(["-k", "Location"], {}, "category=value", id="keyword without a value"),
        pytest.param(["-k", "Location=Oceania", "--person", "9"], {}, "person 9", id="person id"),
        pytest.param(
            ["-k", "Location=Oceania"],
            {"PIKTID_BASE_URL": "http://api.piktid.com/api"},
            "loopback",
            id="plain http to a remote host",
        ),
        pytest.param(
            ["-k", "Location=Oceania"],
            {"PIKTID_EMAIL": "", "PIKTID_PASSWORD": ""},
            "no usable PiktID credentials",
            id="no credentials",
        ),
    ],
)
def test_cli_rejects_bad_input_with_exit_2_and_spends_nothing(
    arguments: list[str],
    env_update: dict[str, str],
    fragment: str,
    piktid_emulator: EmulatorServer,
    piktid_account,
    samples: dict[str, Path],
    tmp_path: Path,
    time_scale: float,
) -> None:
    env = {
        "PIKTID_BASE_URL": piktid_account.base_url,
        "PIKTID_EMAIL": piktid_account.email,
        "PIKTID_PASSWORD": piktid_account.password,
        "PIKTID_ACCESS_TOKEN": "",
        **env_update,
    }
    result = runner.invoke(
        app,
        ["generate-person", str(samples["group_of_three"]), *arguments, "--out", str(tmp_path)],
        env=env,
    )
    assert result.exit_code == 2, result.output
    assert fragment in " ".join(result.output.split())
    assert piktid_emulator.stats(piktid_account.email).credits_charged == 0
    assert not (tmp_path / "manifest.json").exists()


def test_cli_refuses_a_gif_before_uploading(
    piktid_emulator: EmulatorServer, piktid_account, samples: dict[str, Path], tmp_path: Path
) -> None:
    gif = tmp_path / "portrait.gif"
    Image.open(samples["astronaut"]).save(gif, format="GIF")
    env = {
        "PIKTID_BASE_URL": piktid_account.base_url,
        "PIKTID_ACCESS_TOKEN": piktid_account.access_token,
    }
    arguments = ["generate-person", str(gif), "-k", "Location=Oceania", "--out", str(tmp_path)]
    result = runner.invoke(app, arguments, env=env)
    assert result.exit_code == 2
    assert "GIF format" in " ".join(result.output.split())
    assert piktid_emulator.stats(piktid_account.email).requests == {}
