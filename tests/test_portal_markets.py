"""The market pages' plain functions: a form to a JSON body, a violation placed at its
field (by name or property IRI), and the eligibility matrix in words and symbols."""

from __future__ import annotations

from portal.forms import FormField
from portal.nodes import Answer
from portal.pages.eligibility import cell, matrix_rows
from portal.recordforms import body_of, field_of, place

FIELDS = (FormField("Name", "Name"), FormField("ConnectionMPAN", "MPAN"),
          FormField("SustainedDurationMinutes", "Duration", "number"),
          FormField("BMRegistered", "BM", "bool"))


def test_a_form_becomes_the_body_with_numbers_booleans_and_no_empty_fields() -> None:
    assert body_of(FIELDS, {"Name": " Site ", "ConnectionMPAN": "", "BMRegistered": "true",
                            "SustainedDurationMinutes": "30"}) == {
        "Name": "Site", "BMRegistered": True, "SustainedDurationMinutes": 30}
    # what does not parse is sent as typed, for the node to judge
    assert body_of(FIELDS, {"SustainedDurationMinutes": "half an hour"}) == {
        "SustainedDurationMinutes": "half an hour"}


def test_a_violation_is_placed_at_its_field_by_name_or_property_iri() -> None:
    names = {f.name for f in FIELDS}
    assert field_of("ConnectionMPAN", names) == "ConnectionMPAN"
    assert field_of("https://id.fmar.uk/def/fmar#connectionMPAN", names) == "ConnectionMPAN"
    assert field_of("fmar:name", names) == "Name"
    assert field_of("https://id.fmar.uk/def/fmar#unitType", names) is None
    answer = Answer(422, {"code": "MU-VAL", "message": "no", "details": {"violations": [
        {"rule": "MU-VAL-004", "path": "https://id.fmar.uk/def/fmar#connectionMPAN",
         "message": "13 digits"},
        {"rule": "MU-VAL-001", "path": "", "message": "a unit"}]}})
    by_field, other = place(answer, FIELDS)
    assert [v["rule"] for v in by_field["ConnectionMPAN"]] == ["MU-VAL-004"]
    assert [v["rule"] for v in other] == ["MU-VAL-001"]
    assert place(Answer(201, {}), FIELDS) == ({}, [])


def test_the_matrix_says_each_outcome_in_words_with_a_symbol() -> None:
    rows = matrix_rows({"products": ["DC", "QR", "BM"], "units": [{
        "unit_id": "u1", "products": [
            {"product_code": "DC", "outcome": "eligible"},
            {"product_code": "QR", "outcome": "cannot tell"}]}]})
    assert [(c["symbol"], c["words"]) for c in rows[0]["cells"]] == [
        ("✓", "Eligible"), ("?", "Cannot tell"), ("–", "No answer")]
    assert cell("not met") == {"symbol": "✗", "words": "Not met", "css": "not-met"}
