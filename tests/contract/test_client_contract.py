"""Every endpoint, auth path and error class of the client, against the real emulator."""

from __future__ import annotations

import io
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from piktid_prefect.emulator import EmulatorAccount, EmulatorServer, FaultConfig
from piktid_prefect.wire.errors import (
    AuthenticationFailed,
    GenerationStartUnconfirmed,
    ImageNotFound,
    InvalidKeyword,
    InvalidPerson,
    ServerError,
)
from piktid_prefect.wire.models import GenerationJob
from tests.contract.conftest import call, wait_for

SAMPLES = resources.files("piktid_prefect") / "samples"
PORTRAIT = Path(str(SAMPLES / "grace_hopper.jpg"))
GROUP = Path(str(SAMPLES / "group_of_three.jpg"))


def endpoint_count(emulator: EmulatorServer, account: EmulatorAccount, endpoint: str) -> int:
    return emulator.stats(account.email).requests.get(endpoint, 0)


def token_calls(emulator: EmulatorServer, endpoint: str) -> int:
    # Token requests carry no bearer token, so the emulator counts them for no account.
    return emulator.stats().requests.get(endpoint, 0)


async def test_me_with_a_static_token(make_client: Any, piktid_account: EmulatorAccount) -> None:
    account = await call(make_client().me())
    assert account.credits == 10_000
    assert account.email == piktid_account.email


async def test_email_and_password_log_in(
    make_client: Any, piktid_emulator: EmulatorServer, piktid_account: EmulatorAccount
) -> None:
    logins = token_calls(piktid_emulator, "POST /tokens")
    client = make_client(email=piktid_account.email, password=piktid_account.password)
    assert (await call(client.me())).credits == 10_000
    assert (await call(client.me())).credits == 10_000
    assert token_calls(piktid_emulator, "POST /tokens") == logins + 1


async def test_wrong_password_is_authentication_failed(
    make_client: Any, piktid_account: EmulatorAccount
) -> None:
    client = make_client(email=piktid_account.email, password="wrong-password-123")
    with pytest.raises(AuthenticationFailed) as info:
        await call(client.me())
    assert "wrong-password-123" not in str(info.value)


async def test_expired_access_token_is_refreshed_and_the_request_repeated(
    make_client: Any, piktid_emulator: EmulatorServer, piktid_account: EmulatorAccount
) -> None:
    client = make_client(
        access_token=piktid_account.access_token, refresh_token=piktid_account.refresh_token
    )
    refreshes = token_calls(piktid_emulator, "PUT /tokens")
    piktid_emulator.expire_access_token(piktid_account.access_token)
    assert (await call(client.me())).credits == 10_000
    assert token_calls(piktid_emulator, "PUT /tokens") == refreshes + 1
    assert (await call(client.me())).credits == 10_000  # the new token is kept


async def test_reused_refresh_token_revokes_everything_and_the_client_logs_in_again(
    make_client: Any, piktid_emulator: EmulatorServer, piktid_account: EmulatorAccount
) -> None:
    client = make_client(
        access_token=piktid_account.access_token,
        refresh_token=piktid_account.refresh_token,
        email=piktid_account.email,
        password=piktid_account.password,
    )
    logins = token_calls(piktid_emulator, "POST /tokens")
    # Someone else spends the refresh token first: the client's refresh is then a reuse.
    stolen = httpx.put(
        f"{piktid_account.base_url}/tokens",
        json={
            "access_token": piktid_account.access_token,
            "refresh_token": piktid_account.refresh_token,
        },
    )
    assert stolen.status_code == 200
    assert (await call(client.me())).credits == 10_000
    assert token_calls(piktid_emulator, "POST /tokens") == logins + 1


async def test_expired_token_without_refresh_or_password_fails(
    make_client: Any, piktid_emulator: EmulatorServer, piktid_account: EmulatorAccount
) -> None:
    account = piktid_emulator.create_account(credits=1)
    piktid_emulator.expire_access_token(account.access_token)
    with pytest.raises(AuthenticationFailed):
        await call(make_client(access_token=account.access_token).me())


async def test_upload_detects_persons_and_reference_gets_a_name(make_client: Any) -> None:
    client = make_client()
    upload = await call(client.upload_target(GROUP, options={"flag_detection": True}))
    assert upload.image_id
    assert upload.num_persons == len(upload.persons) >= 1
    assert all(0.0 <= p.box_width <= 1.0 for p in upload.persons)
    reference = await call(client.upload_reference(PORTRAIT.read_bytes()))
    assert isinstance(reference, str) and reference


async def test_person_generation_end_to_end_charges_one_credit(
    make_client: Any,
    piktid_emulator: EmulatorServer,
    piktid_account: EmulatorAccount,
    tmp_path: Path,
) -> None:
    client = make_client()
    upload = await call(client.upload_target(PORTRAIT))
    person = upload.approved_person_ids[0]
    job = await call(
        client.generate_person(
            upload.image_id, person, {"Location": "Oceania"}, options={"seed": 5}
        )
    )
    note = await wait_for(client, job)
    assert note.name == "edit_generate"
    target = await call(client.download(note.links[0], tmp_path / "out.jpg"))
    with Image.open(target) as image:
        image.load()
    assert piktid_emulator.stats(piktid_account.email).credits_charged == 1
    assert (await call(client.me())).credits == 10_000 - 1
    # Re-uploading the result by URL (the emulator fetches loopback URLs).
    again = await call(client.upload_target(note.links[0].url))
    assert again.image_id != upload.image_id


