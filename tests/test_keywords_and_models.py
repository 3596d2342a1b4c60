"""The vocabularies and wire models agree with the PiktID docs."""

from __future__ import annotations

import json
import sys

import pytest

from piktid_prefect.wire.errors import InvalidKeyword, InvalidOptions
from piktid_prefect.wire.keywords import (
    BACKGROUND_KEYWORDS,
    LOCATIONS,
    keyword_slug,
    parse_keyword_text,
    validate_background_keyword,
    validate_person_keyword,
)
from piktid_prefect.wire.models import (
    BackgroundOptions,
    GenerationJob,
    Notification,
    PersonOptions,
    UploadResult,
)


def test_person_vocabulary_includes_central_africa_and_the_eight_documented() -> None:
    assert "Central Africa" in LOCATIONS
    assert len(LOCATIONS) == 9


def test_background_vocabulary_has_all_fourteen_categories() -> None:
    assert len(BACKGROUND_KEYWORDS) == 14
    assert BACKGROUND_KEYWORDS["weather_effects"] == (
        "Rain",
        "Fog",
        "Sunset",
        "Sunrise",
        "Fire",
        "Water",
        "Snow",
    )


def test_person_keyword_category_is_case_insensitive_and_canonicalised() -> None:
    assert validate_person_keyword({"location": "Oceania"}) == {"Location": "Oceania"}


@pytest.mark.parametrize(
    ("keyword", "fragment"),
    [
        ({"Location": "Atlantis"}, "valid values: Africa"),
        ({"Mood": "Oceania"}, "only one is 'Location'"),
        ({"Location": "Oceania", "x": "y"}, "exactly one"),
    ],
)
def test_bad_person_keyword_names_the_problem(keyword: dict[str, str], fragment: str) -> None:
    with pytest.raises(InvalidKeyword, match=fragment):
        validate_person_keyword(keyword)


def test_unknown_background_category_lists_the_valid_categories() -> None:
    with pytest.raises(InvalidKeyword, match="valid categories: indoor_spaces"):
        validate_background_keyword({"space": "Moon"})
    with pytest.raises(InvalidKeyword, match="valid values: Beach"):
        validate_background_keyword({"nature_landscapes": "Moon"})


def test_keyword_text_form_and_slug() -> None:
    assert parse_keyword_text("Location=East Asia") == {"Location": "East Asia"}
    assert keyword_slug({"Location": "East Asia"}) == "Location-East_Asia"
    with pytest.raises(InvalidKeyword, match="category=value"):
        parse_keyword_text("Oceania")


def test_upload_answer_accepts_id_image_or_image_id() -> None:
    for key in ("id_image", "image_id"):
        result = UploadResult.model_validate(
            {key: "abc", "coordinates_list": [{"id": 0, "approve": True, "boxWidth": 0.3}]}
        )
        assert result.image_id == "abc"
        assert result.persons[0].box_width == 0.3


def test_options_travel_as_json_strings_and_are_range_checked() -> None:
    assert json.loads(BackgroundOptions(relight_strength=0.5, seed=7).to_wire()) == {
        "relight_strength": 0.5,
        "seed": 7,
    }
    with pytest.raises(InvalidOptions, match="relight_strength"):
        BackgroundOptions.coerce({"relight_strength": 1.5})
    with pytest.raises(InvalidOptions, match="controlnet_scale"):
        PersonOptions.coerce({"controlnet_scale": 2.5})


def test_notification_matches_only_its_own_job() -> None:
    job = GenerationJob(kind="person", image_id="img", person_id=1, keyword={"Location": "Oceania"})
    mine = Notification(
        id=1,
        name="edit_generate",
        data={"address": "img", "id_person": 1, "keyword": '{"location": "Oceania"}'},
    )
    other_person = Notification(id=2, name="edit_generate", data={"address": "img", "id_person": 0})
    other_image = Notification(id=3, name="edit_generate", data={"address": "x", "id_person": 1})
    background = Notification(id=4, name="edit_background", data={"address": "img"})
    assert job.matches(mine)
    assert not job.matches(other_person)
    assert not job.matches(other_image)
    assert not job.matches(background)


def test_wire_layer_does_not_import_prefect() -> None:
    import subprocess

    code = "import sys, piktid_prefect.wire.models; print('prefect' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
