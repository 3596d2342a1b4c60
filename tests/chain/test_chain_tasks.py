"""The chained tasks: upscale and swap_identity after a variation, each paid once."""

from __future__ import annotations

from prefect import flow

from piktid_prefect.runtime.chain_models import StepResult
from piktid_prefect.runtime.credits import CreditBudget, ledger
from piktid_prefect.runtime.results import GenerationSpec
from piktid_prefect.tasks import (
    acreate_identity,
    agenerate_output,
    aswap_identity,
    aupload_image,
    aupscale,
    create_identity,
    generate_output,
    swap_identity,
    upload_image,
    upscale,
)


def _spec(seed: int) -> GenerationSpec:
    return GenerationSpec(
        kind="person", person_id=0, keyword={"Location": "Oceania"}, options={"seed": seed}
    )


def test_a_chain_passes_links_on_and_a_rerun_pays_for_no_step_again(
    credentials, piktid_emulator, piktid_account, samples, time_scale
) -> None:
    budget = CreditBudget(run_key="chain-test-sync")
    wait = 600 * time_scale

    @flow
    def chained() -> tuple[StepResult, StepResult]:
        name = create_identity(credentials, str(samples["grace_hopper"]), "grace")
        image = upload_image(credentials, str(samples["astronaut"]))
        variation = generate_output(credentials, image, _spec(7), timeout_seconds=wait)
        bigger = upscale(credentials, variation, 2, timeout_seconds=wait, budget=budget)
        swapped = swap_identity(credentials, bigger, name, timeout_seconds=wait, budget=budget)
        return bigger, swapped

    bigger, swapped = chained()
    again_bigger, again_swapped = chained()

    assert bigger.steps_so_far == 1 and swapped.steps_so_far == 2
    assert (again_bigger, again_swapped) == (bigger, swapped)  # both from the cache
    charged = piktid_emulator.stats(piktid_account.email).credits_charged_by_endpoint
    assert charged == {
        "/edit/generate": 1,
        "/superid/v2": 0.25,
        "/consistent_identities/generate": 1,
    }
    assert ledger(budget).spent == 1.25  # the upscale's quarter, exactly


async def test_the_async_twins_share_the_chain_cache(
    credentials, piktid_emulator, piktid_account, samples, time_scale
) -> None:
    wait = 600 * time_scale

    @flow
    async def chained_async() -> StepResult:
        name = await acreate_identity(credentials, str(samples["grace_hopper"]), "grace")
        image = await aupload_image(credentials, str(samples["astronaut"]))
        variation = await agenerate_output(credentials, image, _spec(8), timeout_seconds=wait)
        bigger = await aupscale(credentials, variation, 2, timeout_seconds=wait)
        return await aswap_identity(credentials, bigger, name, timeout_seconds=wait)

    @flow
    def chained_sync() -> StepResult:
        image = upload_image(credentials, str(samples["astronaut"]))
        variation = generate_output(credentials, image, _spec(8), timeout_seconds=wait)
        bigger = upscale(credentials, variation, 2, timeout_seconds=wait)
        return swap_identity(credentials, bigger, "grace", timeout_seconds=wait)

    first = await chained_async()
    assert chained_sync() == first
    charged = piktid_emulator.stats(piktid_account.email).credits_charged_by_endpoint
    assert charged == {
        "/edit/generate": 1,
        "/superid/v2": 0.25,
        "/consistent_identities/generate": 1,
    }
