"""The PiktID keyword vocabularies and their validation.

A keyword is one ``{category: value}`` pair. Person generation uses the single category
``Location`` (the wire also accepts ``location``); background edits use 14 categories.
Values are case-sensitive, "exactly as written" in the PiktID docs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, get_args

from piktid_prefect.wire.errors import InvalidKeyword

__all__ = [
    "BACKGROUND_KEYWORDS",
    "LOCATIONS",
    "PERSON_CATEGORY",
    "BackgroundCategory",
    "Location",
    "keyword_slug",
    "parse_keyword_text",
    "validate_background_keyword",
    "validate_person_keyword",
]

Location = Literal[
    "Africa",
    "Central Africa",
    "East Asia",
    "Middle East",
    "North America",
    "North Europe",
    "Oceania",
    "South America",
    "South Europe",
]
LOCATIONS: tuple[str, ...] = get_args(Location)
PERSON_CATEGORY = "Location"

BackgroundCategory = Literal[
    "indoor_spaces",
    "outdoor_spaces",
    "weather_effects",
    "nature_landscapes",
    "seasonal",
    "special_occasions",
    "architectural",
    "professional_business",
    "transportation",
    "materials_textures",
    "artistic_stylized",
    "colors_gradients",
    "entertainment",
    "florals",
]

BACKGROUND_KEYWORDS: Mapping[str, tuple[str, ...]] = {
    "indoor_spaces": (
        "Studio",
        "Living Room",
        "Kitchen",
        "Bathroom",
        "Bedroom",
        "Office",
        "Cafe",
        "Gym",
        "Library",
    ),
    "outdoor_spaces": ("Street", "Rooftop", "Pool", "Courtyard", "Balcony", "Skyscraper"),
    "weather_effects": ("Rain", "Fog", "Sunset", "Sunrise", "Fire", "Water", "Snow"),
    "nature_landscapes": (
        "Beach",
        "Forest",
        "Mountains",
        "Desert",
        "Lake",
        "Garden",
        "Tropical",
        "Sky",
    ),
    "seasonal": ("Spring", "Summer", "Autumn", "Winter"),
    "special_occasions": ("Christmas", "Halloween", "Easter", "Wedding", "Birthday"),
    "architectural": ("Modern", "Industrial", "Classic", "Futuristic"),
    "professional_business": ("Corporate", "Medical", "Conference"),
    "transportation": ("Car", "Airplane", "Train"),
    "materials_textures": ("Silk", "Wood", "Marble", "Stone", "Metal", "Leather", "Paper", "Gold"),
    "artistic_stylized": ("Paint", "Graffiti", "Abstract", "Vintage", "Minimalist"),
    "colors_gradients": ("Solid", "Gradients", "Ombre"),
    "entertainment": ("Cinema", "Concert", "Night"),
    "florals": ("Roses", "Lavender", "Flowers", "Leaves"),
}
assert set(BACKGROUND_KEYWORDS) == set(get_args(BackgroundCategory))


def _single_pair(keyword: Mapping[str, str], kind: str) -> tuple[str, str]:
    if not isinstance(keyword, Mapping) or len(keyword) != 1:
        raise InvalidKeyword(
            f"A {kind} keyword is exactly one {{category: value}} pair, got {keyword!r}"
        )
    ((category, value),) = keyword.items()
    if not isinstance(category, str) or not isinstance(value, str):
        raise InvalidKeyword(f"A {kind} keyword maps a text category to a text value: {keyword!r}")
    return category, value


def validate_person_keyword(keyword: Mapping[str, str]) -> dict[str, str]:
    """Return the canonical ``{"Location": value}`` or raise :class:`InvalidKeyword`."""
    category, value = _single_pair(keyword, "person")
    if category.lower() != PERSON_CATEGORY.lower():
        raise InvalidKeyword(
            f"Unknown person keyword category {category!r}; the only one is {PERSON_CATEGORY!r}"
        )
    if value not in LOCATIONS:
        raise InvalidKeyword(f"Unknown Location {value!r}; valid values: {', '.join(LOCATIONS)}")
    return {PERSON_CATEGORY: value}


def validate_background_keyword(keyword: Mapping[str, str]) -> dict[str, str]:
    """Return the keyword unchanged if it is in the background vocabulary, else raise."""
    category, value = _single_pair(keyword, "background")
    values = BACKGROUND_KEYWORDS.get(category)
    if values is None:
        raise InvalidKeyword(
            f"Unknown background keyword category {category!r}; "
            f"valid categories: {', '.join(BACKGROUND_KEYWORDS)}"
        )
    if value not in values:
        raise InvalidKeyword(
            f"Unknown value {value!r} for background category {category!r}; "
            f"valid values: {', '.join(values)}"
        )
    return {category: value}


def parse_keyword_text(text: str) -> dict[str, str]:
    """Parse the command-line form ``category=value`` (e.g. ``Location=Oceania``)."""
    category, sep, value = text.partition("=")
    if not sep or not category.strip() or not value.strip():
        raise InvalidKeyword(
            f"Keyword {text!r} is not of the form category=value (e.g. Location=Oceania)"
        )
    return {category.strip(): value.strip()}


def keyword_slug(keyword: Mapping[str, str]) -> str:
    """A file-name-safe keyword: ``{"Location": "East Asia"}`` -> ``Location-East_Asia``."""
    return "-".join(
        f"{category}-{value}".replace(" ", "_").replace("/", "_")
        for category, value in keyword.items()
    )
