"""Secrets never leave the credentials: not in logs, console output, exception texts,
artifacts, events, task results, the manifest, nor anywhere in Prefect's database file."""

from __future__ import annotations

import json
import logging
import secrets
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from prefect.client.orchestration import get_client
from prefect.settings import (
    PREFECT_API_URL,
    PREFECT_LOCAL_STORAGE_PATH,
    PREFECT_SERVER_DATABASE_CONNECTION_URL,
)

from piktid_prefect.credentials import PiktidCredentials
from piktid_prefect.emulator import EmulatorServer, FaultConfig
from piktid_prefect.flows import batch_variations
from piktid_prefect.wire.errors import AuthenticationFailed, PiktidError

PERSON_KEYWORDS = [{"Location": "Oceania"}, {"Location": "Africa"}]
BACKGROUND_KEYWORDS = [{"nature_landscapes": "Beach"}, {"seasonal": "Spring"}]
# Token expiry forces refreshes (new access and one-time refresh tokens travel); error
# notifications put exception texts into task states.
NOISY = FaultConfig(seed=3, expire_token=0.1, error_notification=0.2, http_500=0.05)
# A bare access token cannot be renewed: that run gets every fault but expiry.
NOISY_BUT_NO_EXPIRY = NOISY.model_copy(update={"expire_token": 0.0})


def _issued_tokens(emulator: EmulatorServer, email: str) -> set[str]:
    """Every access and refresh token the emulator issued to ``email`` (its own books)."""
    book = emulator.engine.accounts
    pairs = list(vars(book)["_by_access"].values())
    return {t for p in pairs if p.email == email for t in (p.access, p.refresh)}


def _database_bytes() -> bytes:
    url = PREFECT_SERVER_DATABASE_CONNECTION_URL.value()
    assert url and url.startswith("sqlite+aiosqlite:///"), url
    path = Path(url.removeprefix("sqlite+aiosqlite:///"))
    files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-journal")]
    data = b"".join(p.read_bytes() for p in files if p.exists())
    assert len(data) > 100_000  # it is the harness database, with this session's runs in it
    return data


def _tree_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def _artifacts_and_events() -> str:
    response = httpx.post(f"{PREFECT_API_URL.value()}/artifacts/filter", json={"limit": 200})
    response.raise_for_status()
    with get_client(sync_client=True) as client:
        events = client.read_events(limit=50)
    return json.dumps(response.json()) + "".join(e.model_dump_json() for e in events.events)


def _run(credentials: Any, out_dir: Path, samples: dict[str, Path], scale: float) -> Any:
    return batch_variations(
        images=[str(samples["astronaut"]), str(samples["grace_hopper"])],
        person_keywords=PERSON_KEYWORDS,
        background_keywords=BACKGROUND_KEYWORDS,
        credentials=credentials,
        out_dir=str(out_dir),
        stagger_seconds=15.0 * scale,
        timeout_seconds=600.0 * scale,
        return_state=True,
    )


def test_no_token_or_password_reaches_any_log_result_artifact_or_the_database(
    piktid_emulator: EmulatorServer,
    samples: dict[str, Path],
    tmp_path: Path,
    time_scale: float,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    # Everything at DEBUG: prefect, httpx, our own lines, and httpcore's wire trace, which
    # prints raw response headers (PiktID's token answer sets the refresh token as a
    # cookie; piktid_prefect.wire._log_redaction masks it).
    caplog.set_level(logging.DEBUG)
    password = f"PW-{secrets.token_hex(12)}-sentinel"
    account = piktid_emulator.create_account(credits=1_000, password=password)
    poll = 4.5 * time_scale
    by_token = PiktidCredentials(
        base_url=account.base_url, access_token=account.access_token, poll_interval_seconds=poll
    )
    by_password = PiktidCredentials(
        base_url=account.base_url,
        email=account.email,
        password=password,
        poll_interval_seconds=poll,
    )
    block_name = f"reliability-{secrets.token_hex(4)}"
    by_password.save(block_name)
    texts: list[str] = []

    # 1. The block object itself as a flow parameter (Prefect stores parameters).
    piktid_emulator.set_faults(NOISY_BUT_NO_EXPIRY)
    states = [_run(by_token, tmp_path / "a", samples, time_scale)]
    # 2. A saved block, by name, logging in with the password; refreshes under expiry faults.
    piktid_emulator.set_faults(NOISY)
    states.append(_run(block_name, tmp_path / "b", samples, time_scale))
    piktid_emulator.set_faults(FaultConfig())
    # 3. A revoked token: the error a user sees.
    revoked = piktid_emulator.create_account(credits=10)
    piktid_emulator.expire_access_token(revoked.access_token)
    with pytest.raises(AuthenticationFailed) as refused:
        batch_variations(
            images=[str(samples["astronaut"])],
            person_keywords=PERSON_KEYWORDS,
            credentials=PiktidCredentials(
                base_url=revoked.base_url, access_token=revoked.access_token
            ),
            out_dir=str(tmp_path / "c"),
        )
    texts.append(str(refused.value))

    for state in states:
        texts.append(str(state.message))
        try:
            texts.append(state.result().model_dump_json())
        except PiktidError as exc:
            texts.append(f"{exc!r} {exc}")
    # Both runs delivered outputs (some failed by design: error notifications).
    assert (tmp_path / "a" / "manifest.json").exists()
    assert (tmp_path / "b" / "manifest.json").exists()
    assert piktid_emulator.stats(account.email).faults.get("expire_token", 0) > 0

    tokens = _issued_tokens(piktid_emulator, account.email)
    culprits = {
        f"{r.name}: {r.getMessage()[:120]}"
        for r in caplog.records
        if any(t in r.getMessage() for t in {password, revoked.access_token, *tokens})
    }
    assert not culprits, culprits
    # The wire trace did run and did carry the token answers' cookies, masked.
    cookies = [r.getMessage() for r in caplog.records if b"set-cookie" in r.getMessage().encode()]
    assert cookies and all("refresh_token=***" in c for c in cookies)
    assert len(tokens) >= 6  # logins and refreshes happened: more than one pair travelled
    watched = {password, revoked.access_token, *tokens}
    haystacks = {
        "logs": caplog.text,
        "console": "".join(capfd.readouterr()),
        "exceptions, state messages and flow results": "\n".join(texts),
        "artifacts and events": _artifacts_and_events(),
        "manifests and outputs": _tree_bytes(tmp_path).decode("latin-1"),
        "task results": _tree_bytes(Path(PREFECT_LOCAL_STORAGE_PATH.value())).decode("latin-1"),
        "credentials repr": repr(by_password) + repr(by_token) + str(by_token.model_dump()),
    }
    time.sleep(1.0)  # let the server write the last events and states
    haystacks["Prefect database file"] = _database_bytes().decode("latin-1")
    assert "manifest.json" in str(list(tmp_path.rglob("*")))
    for where, text in haystacks.items():
        leaked = [s[:6] + "..." for s in watched if s in text]
        assert not leaked, f"secret {leaked} found in {where}"
