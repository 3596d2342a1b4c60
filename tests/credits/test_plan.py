"""A plan lists what a run would make and spend, with no upload and no start."""

from __future__ import annotations

from piktid_prefect.execution.plan import plan_batch_variations
from piktid_prefect.flows import edit_backgrounds
from tests.prefect.helpers import requests_to

BEACH = {"nature_landscapes": "Beach"}
OFFICE = {"indoor_spaces": "Office"}
OCEANIA = {"Location": "Oceania"}


def test_plan_shows_delivered_cached_and_paid_outputs_without_upload_or_start(
    account_with, piktid_emulator, samples, tmp_path, time_scale
) -> None:
    account, creds = account_with(3)
    edit_backgrounds(
        image=str(samples["astronaut"]),
        keywords=[BEACH],
        credentials=creds,
        out_dir=str(tmp_path / "a"),
        timeout_seconds=600 * time_scale,
    )
    before = piktid_emulator.stats(account.email)

    def plan(folder: str):  # type: ignore[no-untyped-def]
        return plan_batch_variations(
            [str(samples["astronaut"])],
            person_keywords=[OCEANIA],
            background_keywords=[BEACH, OFFICE],
            credentials=creds,
            out_dir=str(tmp_path / folder),
        )

    same_folder, new_folder = plan("a"), plan("b")

    status = {(o.kind, o.person, str(o.keyword)): o.status for o in same_folder.outputs}
    assert status == {
        # The upload of the first run is cached: its one approved person is known.
        ("person", 0, str(OCEANIA)): "to pay",
        ("background", None, str(BEACH)): "delivered",
        ("background", None, str(OFFICE)): "to pay",
    }
    assert [o.status for o in new_folder.outputs if o.keyword == BEACH] == ["cached"]
    assert same_folder.credits_needed == 2 and same_folder.exact
    assert same_folder.balance == 2
    assert "needs 2 credits, the account has 2" in same_folder.line()
    after = piktid_emulator.stats(account.email)
    for endpoint in ("/edit/target", "/edit/background", "/edit/generate"):
        assert requests_to(after, endpoint) == requests_to(before, endpoint)


def test_plan_of_an_image_never_uploaded_cannot_know_its_persons(
    account_with, piktid_emulator, samples, tmp_path
) -> None:
    account, creds = account_with(1)

    unknown = plan_batch_variations(
        str(samples["group_of_three"]),
        person_keywords=[OCEANIA],
        credentials=creds,
        out_dir=str(tmp_path),
    )
    named = plan_batch_variations(
        str(samples["group_of_three"]),
        person_keywords=[OCEANIA],
        persons=[0, 2],
        credentials=creds,
        out_dir=str(tmp_path),
        max_credits=5,
    )

    assert [o.status for o in unknown.outputs] == ["persons unknown"]
    assert not unknown.exact and "needs at least 1 credits" in unknown.line()
    # Two named persons, one credit: the second one would be left out.
    assert [(o.person, o.status) for o in named.outputs] == [(0, "to pay"), (2, "left out")]
    assert "needs 2 credits, the account has 1" in named.line()
    stats = piktid_emulator.stats(account.email)
    assert requests_to(stats, "/edit/target") == 0
    assert requests_to(stats, "/me") == 2


def test_each_flows_plan_finds_the_outputs_that_flow_made(
    account_with, samples, tmp_path, time_scale
) -> None:
    from piktid_prefect.execution.plan import plan_edit_backgrounds, plan_generate_people
    from piktid_prefect.flows import generate_people

    _, creds = account_with(10)
    image = str(samples["astronaut"])
    generate_people(
        image=image,
        keywords=[OCEANIA],
        credentials=creds,
        out_dir=str(tmp_path / "a"),
        options={"strength": 0.7},
        timeout_seconds=600 * time_scale,
    )
    edit_backgrounds(
        image=image,
        keywords=[OFFICE],
        relight_strength=0.3,
        credentials=creds,
        out_dir=str(tmp_path / "a"),
        timeout_seconds=600 * time_scale,
    )

    people = plan_generate_people(
        image, [OCEANIA], credentials=creds, out_dir=str(tmp_path / "b"), options={"strength": 0.7}
    )
    other_strength = plan_generate_people(
        image, [OCEANIA], credentials=creds, out_dir=str(tmp_path / "b"), options={"strength": 0.2}
    )
    backgrounds = plan_edit_backgrounds(
        image, [OFFICE], relight_strength=0.3, credentials=creds, out_dir=str(tmp_path / "b")
    )

    assert [o.status for o in people.outputs] == ["cached"]
    assert [o.status for o in other_strength.outputs] == ["to pay"]  # another paid output
    assert [o.status for o in backgrounds.outputs] == ["cached"]


def test_a_prompt_only_person_run_is_planned_as_it_runs(
    account_with, samples, tmp_path, time_scale
) -> None:
    """No keyword, a prompt: the plan and the flow build the same outputs (one per person)."""
    from piktid_prefect.execution.plan import plan_generate_people
    from piktid_prefect.flows import generate_people

    _, creds = account_with(10)
    image = str(samples["astronaut"])
    prompt = "a woman in a red dress"
    before = plan_generate_people(image, prompt=prompt, credentials=creds, out_dir=str(tmp_path))
    generate_people(
        image=image,
        prompt=prompt,
        credentials=creds,
        out_dir=str(tmp_path),
        timeout_seconds=600 * time_scale,
    )
    after = plan_generate_people(image, prompt=prompt, credentials=creds, out_dir=str(tmp_path))
    batch = plan_batch_variations(
        image, person_prompt=prompt, credentials=creds, out_dir=str(tmp_path)
    )

    assert [(o.kind, o.status) for o in before.outputs] == [("person", "persons unknown")]
    assert [(o.person, o.status) for o in after.outputs] == [(0, "delivered")]
    assert [(o.person, o.status) for o in batch.outputs] == [(0, "delivered")]