async def test_background_edit_with_keyword_and_with_prompt(make_client: Any) -> None:
    client = make_client()
    upload = await call(client.upload_target(PORTRAIT.read_bytes()))
    by_keyword = await call(
        client.edit_background(
            upload.image_id, {"nature_landscapes": "Beach"}, options={"relight_strength": 0.5}
        )
    )
    by_prompt = await call(client.edit_background(upload.image_id, prompt="a quiet library"))
    for job in (by_keyword, by_prompt):
        note = await wait_for(client, job)
        assert note.name == "edit_background"
        data = await call(client.download(note.links[0]))
        assert data[:3] == b"\xff\xd8\xff"
        sink = io.BytesIO()
        await call(client.download(note.links[0].url, sink))
        assert sink.getvalue() == data


async def test_expired_image_is_image_not_found(
    make_client: Any, piktid_emulator: EmulatorServer
) -> None:
    client = make_client()
    upload = await call(client.upload_target(PORTRAIT))
    piktid_emulator.advance(24 * 3600 + 60)  # targets are deleted after 24 h
    with pytest.raises(ImageNotFound, match=upload.image_id):
        await call(client.edit_background(upload.image_id, {"seasonal": "Winter"}))


async def test_invalid_keyword_and_person_never_reach_the_server(
    make_client: Any, piktid_emulator: EmulatorServer, piktid_account: EmulatorAccount
) -> None:
    client = make_client()
    upload = await call(client.upload_target(PORTRAIT))
    before = sum(piktid_emulator.stats(piktid_account.email).requests.values())
    with pytest.raises(InvalidKeyword):
        await call(client.generate_person(upload.image_id, 0, {"Location": "Atlantis"}))
    with pytest.raises(InvalidKeyword):
        await call(client.edit_background(upload.image_id, {"seasonal": "Monsoon"}))
    with pytest.raises(InvalidPerson):
        await call(client.generate_person(upload.image_id, 99, {"Location": "Africa"}))
    assert sum(piktid_emulator.stats(piktid_account.email).requests.values()) == before


async def test_polling_faster_than_allowed_is_absorbed_by_retry_after(
    make_client: Any, piktid_emulator: EmulatorServer, piktid_account: EmulatorAccount
) -> None:
    client = make_client()
    for _ in range(4):
        assert await call(client.notifications()) == []
    assert piktid_emulator.stats(piktid_account.email).rate_limited_polls >= 1


async def test_transient_faults_on_safe_calls_are_retried(
    make_client: Any, piktid_emulator: EmulatorServer, piktid_account: EmulatorAccount
) -> None:
    piktid_emulator.set_faults(
        FaultConfig(seed=3, http_503=0.3, http_502=0.2, drop_connection=0.2, endpoints=("/me",))
    )
    client = make_client()
    for _ in range(5):
        assert (await call(client.me())).credits == 10_000
    assert sum(piktid_emulator.stats(piktid_account.email).faults.values()) >= 1


async def test_persistent_server_errors_end_in_server_error(
    make_client: Any, piktid_emulator: EmulatorServer
) -> None:
    piktid_emulator.set_faults(FaultConfig(http_500=1.0, endpoints=("/me",)))
    with pytest.raises(ServerError):
        await call(make_client().me())


async def test_lost_start_answer_is_unconfirmed_and_its_notification_settles_it(
    make_client: Any, piktid_emulator: EmulatorServer, piktid_account: EmulatorAccount
) -> None:
    client = make_client()
    upload = await call(client.upload_target(PORTRAIT))
    piktid_emulator.set_faults(
        FaultConfig(lose_response_after_start=1.0, endpoints=("/edit/generate",))
    )
    with pytest.raises(GenerationStartUnconfirmed) as info:
        await call(
            client.generate_person(
                upload.image_id, upload.approved_person_ids[0], {"Location": "East Asia"}
            )
        )
    job = info.value.job
    assert isinstance(job, GenerationJob) and not job.confirmed
    piktid_emulator.set_faults(FaultConfig())
    note = await wait_for(client, job)  # it arrives: the start happened, and was paid once
    assert note.name == "edit_generate"
    stats = piktid_emulator.stats(piktid_account.email)
    assert stats.credits_charged == 1
    assert endpoint_count(piktid_emulator, piktid_account, "POST /edit/generate") == 1


async def test_refused_start_is_retried_when_the_server_did_not_process_it(
    make_client: Any, piktid_emulator: EmulatorServer, piktid_account: EmulatorAccount
) -> None:
    client = make_client()
    upload = await call(client.upload_target(PORTRAIT))
    piktid_emulator.set_faults(FaultConfig(seed=1, http_503=0.5, endpoints=("/edit/background",)))
    job = await call(client.edit_background(upload.image_id, {"florals": "Roses"}))
    assert job.confirmed
    piktid_emulator.set_faults(FaultConfig())
    await wait_for(client, job)
    assert piktid_emulator.stats(piktid_account.email).credits_charged == 1


async def test_two_prompts_for_one_person_each_get_their_own_result(
    make_client: Any, piktid_emulator: EmulatorServer, piktid_account: EmulatorAccount
) -> None:
    client = make_client()
    upload = await call(client.upload_target(PORTRAIT))
    options = {"seed": 3, "ip_scale": 1}
    red = await call(
        client.generate_person(upload.image_id, 0, prompt="a red dress", options=options)
    )
    blue = await call(
        client.generate_person(upload.image_id, 0, prompt="a blue suit", options=options)
    )
    piktid_emulator.drain()
    # Started together, both done: each job must take its own notification, not the first.
    blue_note = await wait_for(client, blue)
    red_note = await wait_for(client, red)
    assert blue_note.data["prompt"] == "a blue suit" and red_note.data["prompt"] == "a red dress"
    pictures = [await call(client.download(n.links[0])) for n in (red_note, blue_note)]
    assert pictures[0] != pictures[1]
    stats = piktid_emulator.stats(piktid_account.email)
    assert [r.options for r in stats.generations] == [options, options]
