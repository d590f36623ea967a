"""Generate docs/rules.md, the catalogue of every rule ID, from the shapes and the tests.

The SHACL part (ARM-VAL core, ARM-CAT per category) is read from shapes/asset.ttl
and shapes/categories/*.ttl, and the tests named for each rule from the corpus in
tests/test_rules.py, so the catalogue cannot drift: tests/test_rules.py fails when
docs/rules.md is not what this script writes. The other families are listed here.

    .venv/bin/python -m tests.rule_catalogue          # rewrite docs/rules.md
    .venv/bin/python -m tests.rule_catalogue --check  # exit 1 if it is stale
"""

from __future__ import annotations

import re
import sys
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rdflib import Graph
from rdflib.term import Node

from common.vocab import FMAR, SH, SHAPES_DIR

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "rules.md"

SHACL_ERROR = "422 `ARM-VAL`¹"
RECORDS = "node/kinds/asset_records.py"
LIMITS_TEST = "tests/test_connection_limits.py"
RULES_TEST = "tests/test_rules.py"
API_TEST = "tests/test_api.py"
PORTAL_PAGES_TEST = "tests/browser/test_portal_pages.py"
PORTAL_RULES_TEST = "tests/test_portal_rules.py"
INPUT_TEST = "tests/test_inputs.py"
CODES_TEST = "tests/test_codes.py"
ERRORS_TEST = "tests/test_errors.py"
CONTRACT_TEST = "tests/test_contract.py"
RECORDS_TEST = "tests/test_records.py"
INDEX_TEST = "tests/test_listing_index.py"
FILTER_INDEX_TEST = "tests/test_filter_index.py"
PRODUCTS_TEST = "tests/test_products.py"
EVENTS_TEST = "tests/test_events.py"
EVENTS_PROCESS_TEST = "tests/test_events_process.py"
UNITS_TEST = "tests/test_market_units.py"

# Constraint parameters worth naming in the "checks" column.
_KEYS = {
    SH.minCount: "minCount", SH.maxCount: "maxCount", SH.datatype: "datatype",
    SH.nodeKind: "nodeKind", SH.pattern: "pattern", SH.minLength: "minLength",
    SH.maxLength: "maxLength", SH.minInclusive: "minInclusive", SH.minExclusive: "minExclusive",
    SH.maxInclusive: "maxInclusive", SH["in"]: "in", SH.hasValue: "hasValue",
    SH.lessThan: "lessThan", SH.lessThanOrEquals: "lessThanOrEquals",
}


@dataclass
class Rule:
    rule: str
    checks: str
    where: str
    error: str
    tests: str


def _local(term: Node | None) -> str:
    return re.split(r"[#/]", str(term))[-1] if term is not None else ""


def _constraint_summary(graph: Graph, shape: Node) -> str:
    if (shape, SH.select, None) in graph:
        return "SPARQL constraint"
    parts = []
    for key, name in _KEYS.items():
        value = graph.value(shape, key)
        if value is None:
            continue
        if name == "in":
            parts.append("in (closed list)")
        elif name in ("minCount", "maxCount", "minLength", "maxLength", "minInclusive",
                      "minExclusive", "maxInclusive"):
            parts.append(f"{name} {value}")
        elif name == "pattern":
            parts.append("pattern")
        else:
            parts.append(f"{name} {_local(value)}")
    path = _local(graph.value(shape, SH.path))
    return f"`{path}`: " + ", ".join(parts)


def _shape_rules() -> dict[str, list[tuple[str, str, str]]]:
    """rule ID -> [(file, message, constraint summary)] for every shape carrying a rule ID."""
    found: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    files = [SHAPES_DIR / "asset.ttl", *sorted((SHAPES_DIR / "categories").glob("*.ttl")),
             *(SHAPES_DIR / f.shapes for f in KIND_FAMILIES)]
    for path in files:
        graph = Graph().parse(path)
        for shape, rule in graph.subject_objects(FMAR.ruleId):
            message = str(graph.value(shape, SH.message) or "")
            message = re.sub(r"^\[[A-Z0-9-]+\]\s*", "", message)
            found[str(rule)].append(
                (str(path.relative_to(ROOT)), message, _constraint_summary(graph, shape))
            )
    return found


def _corpus_tests() -> dict[str, list[str]]:
    from tests.test_rules import CASES

    tests: dict[str, list[str]] = defaultdict(list)
    for case in CASES:
        tests[case.rule].append(f"{RULES_TEST}::test_rule[{case.id}]")
    return tests


def _test_cell(names: list[str]) -> str:
    bad = [n for n in names if "-bad-" in n]
    ok = [n for n in names if "-ok-" in n]
    shown = bad[:1] + ok[:1]
    more = len(names) - len(shown)
    cell = "<br>".join(f"`{n}`" for n in shown)
    if more > 0:
        rule = re.sub(r"-(bad|ok)-.*$", "", names[0].split("[", 1)[1])
        cell += f"<br>(+{more} more: `pytest -k {rule}`)"
    return cell


def _sort_key(rule: str) -> tuple[str, int]:
    head, _, tail = rule.rpartition("-")
    return (head, int(tail) if tail.isdigit() else 0)


_UNIT_SHAPE_TESTS = {
    **{f"MU-VAL-{n:03d}": "test_MU_VAL_001_to_010_unit_shapes" for n in range(1, 11)},
    **{f"MU-VAL-{n:03d}": "test_MU_VAL_011_to_015_the_unit_states_its_capability"
       for n in range(11, 16)},
    **{f"MU-VAL-{n:03d}": "test_MU_VAL_021_to_025_membership_shapes" for n in range(21, 26)},
    "MU-VAL-020": "test_MU_VAL_020_and_022_the_node_sets_unit_and_organisation",
    "MU-VAL-022": "test_MU_VAL_020_and_022_the_node_sets_unit_and_organisation",
}


def shacl_rules() -> tuple[list[Rule], dict[str, list[Rule]]]:
    """(ARM-VAL rules, {category file: ARM-CAT rules}), from the shapes."""
    shapes = _shape_rules()
    tests = _corpus_tests()
    for family in KIND_FAMILIES:
        family.shape_rules.clear()
    core: list[Rule] = []
    categories: dict[str, list[Rule]] = defaultdict(list)
    for rule in sorted(shapes, key=_sort_key):
        entries = shapes[rule]
        where = ", ".join(sorted({f"`{f}`" for f, _, _ in entries}))
        checks = "<br>".join(
            f"{msg} ({summary})" for _, msg, summary in entries
        )
        item = Rule(rule, checks, where, SHACL_ERROR, _test_cell(tests.get(rule, [])))
        if rule.startswith("ARM-CAT-"):
            categories[entries[0][0]].append(item)
        elif family := next((f for f in KIND_FAMILIES if rule.startswith(f.prefix)), None):
            umbrella = family.umbrella(rule) if callable(family.umbrella) else family.umbrella
            item.error = f"422 `{umbrella}`"
            item.tests = _t(family.test_file, family.shape_test(rule))
            family.shape_rules.append(item)
        else:
            core.append(item)
    for rule, checks in (
        ("ARM-VAL-029", ("AssetCategory is a code of this node's category catalogue "
                        "(`category_violations`).")),
        ("ARM-VAL-030", ("A deprecated category takes no new registrations; assets already "
                        "registered in it stay valid on update (`category_violations`).")),
    ):
        core.append(Rule(rule, checks, f"`{RECORDS}`", SHACL_ERROR,
                         _test_cell(tests.get(rule, []))))
    return core, dict(categories)


def _t(file: str, *names: str) -> str:
    return "<br>".join(f"`{file}::{n}`" for n in names)


INPUT_RULES = [
    Rule("ARM-IN-001", "An asset (or a merge patch) is a JSON object.",
         "`node/inputs.py` `properties_from_json`; `node/api/assets.py` (PATCH)", "400 `ARM-IN-001`",
         _t(INPUT_TEST, "test_ARM_IN_001_bad_not_an_object", "test_ARM_IN_001_ok_object")),
    Rule("ARM-IN-002", "Only Elexon field names (JSON/CSV) or asset properties (RDF); one plain "
         "value per field, not a list or object.", "`node/inputs.py`", "400 `ARM-IN-002`",
         _t(INPUT_TEST, "test_ARM_IN_002_bad_unknown_field_lists_them_all",
            "test_ARM_IN_002_bad_unknown_predicate_in_turtle")),
    Rule("ARM-IN-003", "Fields the node keeps (AssetId, RegistrationStatus, ValidationStatus, "
         "ValidationReason, Version, Created, Modified) are not sent (AssetId allowed on PUT).",
         "`node/inputs.py`", "400 `ARM-IN-003`",
         _t(INPUT_TEST, "test_ARM_IN_003_bad_state_field_sent",
            "test_ARM_IN_003_ok_asset_id_allowed_on_replace")),
    Rule("ARM-IN-004", "A single-asset RDF body has exactly one `fmar:Asset`; a bulk one at least one.",
         "`node/inputs.py` `properties_from_graph`", "400 `ARM-IN-004`",
         _t(INPUT_TEST, "test_ARM_IN_004_bad_turtle_with_two_assets",
            "test_ARM_IN_004_ok_bulk_turtle_takes_many")),
    Rule("ARM-IN-005", "An RDF body holds only triples about the asset(s); values are IRIs or "
         "literals, not blank nodes.", "`node/inputs.py`", "400 `ARM-IN-005`",
         _t(INPUT_TEST, "test_ARM_IN_005_bad_turtle_with_other_subjects",
            "test_ARM_IN_005_bad_blank_node_value")),
    Rule("ARM-IN-006", "Turtle / JSON-LD is well formed (UTF-8).", "`node/inputs.py` `parse_rdf`",
         "400 `ARM-IN-006`", _t(INPUT_TEST, "test_ARM_IN_006_bad_malformed_turtle",
                                "test_ARM_IN_006_ok_well_formed_turtle")),
    Rule("ARM-IN-007", "JSON-LD may reference only the node's published `/context.jsonld` "
         "(inlined, never fetched) or inline contexts.", "`node/inputs.py` `_inline_context`",
         "400 `ARM-IN-007`", _t(INPUT_TEST, "test_ARM_IN_007_bad_remote_context_refused",
                                "test_ARM_IN_007_ok_published_context_is_inlined")),
    Rule("ARM-IN-008", "A JSON / JSON-LD body, or an NDJSON line (then a row error), is valid JSON.",
         "`node/inputs.py` `read_json`, `rows_from_ndjson`", "400 `ARM-IN-008` (bulk: row error)",
         _t(INPUT_TEST, "test_ARM_IN_008_bad_json", "test_ARM_IN_008_bad_ndjson_line_is_a_row_error")),
    Rule("ARM-IN-009", "A CSV has a header of Elexon field names; every row has as many cells "
         "as the header (else a row error).", "`node/inputs.py` `rows_from_csv`",
         "400 `ARM-IN-009` (bad row: row error)",
         _t(INPUT_TEST, "test_ARM_IN_009_bad_csv_header_unknown_field",
            "test_ARM_IN_009_bad_csv_row_with_wrong_cell_count")),
    Rule("ARM-IN-010", "Search / export filter values are codes of letters, digits, `-`, `_`, `.`.",
         "`node/kinds/assets.py` `_safe_id`", "400 `ARM-IN-010`",
         _t(INPUT_TEST, "test_ARM_IN_010_bad_filter_value")
         + "<br>" + _t(API_TEST, "test_search_refuses_injection_in_filters")),
    Rule("ARM-IN-011", "Text is valid Unicode (no lone surrogates); emoji and every other "
         "character are kept as sent.", "`node/ntriples.py` `string`", "400 `ARM-IN-011`",
         _t(INPUT_TEST, "test_ARM_IN_011_bad_lone_surrogate")
         + "<br>" + _t(API_TEST, "test_text_beyond_the_basic_plane_round_trips")),
    Rule("ARM-IN-012", "CSV and NDJSON bodies are UTF-8 lines of at most 1 MB (a store-valid "
         "upload that stops reports the rows already stored).", "`node/inputs.py` `_lines`",
         "400 `ARM-IN-012`", _t(INPUT_TEST, "test_ARM_IN_012_bad_csv_not_utf8",
                                "test_ARM_IN_012_bad_line_too_long",
                                "test_ARM_IN_012_ok_lines_split_across_chunks")
         + "<br>" + _t(API_TEST, "test_store_valid_upload_that_stops_reports_what_was_stored")),
]

CATDEF_RULES = [
    Rule("CAT-DEF-001", "A category definition holds exactly one `fmar:AssetCategory`.",
         "`node/kinds/categories.py` `category_from_graph`", "422 `CAT-DEF-001`",
         _t(RULES_TEST, "test_CAT_DEF_bad[CAT-DEF-001-two-concepts]")
         + "<br>" + _t(API_TEST, "test_malformed_category_definitions")),
    Rule("CAT-DEF-002", "The code (`skos:notation`) is 1-40 capitals, digits or `_`, the concept "
         "IRI is `…/AssetCategory/{code}`, and a PUT body's code matches the URL.",
         "`node/kinds/categories.py` `category_from_graph`, `Categories.save`", "422 `CAT-DEF-002`",
         _t(RULES_TEST, "test_CAT_DEF_bad[CAT-DEF-002-lower-case-code]")),
    Rule("CAT-DEF-003", "`fmar:categoryShape` names a node shape that targets the category "
         "(`sh:targetClass`).", "`node/kinds/categories.py`", "422 `CAT-DEF-003`",
         _t(RULES_TEST, "test_CAT_DEF_bad[CAT-DEF-003-wrong-target]")),
    Rule("CAT-DEF-004", "Every property shape of the category shape carries `fmar:ruleId`.",
         "`node/kinds/categories.py`", "422 `CAT-DEF-004`",
         _t(RULES_TEST, "test_CAT_DEF_bad[CAT-DEF-004-no-rule-id]", "test_CAT_DEF_ok_valid_definition")),
    Rule("CAT-DEF-005", "The category shape compiles together with the node's shapes, and "
         "every `sh:pattern` is a regular expression SPARQL's REGEX can run.",
         "`node/kinds/categories.py` `_check_shape_compiles`, `node/validation.py` `_check_pattern`",
         "422 `CAT-DEF-005`", _t(RULES_TEST, "test_CAT_DEF_005_bad_sparql_constraint",
                                 "test_CAT_DEF_005_bad_pattern",
                                 "test_CAT_DEF_005_bad_pattern_sparql_cannot_run",
                                 "test_CAT_DEF_005_ok_valid_shape_is_saved")),
    Rule("CAT-DEF-006", "A definition holds only its concept, its node shape and their blank "
         "nodes: it cannot change the core shape or another category.",
         "`node/kinds/categories.py` `_check_only_own_triples`", "422 `CAT-DEF-006`",
         _t(RULES_TEST, "test_CAT_DEF_006_bad_definition_touching_other_shapes")),
    Rule("CAT-DEF-090", "`POST /categories/{code}/check` runs every check of a save "
         "(CAT-DEF-001..006 and the right to save, POL-005) on a candidate definition and "
         "stores nothing: the portal's check before saving.",
         "`node/kinds/categories.py` `Categories.check`, `node/api/categories.py`",
         "200 `{\"valid\": true, \"rule\": \"CAT-DEF-090\"}`, or the save's error",
         _t(RULES_TEST, "test_CAT_DEF_090_ok_check_passes_and_stores_nothing",
            "test_CAT_DEF_090_bad_check_gives_the_save_rule_ids") + "<br>" +
         _t(API_TEST, "test_CAT_DEF_090_check_route_then_CAT_DEF_091_save_with_if_match") +
         "<br>" +
         _t(PORTAL_PAGES_TEST, "test_CAT_DEF_090_the_facilitator_checks_a_shape_before_saving_it")),
    Rule("CAT-DEF-091", "A PUT with `If-Match` saves only over the version read (the "
         "category's ETag `\"{code}.v{version}\"`); without it the PUT is unconditional, as before.",
         "`node/kinds/categories.py` `Categories.save`", "412 `CAT-DEF-091`",
         _t(RULES_TEST, "test_CAT_DEF_091_bad_stale_if_match_is_refused") + "<br>" +
         _t(API_TEST, "test_CAT_DEF_090_check_route_then_CAT_DEF_091_save_with_if_match") +
         "<br>" +
         _t(PORTAL_PAGES_TEST, "test_CAT_DEF_091_a_stale_category_save_is_refused_in_the_portal")),
    Rule("CAT-404", "The category exists (GET, PUT, deprecate).", "`node/kinds/categories.py`, "
         "`node/api/categories.py`", "404 `CAT-404`", _t(API_TEST, "test_categories_managed_at_run_time")),
    Rule("CAT-409", "POST does not overwrite an existing category (use PUT).", "`node/kinds/categories.py`",
         "409 `CAT-409`", _t(API_TEST, "test_categories_managed_at_run_time")),
]

LIMIT_RULES = [
    Rule("LIM-IN-001", "A connection limit (and each band of its TimeProfile) is a JSON object.",
         "`node/inputs.py` `properties_from_json`", "400 `LIM-IN-001`",
         _t(LIMITS_TEST, "test_LIM_IN_unreadable_limits_are_400",
            "test_LIM_IN_001_a_limit_is_a_json_object")),
    Rule("LIM-IN-002", "Only the limit's field names (AssetId, MPAN, Site, OrganisationId, "
         "DNOConnection, LimitType, ExportLimit, ImportLimit, ConstraintZone, ANMScheme, "
         "CurtailmentOrder, ValidFrom, ValidTo, Reason, TimeProfile), one plain value each; "
         "a band's names are Season, From, To, ImportLimit, ExportLimit.", "`node/inputs.py`",
         "400 `LIM-IN-002`", _t(LIMITS_TEST, "test_LIM_IN_unreadable_limits_are_400")),
    Rule("LIM-IN-003", "Fields the node keeps (LimitId, SetBy, Version, Created, Modified) are "
         "not sent (LimitId allowed on PUT).", "`node/inputs.py`", "400 `LIM-IN-003`",
         _t(LIMITS_TEST, "test_LIM_IN_unreadable_limits_are_400")),
    Rule("LIM-IN-004", "TimeProfile is a list of at most 48 time bands (in a CSV cell: that "
         "list as JSON text).", "`node/kinds/connection_limits.py` `limit_input`",
         "400 `LIM-IN-004` (a row error in a bulk import)",
         _t(LIMITS_TEST, "test_LIM_IN_unreadable_limits_are_400",
            "test_LIM_BULK_a_bad_row_stores_nothing_and_names_its_row_and_rule")),
    Rule("LIM-IN-009", "A book of limits (CSV) has a header of limit field names (and "
         "TimeProfile); each row as many cells as the header (else a row error).",
         "`node/inputs.py` `rows_from_csv`", "400 `LIM-IN-009`",
         _t(LIMITS_TEST, "test_LIM_IN_009_the_csv_header_names_limit_fields")),
    Rule("LIM-IN-013", "A book of limits has at most 20,000 rows (it is checked in memory); "
         "the body is also within the node's bulk size limit (REQ-413).",
         "`node/kinds/limit_import.py`", "400 `LIM-IN-013`",
         _t(LIMITS_TEST, "test_LIM_IN_013_a_book_has_at_most_the_row_limit",
            "test_an_oversized_book_is_refused_while_it_streams")),
    Rule("LIM-VAL", "Umbrella code of a limit refused by its shape; `details.violations` lists "
         "every rule ID.", "`node/records/refusals.py` `refusal`", "422 `LIM-VAL`",
         _t(LIMITS_TEST, "test_GICM_VAL_rules_refuse_a_malformed_limit")),
    Rule("LIM-BULK", "Umbrella code of a book import with failing rows; `details.errors` names "
         "each failing row and its rules (LIM-IN-*, GICM-VAL-*, POL-008); all-or-nothing "
         "stores nothing (422), store-valid stores the other rows (207).",
         "`node/kinds/limit_import.py`, `node/api/connection_limits.py`",
         "422 or 207 `LIM-BULK`",
         _t(LIMITS_TEST, "test_LIM_BULK_a_bad_row_stores_nothing_and_names_its_row_and_rule",
            "test_LIM_BULK_store_valid_keeps_the_good_rows")),
    Rule("LIM-404", "The limit exists and the caller may read it (POL-003, as assets).",
         "`node/records/refusals.py` `not_found`, `node/policy.py` `authorise`", "404 `LIM-404`",
         _t(LIMITS_TEST, "test_a_dno_sets_a_limit_that_the_asset_holder_the_dno_and_neso_read",
            "test_another_fsp_cannot_read_change_or_remove_a_limit")),
    Rule("LIM-412", "`If-Match` equals the limit's current ETag.",
         "`node/records/unit.py` `check_version`", "412 `LIM-412`",
         _t(LIMITS_TEST, "test_changes_need_the_current_version_and_keep_history_and_audit")),
    Rule("LIM-428", "PUT carries `If-Match`.", "`node/records/unit.py` `check_version`",
         "428 `LIM-428`",
         _t(LIMITS_TEST, "test_changes_need_the_current_version_and_keep_history_and_audit")),
]


PRODUCT_RULES = [
    Rule("PROD-IN-001", "A product is a JSON object.", "`node/inputs.py` `properties_from_json`",
         "400 `PROD-IN-001`", _t(PRODUCTS_TEST, "test_PROD_IN_001_a_product_is_an_object")),
    Rule("PROD-IN-002", "Only the product's field names, one plain value each.",
         "`node/inputs.py`", "400 `PROD-IN-002`",
         _t(PRODUCTS_TEST, "test_PROD_IN_unreadable_products_are_400")),
    Rule("PROD-IN-003", "Fields the node keeps (ProductVersionId, Product, SetBy, Version, "
         "Created, Modified) are not sent.", "`node/inputs.py`", "400 `PROD-IN-003`",
         _t(PRODUCTS_TEST, "test_PROD_IN_unreadable_products_are_400")),
    Rule("PROD-VAL-020", "The versions of one product cover days that do not overlap; the "
         "refusal names the version it overlaps.", "`node/kinds/products.py` `Products.check`",
         "409 `PROD-VAL-020`",
         _t(PRODUCTS_TEST, "test_PROD_VAL_020_versions_of_a_product_do_not_overlap_and_the_day_picks_the_terms")),
    Rule("PROD-VAL", "Umbrella code of a product refused by its shape; `details.violations` "
         "lists every rule ID.", "`node/records/refusals.py` `refusal`", "422 `PROD-VAL`",
         _t(PRODUCTS_TEST, "test_PROD_VAL_rules_refuse_a_malformed_product")),
    Rule("PROD-404", "The product version exists; `/products/in-force` finds active terms "
         "for the code on the day.", "`node/records/kind.py` `not_found`", "404 `PROD-404`",
         _t(PRODUCTS_TEST, "test_PROD_VAL_020_versions_of_a_product_do_not_overlap_and_the_day_picks_the_terms")),
    Rule("PROD-412", "`If-Match` equals the version's current ETag.",
         "`node/records/unit.py` `check_version`", "412 `PROD-412`",
         _t(PRODUCTS_TEST, "test_POL_010_a_system_operator_proposes_and_only_the_facilitator_approves")),
    Rule("PROD-428", "Changes (PUT, approve, retire) carry `If-Match`.",
         "`node/records/unit.py` `check_version`", "428 `PROD-428`",
         _t(PRODUCTS_TEST, "test_POL_010_a_system_operator_proposes_and_only_the_facilitator_approves")),
]

ELIGIBILITY_TEST = "tests/test_eligibility.py"
EQUIVALENCE_RULES = [
    Rule("EQV-VAL-005", "An equivalence names two products in the register (some version of "
         "each).", "`node/kinds/equivalences.py` `Equivalences.check`", "422 `EQV-VAL-005`",
         _t(ELIGIBILITY_TEST, "test_EQV_VAL_005_an_equivalence_names_products_in_the_register")),
    Rule("EQV-VAL", "Umbrella code of an equivalence refused by its shape.",
         "`node/records/refusals.py` `refusal`", "422 `EQV-VAL`",
         _t(ELIGIBILITY_TEST, "test_EQV_VAL_rules_refuse_a_malformed_equivalence")),
]
_ELIG = [
    ("ELIG-001", ("The unit's capability in the product's direction (up, down, or both) is at "
     "least the product's MinCapacityMW, after connection limits.")),
    ("ELIG-002", "The unit reaches full delivery within the product's FullDeliveryTimeSeconds."),
    ("ELIG-003", "The unit sustains full power for at least the product's MinDurationMinutes."),
    ("ELIG-004", "The unit delivers the product's Direction (Both covers Up and Down)."),
    ("ELIG-005", "A product that allows no aggregation takes a unit of one asset."),
    ("ELIG-006", ("The unit's members lie within the product's LocationScope: one GSP group, "
     "one licence area or one constraint zone.")),
    ("ELIG-007", ("A product that requires BM registration takes a unit registered in the "
     "Balancing Mechanism.")),
]
ELIGIBILITY_RULES = [
    Rule(rule, text + " Unit's value missing: the answer is `cannot tell` and names the "
         "attribute to add.", "`node/kinds/eligibility.py` `requirements` (a SHACL shape "
         "generated from the product version)", "answer `not met` / `cannot tell`",
         _t(ELIGIBILITY_TEST, f"test_ELIG_each_requirement_is_met_not_met_or_cannot_tell[{rule}]"))
    for rule, text in _ELIG
]


@dataclass
class KindFamily:
    """A record kind's section: its shape rules (read from its shapes file) and the rest."""

    prefix: str  # of its shape rule IDs: "LIM-"
    shapes: str  # its shapes file, under shapes/
    umbrella: str | Callable[[str], str]  # the code of a shape refusal: "LIM-VAL"
    test_file: str
    shape_test: Callable[[str], str]  # rule ID -> the test that exercises it
    title: str
    intro: str
    rules: list[Rule]
    shape_rules: list[Rule] = field(default_factory=list)  # filled by shacl_rules


KIND_FAMILIES = [
    KindFamily("GICM-VAL-", "connection_limit.ttl", "LIM-VAL", LIMITS_TEST,
               lambda rule: "test_GICM_VAL_rules_refuse_a_malformed_limit"
               if rule != "GICM-VAL-006" else "test_GICM_VAL_006_the_setter_is_kept_by_the_node",
               "## GICM-VAL and LIM: connection limits\n",
               "The third record kind (`node/kinds/connection_limits.py`, shapes in "
               "`shapes/connection_limit.ttl`: GICM-VAL-nnn, grid connection limit "
               "validation), held on the DNO's node; written by a DNO or IDNO (POL-008), one "
               "at a time or as a CSV book (`node/kinds/limit_import.py`), read as assets are "
               "(POL-003). Error codes keep the kind's family: LIM-IN-*, LIM-VAL, LIM-BULK, "
               "LIM-404/412/428.\n", LIMIT_RULES),
    KindFamily("PROD-VAL-0", "product.ttl", "PROD-VAL", PRODUCTS_TEST,
               lambda rule: "test_PROD_VAL_rules_refuse_a_malformed_product",
               "## PROD: products\n",
               "Product versions (`node/kinds/products.py`, shapes in `shapes/product.ttl`), "
               "held on the market facilitator's node and read by every member; a system "
               "operator proposes the products it runs, the facilitator approves (POL-009, "
               "POL-010). Figures not known stay absent.\n", PRODUCT_RULES),
    KindFamily("EQV-VAL-0", "product_equivalence.ttl", "EQV-VAL", ELIGIBILITY_TEST,
               lambda rule: "test_EQV_VAL_rules_refuse_a_malformed_equivalence",
               "## EQV: product equivalences\n",
               "Equivalences (`node/kinds/equivalences.py`, shapes in "
               "`shapes/product_equivalence.ttl`), held on the market facilitator's node and "
               "managed by it only (POL-050); read by every member.\n", EQUIVALENCE_RULES),
]
UNITS_KIND = "`node/kinds/market_unit_members.py` `Memberships.check`"
UNIT_RULES = [
    Rule("MU-VAL-030", "A membership names a market unit held on this node.", UNITS_KIND,
         "422 `MU-VAL-030`", _t(UNITS_TEST, "test_MU_VAL_030_a_membership_names_a_unit_on_this_node")),
    Rule("MU-VAL-031", "Members are assets of the unit's FSP held on this node (another FSP's "
         "asset and an unknown ID get the same answer).", UNITS_KIND, "422 `MU-VAL-031`",
         _t(UNITS_TEST, "test_MU_VAL_031_another_fsps_asset_cannot_join")),
    Rule("MU-VAL-032", "A de-registered asset does not join a unit.", UNITS_KIND,
         "422 `MU-VAL-032`", _t(UNITS_TEST, "test_MU_VAL_032_a_deregistered_asset_cannot_join")),
    Rule("MU-VAL-033", "An asset whose validation status is Query does not join a unit.",
         UNITS_KIND, "422 `MU-VAL-033`",
         _t(UNITS_TEST, "test_MU_VAL_033_an_asset_in_query_cannot_join")),
    Rule("MU-VAL-034", "An asset is in at most one unit at any time: memberships of one asset "
         "do not overlap; the refusal names the other unit.", UNITS_KIND, "409 `MU-VAL-034`",
         _t(UNITS_TEST, "test_MU_VAL_034_an_asset_is_in_one_unit_at_a_time")),
    Rule("MU-VAL-035", "An SPU's members are metered at its ConnectionMPAN (import or export), "
         "or state its SitePostcode.", "`node/kinds/market_unit_capability.py` "
         "`Placement.misfit`", "422 `MU-VAL-035`",
         _t(UNITS_TEST, "test_MU_VAL_035_an_spu_s_members_share_its_connection_point")),
    Rule("MU-VAL-036", "An SPG's members share its location scope: its GSP group, or its "
         "licence area (DNOArea, ConstraintZone).", "`node/kinds/market_unit_capability.py` "
         "`Placement.misfit`", "422 `MU-VAL-036`",
         _t(UNITS_TEST, "test_MU_VAL_036_an_spg_s_members_share_its_location_scope")),
    Rule("MU-VAL-037", "A change of a unit's type, connection point or scope still fits every "
         "member in force today or later.", "`node/kinds/market_units.py` `MarketUnits.check`",
         "409 `MU-VAL-037`",
         _t(UNITS_TEST, "test_a_changed_scope_is_material_and_must_fit_the_members")),
    Rule("MU-VAL-038", "A unit with members in force today or later is not removed.",
         "`node/kinds/market_units.py` `MarketUnits.delete`", "409 `MU-VAL-038`",
         _t(UNITS_TEST, "test_MU_VAL_038_a_unit_with_members_is_not_removed")),
    Rule("MU-VAL-039", "An asset in a unit today or later is not de-registered; the refusal "
         "names the unit. Ending the membership (ValidTo today) first allows it.",
         "`node/kinds/market_unit_members.py` `refuse_deregistration` (an "
         "`Assets.deregister_guards` guard)", "409 `MU-VAL-039`",
         _t(UNITS_TEST, "test_MU_VAL_039_deregistering_is_refused_while_in_a_unit")),
    Rule("MU-IN-001..003", "A unit is a JSON object of its field names; the values the node "
         "keeps (UnitId, Capability, SpansDNOAreas, MaterialChangeAt, ...) are never sent.",
         "`node/inputs.py` `properties_from_json`", "400 `MU-IN-00x`",
         _t(UNITS_TEST, "test_MU_IN_001_to_003_capability_is_never_typed_in")),
    Rule("MU-IN-004", "A date parameter (`on`) is YYYY-MM-DD.",
         "`node/kinds/market_unit_capability.py` `day_of`", "400 `MU-IN-004`",
         _t(UNITS_TEST, "test_MU_IN_004_dates_are_checked")),
    Rule("MUM-IN-001..003", "A new member is {AssetId, ValidFrom, ValidTo?} (the node sets "
         "UnitId and OrganisationId); ending one needs ValidTo.",
         "`node/kinds/market_unit_members.py` `add`, `end`", "400 `MUM-IN-00x`",
         _t(UNITS_TEST, "test_MU_VAL_020_and_022_the_node_sets_unit_and_organisation",
            "test_MU_IN_004_dates_are_checked")),
    Rule("MU-404, MUM-404", "The unit exists and the caller may read it (POL-003 on the areas "
         "its members span); a membership is ended through its own unit.",
         "`node/records/kind.py` `not_found`", "404 `MU-404`, `MUM-404`",
         _t(UNITS_TEST, "test_POL_041_an_fsp_writes_only_its_own_units",
            "test_a_membership_of_another_unit_is_not_ended_through_this_one")),
    Rule("MU-412, MU-428", "Changing a unit needs `If-Match` with its current ETag.",
         "`node/records/unit.py` `check_version`", "412 `MU-412`, 428 `MU-428`",
         _t(UNITS_TEST, "test_MU_412_and_MU_428_changes_name_the_current_version")),
]

REGISTER_RULES = [
    Rule("ARM-VAL", "Umbrella code of a write refused by SHACL or catalogue rules; "
         "`details.violations` lists every rule ID, focus, path, value and message.",
         "`node/records/refusals.py` `refusal`", "422 `ARM-VAL`",
         _t(API_TEST, "test_validation_failure_lists_every_violation_and_stores_nothing")),
    Rule("ARM-404", "The asset exists and the caller may read it (an asset of another "
         "organisation answers the same as a missing one, for reads and writes alike, before "
         "any If-Match check).", "`node/records/refusals.py` `not_found`, `node/policy.py` `authorise`",
         "404 `ARM-404`", _t(API_TEST, "test_fsp_cannot_read_or_write_another_fsps_asset",
                             "test_nothing_is_revealed_to_a_writer_who_may_not_read")),
    Rule("ARM-409", "A de-registered asset is not changed or de-registered again.",
         "`node/kinds/assets.py` `_change`", "409 `ARM-409`", _t(API_TEST, "test_deregistration_is_soft")),
    Rule("ARM-412", "`If-Match` equals the asset's current ETag.",
         "`node/records/unit.py` `check_version`",
         "412 `ARM-412`", _t(API_TEST, "test_put_and_patch_need_the_current_etag",
                             "test_two_writers_racing_one_wins_one_gets_412")),
    Rule("ARM-428", "PUT and PATCH carry `If-Match`.", "`node/records/unit.py` `check_version`",
         "428 `ARM-428`", _t(API_TEST, "test_put_and_patch_need_the_current_etag")),
    Rule("ARM-VS-001", "A validation status is Pending, Verified or Query.",
         "`node/kinds/assets.py` `set_validation_status`",
         "422 `ARM-VS-001`", _t(API_TEST, "test_validation_status_set_by_authorised_parties_only")),
    Rule("ARM-VS-002", "A Query status has a reason.",
         "`node/kinds/assets.py` `set_validation_status`", "422 `ARM-VS-002`",
         _t(API_TEST, "test_validation_status_set_by_authorised_parties_only")),
    Rule("ARM-BULK", "Bulk report when a row fails: all-or-nothing stores nothing (422), "
         "store-valid stores the valid rows (207); `details.errors[]` has each row's violations.",
         "`node/api/assets.py` `register_bulk`", "422 or 207 `ARM-BULK`",
         _t(API_TEST, "test_bulk_all_or_nothing_with_a_bad_row_stores_nothing",
            "test_bulk_store_valid_mode_and_ndjson")),
    Rule("ARM-DUP-001", "No second asset with the same import or export MPAN and serial "
         "number anywhere in the federation or earlier in the same upload (keyed hashes only "
         "cross the network). Without a federation key the check covers this node's own records "
         "and `GET /health` says `duplicate_check: node`.",
         "`node/api/assets.py` `_refuse_duplicate`, `node/federation/duplicates.py`",
         "409 `ARM-DUP-001` (holder organisations)",
         _t(API_TEST, "test_a_duplicate_mpan_and_serial_is_refused",
            "test_bulk_rows_duplicating_an_asset_or_an_earlier_row_are_refused",
            "test_ARM_DUP_001_a_node_without_federation_key_refuses_its_own_duplicates")
         + "<br>" + _t("tests/federation/test_federation.py",
                       "test_registering_a_duplicate_anywhere_in_the_federation_is_refused")),
    Rule("STORE-001", "The store completed the write (else nothing of that write is stored).",
         "`node/records/refusals.py` `store_unavailable`", "503 `STORE-001`",
         _t("tests/test_bulk_commit.py", "test_a_failed_load_is_rolled_back")),
]

POLICY_RULES = [
    Rule("POL-001", "The access token carries the scope the operation needs.", "`node/policy.py`",
         "403 `POL-001`", _t(API_TEST, "test_missing_scope_is_refused")),
    Rule("POL-002", "Only an FSP, aggregator, asset owner or platform writes assets, and only "
         "its own organisation's.", "`node/policy.py` `POLICY`", "403 `POL-002`",
         _t(API_TEST, "test_fsp_cannot_read_or_write_another_fsps_asset",
            "test_dno_reads_its_areas_but_cannot_write")),
    Rule("POL-003", "Reads: own organisation's assets; a DNO its licence areas; NESO all; the "
         "regulator aggregates only.", "`node/policy.py` `asset_read_scope`",
         "404 `ARM-404` (not 403, so IDs are not confirmed); lists filtered",
         _t(API_TEST, "test_dno_reads_its_areas_but_cannot_write",
            "test_neso_reads_everything_and_regulator_reads_no_raw_assets")),
    Rule("POL-004", "Validation status is set by the market facilitator, NESO, or the asset's "
         "DNO; never by its own organisation.", "`node/policy.py`", "403 `POL-004`",
         _t(API_TEST, "test_validation_status_set_by_authorised_parties_only")),
    Rule("POL-005", "Only the market facilitator manages asset categories.", "`node/policy.py`",
         "403 `POL-005`", _t(API_TEST, "test_categories_managed_at_run_time")),
    Rule("POL-007", "Only the trust framework (scope `trust:deregistration`) asks how many "
         "active records an organisation has.", "`node/policy.py` "
         "`check_deregistration_enquiry`", "403 `POL-001`",
         _t(API_TEST, "test_active_records_enquiry_for_deregistration")),
    Rule("POL-009", "The market facilitator writes any product; a system operator only the "
         "products it runs (NESO's; a DNO's or IDNO's DSO products).", "`node/policy.py` `POLICY`",
         "403 `POL-009`", _t(PRODUCTS_TEST,
                             "test_POL_009_only_the_operator_that_runs_a_product_or_the_facilitator_writes_it")),
    Rule("POL-010", "Only the market facilitator approves, retires or changes an Active "
         "product version; what a system operator writes is Proposed.",
         "`node/policy.py` `POLICY`", "403 `POL-010`", _t(PRODUCTS_TEST,
         "test_POL_010_a_system_operator_proposes_and_only_the_facilitator_approves")),
    Rule("POL-050", "Only the market facilitator declares, changes and ends product "
         "equivalences.", "`node/policy.py` `POLICY`", "403 `POL-050`",
         _t(ELIGIBILITY_TEST, "test_POL_050_only_the_facilitator_manages_equivalences")),
    Rule("POL-051", "Only the market facilitator and the regulator save, change and delete "
         "report definitions (scope `reports:write`); every member reads them.",
         "`node/policy.py` `POLICY`", "403 `POL-051`",
         _t("tests/test_reports.py",
            "test_POL_051_only_the_facilitator_and_the_regulator_save_report_definitions")),
    Rule("POL-008", "A DNO or IDNO sets, changes and removes connection limits, only on assets "
         "connected in its licence areas (and does not move a limit out of them).",
         "`node/policy.py` `POLICY`", "403 `POL-008` (404 `LIM-404` for a limit it may not read)",
         _t(LIMITS_TEST, "test_POL_008_only_a_dno_in_its_licence_areas_sets_limits",
            "test_a_dno_cannot_move_a_limit_out_of_its_areas")),
    Rule("POL-041", "An FSP (any asset-holding role) writes only its own market units and "
         "their memberships; another organisation's unit reads as absent.",
         "`node/policy.py` `POLICY`", "403 `POL-041` (404 `MU-404` for a unit it may not read)",
         _t(UNITS_TEST, "test_POL_041_an_fsp_writes_only_its_own_units")),
    Rule("POL-030", "A node stores and changes records only for the organisations it holds: "
         "its operator and those the trust directory lists as hosted by its operator "
         "(static-token nodes: `FMAR_HOLDS`, by default the asset-holding organisations of "
         "the tokens file).", "`node/policy.py` `check_placement`, `node/placement.py`",
         "403 `POL-030`",
         _t("tests/federation/test_placement.py",
            "test_POL_030_an_fsp_cannot_store_records_on_another_members_node",
            "test_POL_030_hosting_is_granted_and_revoked_in_the_directory")
         + "<br>" + _t("tests/test_placement_static.py",
                       "test_POL_030_a_static_node_holds_only_its_configured_organisations")),
    Rule("POL-006", "An audit trail is read with `audit:read` by those who may read the record.",
         "`node/policy.py` `POLICY`", "403 `POL-001` (scope) or 404 `ARM-404`",
         _t(API_TEST, "test_missing_scope_is_refused", "test_audit_trail_of_a_record")),
    Rule("POL-021", "A relayed token (RFC 8693 `act`: a node exchanged its caller's token) is "
         "accepted only on read and query routes (GET/HEAD outside /admin, POST /sparql, "
         "POST /federation/sparql); every write, status change and admin route refuses it.",
         "`node/policy.py` `check_relayed_route` (called by `node/identity.py` "
         "`current_caller`)", "403 `POL-021`",
         _t("tests/trust/test_trust_exchange.py", "test_POL_021_a_relayed_token_only_reads")
         + "<br>" + _t("tests/trust/test_trust_node_e2e.py",
                       "test_POL_021_a_relayed_token_cannot_change_records_on_the_real_node")),
    Rule("POL-012", "Aggregates need `assets:read` (over what the caller may read) or the "
         "regulator's aggregate-only access.", "`node/policy.py` `aggregate_read_scope`",
         "403 `POL-012`",
         _t(CODES_TEST, "test_POL_012_aggregates_need_read_rights_or_regulator_access")),
    Rule("POL-013", "Aggregate-only callers get disclosure-controlled aggregates: a suppressed "
         "cell carries no count, sum, min or max (SDC-001..006).",
         "`node/query/aggregates.py` `controlled_result`",
         "— (`rule: POL-013`, cells `suppressed`)",
         _t(CODES_TEST, "test_POL_013_regulator_cells_are_suppressed_below_the_threshold")),
    Rule("POL-014", "A node relays a federated query only for a caller holding "
         "`federation:query`.", "`node/policy.py` `check_federation_query`", "403 `POL-014`",
         _t(CODES_TEST, "test_POL_014_a_federated_query_needs_federation_query")),
    Rule("POL-040", "Events are delivered only to parties entitled to read the record "
         "(POL-003 on the event's facts): in the feed to the caller, by webhook to the "
         "subscription's organisation.", "`node/policy.py` `may_receive_event`, "
         "`node/events/feed.py`, `node/events/delivery.py`",
         "— (the event is not in the feed and not sent)",
         _t(EVENTS_TEST,
            "test_POL_040_the_feed_shows_a_limit_event_only_to_parties_entitled_to_read_it")
         + "<br>" + _t(EVENTS_PROCESS_TEST, "test_POL_040_a_dno_sets_a_limit_and_only_the_"
                       "entitled_fsps_receiver_gets_it_once")
         + "<br>" + _t("tests/federation/test_events.py", "test_POL_040_the_dno_node_signs_a_"
                       "limit_event_the_fsp_verifies_against_the_directory")),
]

EVENT_RULES = [
    Rule("EVT-IN-001", "A subscription is a JSON object with `url` and `types` only.",
         "`node/events/subscriptions.py` `Subscriptions.create`", "400 `EVT-IN-001`",
         _t(EVENTS_TEST, "test_EVT_IN_a_bad_subscription_is_refused_and_nothing_is_stored")),
    Rule("EVT-IN-002", "The endpoint is an absolute https URL (http only to a loopback "
         "address), without user name or password, not to a private, link-local or reserved "
         "IP address, of at most 2,000 characters.",
         "`node/events/subscriptions.py` `check_url`", "400 `EVT-IN-002`",
         _t(EVENTS_TEST, "test_EVT_IN_a_bad_subscription_is_refused_and_nothing_is_stored")),
    Rule("EVT-IN-003", "Event types (a subscription's `types`, the feed's `types`) are a "
         "non-empty list of known types.", "`node/events/subscriptions.py` `check_types`",
         "400 `EVT-IN-003`",
         _t(EVENTS_TEST, "test_EVT_IN_a_bad_subscription_is_refused_and_nothing_is_stored",
            "test_EVT_IN_feed_parameters_are_checked")),
    Rule("EVT-IN-004", "A cursor (`after`, `from`) is an event sequence number.",
         "`node/events/subscriptions.py` `check_cursor`", "400 `EVT-IN-004`",
         _t(EVENTS_TEST, "test_EVT_IN_feed_parameters_are_checked",
            "test_retries_end_in_a_dead_letter_and_a_replay_delivers_it_again")),
    Rule("EVT-404", "A subscription exists and belongs to the caller's organisation (another "
         "organisation's is not found).", "`node/events/subscriptions.py` `Subscriptions.get`",
         "404 `EVT-404`", _t(EVENTS_TEST, "test_EVT_404_a_subscription_belongs_to_its_organisation")),
    Rule("EVT-409", "An organisation has at most 20 subscriptions on a node.",
         "`node/events/subscriptions.py` `Subscriptions.create`", "409 `EVT-409`",
         _t(EVENTS_TEST, "test_EVT_409_an_organisation_has_a_bounded_number_of_subscriptions")),
    Rule("EVT-VER-001", "A webhook has `webhook-id`, `webhook-timestamp` and a "
         "`v1jws,<detached JWS>` `webhook-signature`.", "`node/events/verify.py`",
         "`WebhookRejected` `EVT-VER-001`",
         _t(EVENTS_TEST, "test_EVT_VER_001_a_webhook_without_its_headers_is_rejected")),
    Rule("EVT-VER-002", "The ES256 signature covers `{webhook-id}.{webhook-timestamp}.{body}` "
         "and the body's `id` is the `webhook-id` (else forged).", "`node/events/verify.py`",
         "`WebhookRejected` `EVT-VER-002`",
         _t(EVENTS_TEST, "test_EVT_VER_002_a_forged_body_or_signature_is_rejected")),
    Rule("EVT-VER-003", "The signing certificate (`x5c`, `kid` its thumbprint) chains to the "
         "federation CA and is valid now.", "`node/events/verify.py`",
         "`WebhookRejected` `EVT-VER-003`",
         _t(EVENTS_TEST, "test_EVT_VER_003_a_webhook_signed_outside_the_federation_is_rejected")),
    Rule("EVT-VER-004", "The timestamp is within the tolerance (default 300 s): an old "
         "message is a replay.", "`node/events/verify.py`", "`WebhookRejected` `EVT-VER-004`",
         _t(EVENTS_TEST, "test_EVT_VER_004_and_005_a_replayed_webhook_is_rejected")),
    Rule("EVT-VER-005", "A `webhook-id` is processed once (with a `seen` set): a replay, or a "
         "retry of an event already handled, is refused.", "`node/events/verify.py`",
         "`WebhookRejected` `EVT-VER-005`",
         _t(EVENTS_TEST, "test_EVT_VER_004_and_005_a_replayed_webhook_is_rejected")
         + "<br>" + _t(EVENTS_PROCESS_TEST, "test_EVT_VER_005_a_captured_webhook_replayed_to_"
                       "the_receiver_is_rejected")),
    Rule("EVT-VER-006", "A bulk upload's events are one outbox graph naming its leaves "
         "graph, read as one event per record (sequence `first + i` is the i-th record by "
         "IRI; facts of the record as written, version 1); each event's id is "
         "uuid5(upload batch, sequence), the same on every read and retry, so EVT-VER-005 "
         "deduplicates it.", "`node/events/outbox.py` `Outbox.prepare_upload`, `read`", "—",
         _t(EVENTS_TEST, "test_EVT_VER_006_an_upload_stores_one_events_graph_read_as_one_"
            "stable_event_per_record",
            "test_a_bulk_upload_emits_one_event_per_record_in_the_same_commit")),
]

INBOX_TEST = "tests/federation/test_operator_inbox.py"
INBOX_SWITCH_TEST = "tests/federation/test_unit_switching.py"
INBOX = "`node/events/inbox.py`"
INBOX_RULES = [
    Rule("INBOX-001", "A webhook to the inbox is signed: Standard Webhooks headers and a "
         "detached JWS (no bearer token: the signature is the credential).", INBOX,
         "401 `INBOX-001`", _t(INBOX_TEST, "test_INBOX_001_an_unsigned_webhook_is_refused")),
    Rule("INBOX-002", "The signature verifies, by a key certified by the federation CA, over "
         "the body received (else forged).", INBOX, "401 `INBOX-002`",
         _t(INBOX_TEST, "test_INBOX_002_a_forged_webhook_changes_nothing")),
    Rule("INBOX-003", "The webhook's timestamp is within 300 s of now (else stale).", INBOX,
         "401 `INBOX-003`", _t(INBOX_TEST, "test_INBOX_003_a_stale_webhook_is_refused")),
    Rule("INBOX-004", "A `webhook-id` is accepted once (else replayed).", INBOX,
         "409 `INBOX-004`", _t(INBOX_TEST, "test_INBOX_004_a_replayed_webhook_is_refused")),
    Rule("INBOX-005", "The signing node's member is, or hosts, the FSP named by this node's "
         "outcomes (and grid prequalifications) for the unit.", INBOX, "403 `INBOX-005`",
         _t(INBOX_TEST, "test_INBOX_005_another_fsps_node_cannot_speak_for_the_unit")),
    Rule("INBOX-006", "The body is an FMAR event; a material change names a market unit IRI.",
         INBOX, "400 `INBOX-006`",
         _t(INBOX_TEST, "test_INBOX_006_a_material_change_names_a_unit")),
    Rule("INBOX-007", "The node has a federation CA to verify webhooks with "
         "(`FMAR_CA_BUNDLE`); without one it refuses every webhook.", INBOX, "401 `INBOX-007`",
         _t("tests/test_inbox.py",
            "test_INBOX_007_a_node_without_a_federation_ca_refuses_webhooks")),
    Rule("INBOX-008", "The trust directory answers, to check the sending node; else the "
         "sender retries.", "`node/api/services.py` `_hosts`", "503 `INBOX-008`",
         "retried by the sender (not tested)"),
    Rule("INBOX-009", "A unit switch notice (`market-unit.switched-in`) names a market unit "
         "IRI, its new FSP (`data.organisation`) and its former one (`data.former`), two "
         "organisation IDs that differ.", INBOX, "400 `INBOX-009`",
         _t(INBOX_SWITCH_TEST, "test_INBOX_009_a_switch_notice_names_the_unit_and_both_fsps")),
    Rule("INBOX-010", "The node signing a unit switch notice is, or hosts, the new FSP it "
         "names.", INBOX, "403 `INBOX-010`",
         _t(INBOX_SWITCH_TEST, "test_INBOX_010_a_node_speaks_only_for_the_fsps_it_holds")),
    Rule("INBOX-011", "Before its outcomes and grid prequalifications naming the former FSP "
         "name the new one, the operator's node confirms the move itself, with its own "
         "token: the former FSP's node answers the unit with a tombstone naming the new "
         "FSP, the new FSP's node holds the unit for it. A forged notice moves nothing.",
         f"{INBOX}, `node/switching/holders.py`", "403 `INBOX-011`",
         _t(INBOX_SWITCH_TEST, "test_INBOX_011_a_forged_switch_notice_moves_no_outcome",
            "test_a_unit_moves_with_its_memberships_and_members_and_its_qualification_"
            "follows")),
    Rule("INBOX-012", "The nodes (and the trust directory) needed to confirm a unit switch "
         "answer; else nothing moves and the sender retries.", "`node/switching/holders.py`",
         "503 `INBOX-012`",
         _t(INBOX_SWITCH_TEST, "test_INBOX_012_a_holder_node_down_while_confirming_is_retried")),
]

DISCLOSURE = "tests/test_disclosure.py"
ATTACK = "tests/federation/test_disclosure.py"
SDC_RULES = [
    Rule("SDC-001", "Threshold rule: a cell of fewer than 5 assets is suppressed.",
         "`node/policy.py` `DisclosureControl`, `node/query/aggregates.py` `_sensitive`",
         "cell `{\"group\", \"suppressed\": true}`",
         _t(DISCLOSURE, "test_SDC_001_a_cell_of_fewer_than_five_assets_is_suppressed")),
    Rule("SDC-002", "p% dominance rule (p = 10): a cell whose sum less its two largest "
         "contributions is under p% of the largest is suppressed.",
         "`node/query/aggregates.py` `_sensitive`", "cell suppressed",
         _t(DISCLOSURE, "test_SDC_002_a_cell_dominated_by_one_asset_is_suppressed")),
    Rule("SDC-003", "Secondary suppression: no line of the table or its margins has exactly "
         "one hidden cell; the lines are walked in the order of the groups' codes, so the "
         "same assets always hide the same cells.", "`node/query/aggregates.py` `_secondary`",
         "cell suppressed",
         _t(DISCLOSURE,
            "test_SDC_003_no_line_of_the_table_or_its_margins_has_exactly_one_hidden_cell",
            "test_SDC_003_the_same_assets_hide_the_same_cells_whatever_order_the_rows_come_in")),
    Rule("SDC-004", "Counts rounded to base 5, capacity sums to base 1000 kW, by unbiased "
         "random rounding keyed by the node's secret and the cell's contents.",
         "`node/query/aggregates.py` `_random_round`", "rounded values",
         _t(DISCLOSURE, "test_SDC_004_counts_and_sums_are_randomly_rounded_consistently")),
    Rule("SDC-005", "No minimum or maximum for aggregate-only callers.",
         "`node/query/aggregates.py` `controlled_result`, `merge`", "no `min`/`max`",
         _t(DISCLOSURE, "test_SDC_005_no_minimum_or_maximum_in_any_cell")
         + "<br>" + _t(ATTACK, "test_SDC_the_regulator_recovers_no_single_assets_capacity")),
    Rule("SDC-006", "Capacity filters of aggregate-only callers take published band edges "
         "only.", "`node/policy.py` `check_disclosure_filter`", "403 `SDC-006`",
         _t(ATTACK, "test_SDC_006_capacity_filters_take_published_band_edges_only")),
]

REPORTS_TEST = "tests/test_reports.py"
REPORTS_FED_TEST = "tests/federation/test_reports.py"
QUAL_FED_TEST = "tests/federation/test_qualification_federated.py"
_REP_VAL = "test_REP_VAL_001_to_007_a_bad_definition_is_refused_with_its_rule"
_REP_SAVED = "test_REP_VAL_a_saved_definition_is_checked_and_nothing_is_stored_on_refusal"
_REP_VERSIONED = "test_a_saved_definition_is_versioned_by_its_record"
REPORT_RULES = [
    Rule("REP-VAL-001", "A report definition is a JSON object with a name (lower-case "
         "letters, digits, `_`, `-`; at most 48), a version and a title.",
         "`node/reports/model.py` `check`; `shapes/report_definition.ttl` (saved ones)",
         "400 `REP-VAL-001` (a file); 422 `REPDEF-VAL` (saved)",
         _t(REPORTS_TEST, _REP_VAL,
            "test_REP_VAL_001_and_009_names_are_checked_and_unique_on_the_node")),
    Rule("REP-VAL-002", "A definition's version is a whole number from 1.",
         "`node/reports/model.py` `check`", "400 `REP-VAL-002`", _t(REPORTS_TEST, _REP_VAL)),
    Rule("REP-VAL-003", "A definition's source is assets, federation or market.",
         "`node/reports/model.py` `check`", "400 `REP-VAL-003`", _t(REPORTS_TEST, _REP_VAL)),
    Rule("REP-VAL-004", "At most 40 tables, each with its own name.",
         "`node/reports/model.py` `check`", "400 `REP-VAL-004`", _t(REPORTS_TEST, _REP_VAL)),
    Rule("REP-VAL-005", "A table groups by up to 5 distinct known dimensions (the aggregate "
         "dimensions, months of a date, presence of an Elexon attribute); a table of another "
         "record source (`node/reports/sources.py`) by that source's dimensions, filtered "
         "only on the dimensions it allows, by codes.",
         "`node/reports/model.py` `check_table`", "400 `REP-VAL-005`",
         _t(REPORTS_TEST, _REP_VAL) + "<br>" + _t(
             REPORTS_FED_TEST,
             "test_REP_IN_001_and_REP_VAL_005_006_a_nodes_report_part_refuses_bad_tables")
         + "<br>" + _t(QUAL_FED_TEST,
                       "test_REP_VAL_005_a_market_table_filters_only_on_its_sources_codes")),
    Rule("REP-VAL-006", "A table's measure is rated, import, export, installed or storage "
         "capacity (another record source: one of its measures).", "`node/reports/model.py` `check_table`", "400 `REP-VAL-006`",
         _t(REPORTS_TEST, _REP_VAL)),
    Rule("REP-VAL-007", "A chart is bars, lines or tiles of one of the report's tables, along "
         "one of its dimensions, of count or sum.", "`node/reports/model.py` `check`",
         "400 `REP-VAL-007`", _t(REPORTS_TEST, _REP_VAL)),
    Rule("REP-VAL-008", "A saved definition's Specification is its tables and charts as a "
         "JSON object (at most 20,000 characters).", "`shapes/report_definition.ttl`, "
         "`node/kinds/report_definitions.py` `parse`", "422 `REP-VAL-008`",
         _t(REPORTS_TEST, _REP_SAVED)),
    Rule("REP-VAL-009", "A saved report's name is not another saved report's on the node, "
         "nor a built-in report's.",
         "`node/kinds/report_definitions.py` `ReportDefinitions.check`", "409 `REP-VAL-009`",
         _t(REPORTS_TEST, "test_REP_VAL_001_and_009_names_are_checked_and_unique_on_the_node")),
    Rule("REPDEF-IN-001", "A report definition is a JSON object.",
         "`node/inputs.py` `properties_from_json`", "400 `REPDEF-IN-001`",
         _t(REPORTS_TEST, "test_REPDEF_IN_001_a_definition_is_an_object")),
    Rule("REPDEF-IN-002", "Only the definition's field names (ReportName, Title, "
         "Specification), one plain value each.", "`node/inputs.py`", "400 `REPDEF-IN-002`",
         _t(REPORTS_TEST, _REP_SAVED)),
    Rule("REPDEF-IN-003", "Fields the node keeps (DefinitionId, SetBy, Version, Created, "
         "Modified) are not sent.", "`node/inputs.py`", "400 `REPDEF-IN-003`",
         _t(REPORTS_TEST, _REP_SAVED)),
    Rule("REPDEF-VAL", "Umbrella code of a definition refused by its shape "
         "(`shapes/report_definition.ttl`: REP-VAL-001, REP-VAL-008); `details.violations` "
         "lists every rule ID.", "`node/records/refusals.py` `refusal`", "422 `REPDEF-VAL`",
         _t(REPORTS_TEST, _REP_SAVED,
            "test_REP_VAL_001_and_009_names_are_checked_and_unique_on_the_node")),
    Rule("REPDEF-404", "The saved definition exists.", "`node/records/kind.py` `not_found`",
         "404 `REPDEF-404`", _t(REPORTS_TEST, _REP_VERSIONED)),
    Rule("REPDEF-412", "`If-Match` equals the definition's current ETag.",
         "`node/records/unit.py` `check_version`", "412 `REPDEF-412`",
         _t(REPORTS_TEST, _REP_VERSIONED)),
    Rule("REPDEF-428", "Changes (PUT, DELETE) carry `If-Match`.",
         "`node/records/unit.py` `check_version`", "428 `REPDEF-428`",
         _t(REPORTS_TEST, _REP_VERSIONED)),
    Rule("REP-IN-001", "A node's report part (`POST /query/report`) is `{\"tables\": [...]}` "
         "with at most 40 tables, each named once.", "`node/reports/node_side.py` "
         "`parse_request`", "400 `REP-IN-001`", _t(
             REPORTS_FED_TEST,
             "test_REP_IN_001_and_REP_VAL_005_006_a_nodes_report_part_refuses_bad_tables")),
    Rule("REP-001", "The report named exists.", "`node/api/reports.py` `definition_of`, "
         "`node/cli_reports.py`", "404 `REP-001`", _t(
             REPORTS_FED_TEST,
             "test_reports_routes_run_a_report_in_every_format_and_draw_its_charts")
         + "<br>" + _t(REPORTS_TEST,
                       "test_REP_001_002_005_fmar_report_refuses_before_asking_any_node")),
    Rule("REP-002", "The format is json, csv or xlsx (`fmar report run`: xlsx needs --out).",
         "`node/api/reports.py` `run_report`, `node/cli_reports.py`", "400 `REP-002`", _t(
             REPORTS_FED_TEST,
             "test_reports_routes_run_a_report_in_every_format_and_draw_its_charts")
         + "<br>" + _t(REPORTS_TEST,
                       "test_REP_001_002_005_fmar_report_refuses_before_asking_any_node")),
    Rule("REP-003", "Market participation has a source only when a node declares market "
         "units and qualifications; until then the result says it has none. Its tables "
         "(units and capacity qualified per product and operator, the pipeline by state, "
         "the capacity claimed) are computed over the qualification records each node "
         "holds, with the kind's read rule or, for the regulator, disclosure control.",
         "`node/reports/run.py` `market_source`, `node/reports/sources.py`",
         "`market.source: null` in the result",
         _t(REPORTS_TEST,
            "test_REP_003_market_source_is_named_only_when_a_node_declares_both_kinds")
         + "<br>" + _t(REPORTS_FED_TEST,
                       "test_REP_003_market_participation_names_its_sources_and_computes_"
                       "its_tables")
         + "<br>" + _t(QUAL_FED_TEST,
                       "test_REP_003_market_participation_tables_match_the_qualification_"
                       "records")),
    Rule("REP-004", "The chart named is one of the report's, as .svg or .png.",
         "`node/api/reports.py` `chart_of`, `node/cli_reports.py`", "404 `REP-004`", _t(
             REPORTS_FED_TEST,
             "test_reports_routes_run_a_report_in_every_format_and_draw_its_charts")
         + "<br>" + _t(REPORTS_TEST,
                       "test_fmar_report_show_draws_a_saved_results_charts_offline")),
    Rule("REP-006", "The version asked for (`?version=`) is one the report had: the "
         "built-in one's own, or one in a saved report's history.",
         "`node/api/reports.py` `definition_of`, `node/kinds/report_definitions.py` "
         "`at_version`", "404 `REP-006`", _t(REPORTS_TEST, _REP_VERSIONED) + "<br>" + _t(
             REPORTS_FED_TEST, "test_the_regulator_saves_a_definition_on_a_node_and_runs_it_"
             "across_the_federation")),
    Rule("REP-005", "`fmar report show` reads a result saved by `fmar report run`.",
         "`node/cli_reports.py` `show_report`", "exit 2 `REP-005`",
         _t(REPORTS_TEST, "test_REP_001_002_005_fmar_report_refuses_before_asking_any_node")),
]

REQUEST_RULES = [
    Rule("REQ-406", "The `Accept` header or `?format=` names a media type the route offers.",
         "`node/api/http.py` `negotiate`", "406 `REQ-406`",
         _t(API_TEST, "test_read_with_content_negotiation")),
    Rule("REQ-413", "The body is within the size limit (single or bulk), checked while streaming.",
         "`node/api/http.py` `too_large`", "413 `REQ-413`",
         _t(API_TEST, "test_malformed_csv_and_oversized_bodies")),
    Rule("REQ-415", "The `Content-Type` is one the route accepts.", "`node/api/assets.py` "
         "`_unsupported`", "415 `REQ-415`", _t(API_TEST, "test_malformed_single_bodies_get_clear_4xx")),
    Rule("REQ-001", "Query and path parameters are valid (FastAPI validation).",
         "`common/http_errors.py`", "422 `REQ-001`",
         _t(API_TEST, "test_REQ_001_parameters_not_valid")
         + "<br>" + _t(ERRORS_TEST, "test_REQ_001_request_validation")
         + "<br>" + _t(CONTRACT_TEST,
                       "test_REQ_001_validation_status_filter_is_one_of_the_statuses")),
    Rule("REQ-IN-001", "A record listing takes only its own filters and `limit`/`after`; an "
         "unknown query parameter is refused, not ignored.", "`node/api/records.py` `where`",
         "400 `REQ-IN-001`",
         _t(RECORDS_TEST, "test_REQ_IN_001_an_unknown_query_parameter_is_refused_not_ignored")),
    Rule("REQ-IN-002", "A listing's `after` is a record ID (the `next` of the previous page).",
         "`node/records/service.py` `Records.search`", "400 `REQ-IN-002`",
         _t(RECORDS_TEST, "test_REQ_IN_002_a_cursor_that_is_not_an_id_is_refused")),
    Rule("REQ-IN-003", "A listing's `next` cursor is a key, not an offset: a record added or "
         "removed between two pages neither repeats nor hides another.",
         "`node/index/queries.py` `page`", "(listing)",
         _t(INDEX_TEST, "test_IDX_004_REQ_IN_003_a_keyset_cursor_neither_repeats_nor_skips")),
    Rule("HTTP-4xx", "Fallbacks for what FastAPI raises itself: unknown route `HTTP-404`, wrong "
         "method `HTTP-405` (with `Allow`, below), other statuses `HTTP-<status>` (`AUTH-001` for 401, `POL-000` "
         "for 403).", "`common/http_errors.py`", "4xx `HTTP-…`",
         _t(ERRORS_TEST, "test_http_exception_fallback_codes",
            "test_HTTP_404_unknown_route_and_HTTP_405_wrong_method")),
    Rule("HTTP-405", "A path answers only the methods its OpenAPI entry lists; `Allow` names "
         "them.", "`common/http_errors.py` `allowed_methods`", "405 `HTTP-405` with `Allow`",
         _t(CONTRACT_TEST, "test_HTTP_405_names_every_method_of_the_path_in_allow")),
    Rule("SRV-001", "Anything unexpected: logged with its trace, never shown to the client; the "
         "node keeps serving.", "`common/http_errors.py`", "500 `SRV-001`",
         _t(ERRORS_TEST, "test_SRV_001_unexpected_error_is_logged_not_shown")),
    Rule("RATE-001", "The caller's source address and client (certificate, else bearer "
         "token) each have a token left in their bucket (`FMAR_RATE_API_*`, "
         "docs/trust.md).", "`common/ratelimit.py` `RateLimitMiddleware`",
         "429 `RATE-001` with `Retry-After`",
         _t("tests/trust/test_trust_limits.py",
            "test_RATE_001_a_burst_at_a_node_gets_429_and_other_clients_go_on")),
]

FED_TEST = "tests/federation/test_federation.py"
PLANNER_TEST = "tests/federation/test_planner.py"

INDEX_RULES = [
    Rule("IDX-001", "The listing index applies every audit entry after the last it applied "
         "(kept with its rows), after each write, at start-up and before an answer when "
         "behind: a crash between the store's commit and the index's is repaired, a failed "
         "catch-up leaves it behind, never wrong.", "`node/index/listing.py` `catch_up`",
         "(internal)", _t(INDEX_TEST,
                          "test_IDX_001_a_crash_between_store_commit_and_index_write_is_repaired",
                          "test_IDX_001_a_failing_catch_up_leaves_the_index_behind_never_wrong",
                          "test_IDX_001_a_bulk_upload_is_listed_as_soon_as_it_returns")),
    Rule("IDX-002", "An index that is missing, of another schema or ahead of the store is "
         "rebuilt from the store's current records.", "`node/index/listing.py` `_rebuild`",
         "(internal)", _t(INDEX_TEST, "test_IDX_002_a_lost_or_ahead_index_is_rebuilt_from_the_store")),
    Rule("IDX-003", "The caller's read rule (POL-003; POL-013 for the regulator) is part of "
         "every index query; its answers equal the SPARQL path's for every role.",
         "`node/index/queries.py` `scope_condition`", "(as POL-003)",
         _t(INDEX_TEST, "test_IDX_003_IDX_005_IDX_006_index_answers_equal_sparql_for_every_role",
            "test_IDX_003_an_asset_in_both_the_callers_organisation_and_area_counts_once",
            "test_IDX_003_the_regulator_table_is_under_disclosure_control_from_the_index",
            "test_IDX_003_hostile_codes_are_refused_before_any_index_query")),
    Rule("IDX-004", "A listing page is a keyset page in IRI order after the cursor.",
         "`node/index/queries.py` `page`", "(listing)",
         _t(INDEX_TEST, "test_IDX_004_REQ_IN_003_a_keyset_cursor_neither_repeats_nor_skips")),
    Rule("IDX-005", "Exact aggregates from the index equal the store's (sums to 1e-6 kW).",
         "`node/index/queries.py` `exact_groups`", "(aggregate)",
         _t(INDEX_TEST, "test_IDX_003_IDX_005_IDX_006_index_answers_equal_sparql_for_every_role")),
    Rule("IDX-006", "Disclosure control is applied to the index's answer by the same function "
         "over the same inputs: the published table is identical.",
         "`node/index/queries.py` `capacity_groups`", "(aggregate, POL-013)",
         _t(INDEX_TEST, "test_IDX_003_IDX_005_IDX_006_index_answers_equal_sparql_for_every_role")),
    Rule("IDX-007", "A report part's freshness (newest change) from the index equals the store's.",
         "`node/index/queries.py` `newest_modified`", "(report part)",
         _t(INDEX_TEST, "test_IDX_007_the_freshness_of_a_report_part_equals_sparql")),
    Rule("IDX-008", "A listing page is served from the index alone: each listed record's JSON "
         "is kept in its row, written from the same read of the store as its columns, and "
         "equals what a read of the record gives.",
         "`node/index/listing.py` `_row`", "(listing)",
         _t(INDEX_TEST, "test_IDX_008_a_page_is_served_from_the_index_as_reads_give_each_record",
            "test_IDX_003_IDX_005_IDX_006_index_answers_equal_sparql_for_every_role")),
    Rule("IDX-009", "A CSV or JSON-LD export of the caller's assets is read from the index a "
         "keyset page at a time (constant memory, ID order) and holds what the export from "
         "the store holds.",
         "`node/index/listing.py` `every`", "(export)",
         _t(INDEX_TEST, "test_IDX_009_an_export_is_served_from_the_index_page_by_page")),
    Rule("IDX-010", "GET /query/assets (the REST filter form, and each node's part of the "
         "federation's asset filter) is answered from the index when it can mirror the "
         "generated SPARQL over the embedded store: the same variables, terms, rows in IRI "
         "order, limit and row-limit error (SPARQL-006); capacity bounds compared as "
         "Oxigraph does (decimal against decimal exactly, against a double bound as its "
         "double). A bound Oxigraph does not read, a record the index cannot mirror (two "
         "values, a code outside its scheme, a capacity Oxigraph does not read, with a "
         "capacity bound) or a SPARQL server as the store: the store answers, and the "
         "node logs such a record once, with its IRI.",
         "`node/index/filtered.py` `answerable`, `odd_record`, `answer`", "(asset filter)",
         _t(FILTER_INDEX_TEST,
            "test_IDX_010_the_index_answers_the_filter_form_as_sparql_for_every_role",
            "test_IDX_010_the_answer_holds_the_stored_terms",
            "test_IDX_010_absent_optional_columns_are_left_unbound",
            "test_IDX_010_the_regulator_is_refused_both_ways",
            "test_IDX_010_the_row_limit_and_hostile_codes_refuse_as_on_the_store",
            "test_IDX_010_an_unreadable_bound_or_odd_capacity_goes_to_the_store",
            "test_IDX_010_irregular_records_send_every_filter_to_the_store",
            "test_IDX_010_the_http_answer_is_the_same_both_ways",
            "test_IDX_010_capacity_bounds_compare_as_oxigraph_does")),
    Rule("IDX-011", "On a node whose store is a SPARQL server, GET /assets/{id} in JSON is "
         "answered from the record's row (its JSON, "
         "IDX-008), the read decided by the same policy (POL-003) on the row's organisation "
         "and licence area, after the index has caught up; a row that cannot mirror its "
         "record (two values or a non-canonical code: IDX-010's irregular state), an asset "
         "the index does not list, and the other formats are read from the store. Every "
         "asset answers every caller as the store does (status, body, ETag).",
         "`node/index/listing.py` `record`, `node/kinds/assets.py` `read_json`", "(read)",
         _t(INDEX_TEST, "test_IDX_011_a_read_is_served_from_the_index_as_the_store_gives_it",
            "test_IDX_011_a_record_the_row_cannot_mirror_is_read_from_the_store")
         + "<br>" + _t("tests/federation/test_remote_backend.py",
              "test_IDX_011_reads_on_a_sparql_server_come_from_the_listing_index")),
    Rule("IDX-020", "The capacity cells (per finest group of every code and per measure: "
         "count, exact sum, smallest and two largest) are kept in the rows' transaction and "
         "always equal the cells summed anew from the rows.",
         "`node/index/cells.py` `refresh`", "(internal)",
         _t(INDEX_TEST, "test_IDX_020_IDX_021_capacity_cells_follow_every_change_of_the_rows")),
    Rule("IDX-021", "A table of code dimensions and code filters is answered from the capacity "
         "cells, exact or under disclosure control, equal to the answer from the rows and "
         "from the store.", "`node/index/cells.py` `finest`, `exact`", "(aggregate, POL-013)",
         _t(INDEX_TEST, "test_IDX_020_IDX_021_capacity_cells_follow_every_change_of_the_rows",
            "test_IDX_003_IDX_005_IDX_006_index_answers_equal_sparql_for_every_role")),
]

FEDERATION_RULES = [
    Rule("SPARQL-002", "A federated query is valid SPARQL 1.1; it is parsed before discovery "
         "and before any node is asked.", "`node/federation/joins.py` `parse`", "400 `SPARQL-002`",
         _t(FED_TEST, "test_invalid_sparql_SPARQL_002_fails_before_any_node_is_asked")
         + "<br>" + _t(PLANNER_TEST, "test_invalid_sparql_is_SPARQL_002")),
    Rule("SPARQL-004", "No SERVICE pattern: the bare keyword is refused as it stands (fail "
         "closed; the predicate `:service`, `?service`, a string or a language tag is no "
         "SERVICE), and the parsed query is searched at any depth, nested EXISTS too.",
         "`node/federation/joins.py` `has_service`, `node/query/lexer.py`",
         "400 `SPARQL-004`",
         _t(FED_TEST, "test_service_SPARQL_004_is_found_in_the_parsed_query_not_the_text")
         + "<br>" + _t(PLANNER_TEST,
                       "test_service_is_SPARQL_004_and_the_service_predicate_is_not")
         + "<br>" + _t(PLANNER_TEST, "test_SPARQL_004_a_service_inside_a_nested_exists_is_found",
                       "test_SPARQL_004_a_service_is_found_in_every_place_a_pattern_can_hide",
                       "test_SPARQL_004_a_language_tag_named_service_is_no_service")
         + "<br>" + _t("tests/test_hostile_queries.py",
                       "test_SPARQL_004_a_service_inside_a_nested_exists_is_refused_and_never_"
                       "called")),
    Rule("SPARQL-012", "A node on an external SPARQL server passes on SPARQL 1.1 Query only: "
         "no server keyword (Virtuoso's DEFINE) and no function called by IRI but XSD casts "
         "(Virtuoso's `bif:`, whose `http_get` calls out as the node's account).",
         "`node/query/lexer.py` `outside_sparql11`, `node/query/service.py` `check_portable`",
         "400 `SPARQL-012`",
         _t("tests/federation/test_remote_backend.py",
            "test_SPARQL_012_a_servers_own_functions_and_pragmas_never_reach_it")),
    Rule("SPARQL-005", "The join stage of a gather query ends within its time limit; if not, "
         "the answer keeps every node's status and names the stage.",
         "`node/federation/engine.py` `_gather`", "504 (answer `error`, stage `join`)",
         _t(FED_TEST, "test_a_join_that_fails_SPARQL_005_keeps_every_node_status")),
    Rule("FED-003", "The trust framework can be reached for a node's token.",
         "`node/federation/tokens.py`", "node status `error` `FED-003`",
         _t(FED_TEST, "test_a_hung_trust_framework_is_reported_as_such_FED_009_FED_007_FED_003")),
    Rule("FED-007", "The trust directory answers, within the deadline, when the nodes are "
         "looked up.", "`node/federation/client.py`, `node/api/federation.py`", "503 `FED-007`",
         _t(FED_TEST, "test_a_hung_trust_framework_is_reported_as_such_FED_009_FED_007_FED_003")),
    Rule("FED-009", "The trust framework gives a node's token within the deadline (else the "
         "node, never asked, is not reported as timing out).", "`node/federation/engine.py` "
         "`_one`", "node status `error` `FED-009`",
         _t(FED_TEST, "test_a_hung_trust_framework_is_reported_as_such_FED_009_FED_007_FED_003")),
    Rule("FED-010", "A gather query's fragment from each node is within "
         "`FMAR_FEDERATION_MAX_QUADS` rows; else nothing is evaluated.",
         "`node/federation/engine.py` `_gather`", "422 (answer `error`, stage `gather`)",
         _t(FED_TEST, "test_a_fragment_over_budget_is_refused_FED_010_with_every_node_status")),
    Rule("FED-011", "A federated answer given for the caller (eligibility) asks the nodes with "
         "the caller's exchanged token; when every node refuses it (no `may_act` naming the "
         "node), the caller is told, not answered from nothing.",
         "`node/api/eligibility.py` `_context`", "403 `FED-011`",
         _t("tests/federation/test_eligibility_federated.py",
            "test_FED_011_without_a_relay_token_the_node_asks_no_one_for_the_caller")),
    Rule("FED-012", "A federated DESCRIBE with a WHERE clause describes at most "
         "1,000 resources (`joins.MAX_DESCRIBED`): past that, nothing is described.",
         "`node/federation/engine.py` `_describe`", "422 (answer `error`, stage `gather`)",
         _t(FED_TEST, "test_FED_012_a_describe_naming_too_many_resources_is_refused")),
    Rule("FED-IN-008", "`/federation/records/{kind}` names a record kind; its filters are the "
         "kind's (`REQ-IN-001` otherwise), both checked before any node is asked.",
         "`node/api/federation.py` `records`", "404 `FED-IN-008`",
         _t(CODES_TEST, "test_FED_IN_008_a_federated_listing_names_a_record_kind")),
]

CLI_TEST = "tests/test_cli.py"
CLI_FED_TEST = "tests/federation/test_cli_query.py"
CLI_RULES = [
    Rule("CLI-000", "An unexpected error in `fmar` is one line (the trace only with "
         "`--verbose`).", "`node/cli_errors.py` `to_cli_error`", "exit 1 `CLI-000`",
         _t(CLI_TEST, "test_CLI_000_an_unexpected_error_is_one_line_and_exit_1")),
    Rule("CLI-001", "A command that calls the federation has credentials (options or "
         "`FMAR_*`).", "`node/federation/cli.py`, `node/cli.py` `upload`", "exit 2 `CLI-001`",
         _t(CLI_FED_TEST, "test_CLI_001_no_credentials")),
    Rule("CLI-002", "The trust framework and the nodes can be reached.",
         "`node/cli_errors.py` `to_cli_error`", "exit 5 `CLI-002`",
         _t(CLI_FED_TEST, "test_CLI_002_trust_framework_unreachable_and_verbose_shows_the_trace")),
    Rule("CLI-003", "Files (`@query.rq`, certificates, keys, CA bundle) can be read and used.",
         "`node/cli_errors.py` `to_cli_error`", "exit 2 `CLI-003`",
         _t(CLI_FED_TEST, "test_CLI_003_unusable_client_certificate",
            "test_CLI_004_and_other_mistakes_get_one_line_with_a_code_and_a_hint")),
    Rule("CLI-004", "Option values are known: `-f name=value`, `--mode`, `-o`, the upload's "
         "file type and mode.", "`node/federation/cli.py`, `node/cli.py` `upload`",
         "exit 2 `CLI-004`",
         _t(CLI_FED_TEST, "test_CLI_004_and_other_mistakes_get_one_line_with_a_code_and_a_hint",
            "test_CLI_004_control_a_well_formed_query_runs")),
    Rule("CLI-005", "`--data-dir` holds a node store; a backup goes to a new file, a restore "
         "to a new data directory.", "`node/store/embedded.py`, `node/cli.py`",
         "exit 2 `CLI-005`", _t(CLI_TEST, "test_CLI_005_backup_while_running_restore_and_verify")),
]

SWITCH_TEST = "tests/federation/test_switching.py"
UNIT_SWITCH_TEST = "tests/federation/test_unit_switching.py"
SWITCHING = "`node/switching/service.py`"
SWITCH_SHAPES = "`shapes/switch_request.ttl` (checked on every write of a request)"
SWITCH_UNIT_TEST = "tests/test_switch_requests.py"
SWITCH_RULES = [
    Rule("SWITCH-IN-001", "A switch request is a JSON object (From, Records, "
         "ConsentReference, RecordKind); a hand-over bundle has its fields.",
         f"{SWITCHING}, `node/switching/bundle.py`", "400 `SWITCH-IN-001`",
         _t(SWITCH_TEST, "test_refusals_and_the_parties_rules",
            "test_POL_075_SWITCH_VAL_009_a_hostile_node_cannot_push_records")),
    Rule("SWITCH-VAL-001", "1 to 500 records of a switchable kind (assets, market units), by "
         "IRI or ID: the kind and at least one record IRI in the shape, the IDs and the "
         "maximum in the code.",
         f"{SWITCH_SHAPES}, {SWITCHING}", "422 `SWITCH-VAL-001`",
         _t(SWITCH_TEST, "test_refusals_and_the_parties_rules")),
    Rule("SWITCH-VAL-002", "Every record is an active record held on this node for `From` "
         "(and, in a bundle, a record of the former holder); checked again when the notice "
         "ends (else the request ends `rejected`).", SWITCHING, "422 `SWITCH-VAL-002`",
         _t(SWITCH_TEST, "test_refusals_and_the_parties_rules",
            "test_SWITCH_VAL_002_an_asset_deregistered_during_the_notice_does_not_move")),
    Rule("SWITCH-VAL-003", "A consent reference of 1 to 200 characters.", SWITCH_SHAPES,
         "422 `SWITCH-VAL-003`", _t(SWITCH_TEST, "test_refusals_and_the_parties_rules")),
    Rule("SWITCH-VAL-004", "A record is in at most one open switch request.", SWITCHING,
         "409 `SWITCH-VAL-004`", _t(SWITCH_TEST, "test_refusals_and_the_parties_rules")),
    Rule("SWITCH-VAL-006", "An objection comes before the notice period ends.", SWITCHING,
         "409 `SWITCH-VAL-006`", _t(SWITCH_TEST, "test_b_requests_a_objects_and_the_assets_stay",
                                    "test_b_requests_the_notice_passes_and_the_assets_move")),
    Rule("SWITCH-VAL-007", "An objection gives a reason (1 to 1,000 characters); any reason a "
         "request keeps is 1 to 1,000 characters.", SWITCH_SHAPES,
         "422 `SWITCH-VAL-007`", _t(SWITCH_TEST, "test_b_requests_a_objects_and_the_assets_stay")),
    Rule("SWITCH-VAL-008", "A transition exists from the request's state and is the caller's "
         "(holder objects, requester withdraws, the node takes the hand-over steps).",
         "`node/switching/states.py`", "409 `SWITCH-VAL-008`",
         _t(SWITCH_TEST, "test_SWITCH_VAL_008_the_state_machine_names_who_moves_it",
            "test_refusals_and_the_parties_rules")),
    Rule("SWITCH-VAL-009", "A handed-over record is not already held on the receiving node.",
         SWITCHING, "409 `SWITCH-VAL-009`",
         _t(SWITCH_TEST, "test_POL_075_SWITCH_VAL_009_a_hostile_node_cannot_push_records")),
    Rule("SWITCH-VAL-010", "The organisation taking over has a node in the trust directory "
         "(else the request ends `rejected` and the records stay).",
         "`node/switching/peer.py`", "request `rejected`, reason `SWITCH-VAL-010`",
         _t(SWITCH_TEST,
            "test_SWITCH_VAL_010_a_taker_without_a_node_is_rejected_and_the_assets_stay")),
    Rule("SWITCH-VAL-020", "An asset that is a member of a market unit today or later moves "
         "only with its unit (at the request, and again when the hand-over is prepared: the "
         "request then ends `rejected`).", f"{SWITCHING} `_with_carried`", "409 `SWITCH-VAL-020`",
         _t(UNIT_SWITCH_TEST, "test_SWITCH_VAL_020_a_member_asset_moves_only_with_its_unit",
            "test_SWITCH_VAL_021_a_unit_with_a_member_in_another_switch_is_refused")),
    Rule("SWITCH-VAL-021", "A market unit whose member (membership or asset) is in another open "
         "switch request is not requested.", f"{SWITCHING} `_with_carried`",
         "409 `SWITCH-VAL-021`",
         _t(UNIT_SWITCH_TEST,
            "test_SWITCH_VAL_021_a_unit_with_a_member_in_another_switch_is_refused")),
    Rule("SWITCH-VAL-022", "A hand-over moves at most 2,000 records, counting a unit's "
         "memberships and member assets (checked on both nodes).",
         f"{SWITCHING}, `FMAR_SWITCH_MAX_BUNDLE`", "422 `SWITCH-VAL-022`",
         _t(UNIT_SWITCH_TEST,
            "test_SWITCH_VAL_022_a_unit_too_large_for_one_hand_over_is_refused")),
    Rule("SWITCH-VAL-030", "A switch request is in exactly one of its states (requested, "
         "objected, withdrawn, accepted, transferring, staged, rejected, committed, "
         "completed).", SWITCH_SHAPES, "422 `SWITCH-VAL-030`",
         _t(SWITCH_UNIT_TEST, "test_SWITCH_VAL_030_a_request_is_in_one_known_state")),
    Rule("SWITCH-VAL-031", "A switch request states when its notice ends (one xsd:dateTime).",
         SWITCH_SHAPES, "422 `SWITCH-VAL-031`",
         _t(SWITCH_UNIT_TEST, "test_SWITCH_VAL_031_a_request_states_when_its_notice_ends")),
    Rule("SWITCH-VAL-032", "A switch request names one holder (From) and one organisation "
         "taking over (To), and they differ.", SWITCH_SHAPES, "422 `SWITCH-VAL-032`",
         _t(SWITCH_UNIT_TEST,
            "test_SWITCH_VAL_032_a_switch_moves_records_to_another_organisation")),
    Rule("SWITCH-VAL-033", "A switch request's SwitchId is one UUID (its IRI ends with it).",
         SWITCH_SHAPES, "422 `SWITCH-VAL-033`",
         _t(SWITCH_UNIT_TEST, "test_SWITCH_VAL_033_the_switch_id_is_a_uuid")),
    Rule("SWITCH-VAL-034", "A switch request's TargetNode, once known, is one https URL; a "
         "hand-over step naming anything else is refused before it is stored.",
         SWITCH_SHAPES, "422 `SWITCH-VAL-034`",
         _t(SWITCH_UNIT_TEST, "test_SWITCH_VAL_034_the_target_node_is_an_https_url")),
    Rule("SWITCH-404", "The switch request (or staged transfer) exists and the caller is a "
         "party to it.", "`node/records/kind.py` `not_found`, `node/policy.py`",
         "404 `SWITCH-404`", _t(SWITCH_TEST, "test_refusals_and_the_parties_rules")),
    Rule("SWITCH-409", "A record being handed over (request `transferring` or `staged`) does "
         "not change on the holder's node; a unit being handed over takes no new or ended "
         "membership.", f"{SWITCHING} `_guard`", "409 `SWITCH-409`",
         _t(SWITCH_TEST, "test_kill_of_b_at_each_step_then_restart_moves_once")
         + "<br>" + _t(UNIT_SWITCH_TEST,
                       "test_SWITCH_409_a_unit_being_handed_over_takes_no_new_member")),
    Rule("SWITCH-410", "A record that moved in a switch: reads and changes on the old node name "
         "the new one (`details.moved_to`), for those who could read it or hold it now.",
         "`node/records/tombstone.py`", "410 `SWITCH-410`",
         _t(SWITCH_TEST, "test_b_requests_the_notice_passes_and_the_assets_move")),
    Rule("POL-071", "A switch request is read by its two parties and NESO (which reads every "
         "record); anyone else is told it does not exist.",
         "`node/policy.py` `POLICY`", "404 `SWITCH-404`",
         _t(SWITCH_TEST, "test_refusals_and_the_parties_rules")),
    Rule("POL-072", "A switch is requested by an asset-holding organisation, for itself, from "
         "another organisation.", "`node/policy.py` `POLICY`", "403 `POL-072`",
         _t(SWITCH_TEST, "test_refusals_and_the_parties_rules")),
    Rule("POL-073", "Only the holder objects to a switch.", "`node/policy.py` `POLICY`",
         "403 `POL-073`", _t(SWITCH_TEST, "test_refusals_and_the_parties_rules")),
    Rule("POL-074", "Only the requester withdraws a switch.", "`node/policy.py` `POLICY`",
         "403 `POL-074`", _t(SWITCH_TEST, "test_refusals_and_the_parties_rules")),
    Rule("POL-075", "Hand-over calls come from a node with its own token (`switch:transfer`, "
         "never relayed), for an organisation the receiving node holds, from the node of the "
         "records' holder.", f"`node/policy.py` `POLICY`, {SWITCHING}", "403 `POL-075`",
         _t(SWITCH_TEST, "test_POL_075_only_a_node_hands_records_over",
            "test_POL_075_SWITCH_VAL_009_a_hostile_node_cannot_push_records")),
]

# ---------------------------------------------------------------- qualification (issue 12)
QUAL_TEST = "tests/test_qualifications.py"
QUAL_FED_TEST = "tests/federation/test_qualification_federated.py"
QUAL_REGISTER = "`node/kinds/product_register.py`"
_QUAL_SHAPE_TESTS = {
    "QUAL-VAL-001": "test_QUAL_VAL_rules_refuse_a_malformed_application",
    "QUAL-VAL-002": "test_QUAL_VAL_002_a_product_iri_of_another_kind_is_refused",
    "QUAL-VAL-003": "test_QUAL_VAL_rules_refuse_a_malformed_application",
    "QUAL-VAL-004": "test_QUAL_VAL_rules_refuse_a_malformed_application",
    "QUAL-VAL-005": "test_QUAL_VAL_rules_refuse_a_malformed_application",
    "QUAL-VAL-006": "test_QUAL_VAL_rules_refuse_a_malformed_application",
    "QUAL-VAL-007": "test_QUAL_VAL_007_an_application_state_from_its_list",
    "QUAL-VAL-008": "test_QUAL_VAL_rules_refuse_a_malformed_outcome",
    "QUAL-VAL-009": "test_QUAL_VAL_rules_refuse_a_malformed_grid_prequalification",
    "QUAL-VAL-010": "test_QUAL_VAL_rules_refuse_a_malformed_outcome",
    "QUAL-VAL-011": "test_QUAL_VAL_rules_refuse_a_malformed_outcome",
    "QUAL-VAL-012": "test_QUAL_VAL_012_a_granted_qualification_states_valid_from",
    "QUAL-VAL-013": "test_QUAL_VAL_rules_refuse_a_malformed_application",
    "QUAL-VAL-014": "test_QUAL_VAL_009_014_015_by_the_validator",
    "QUAL-VAL-015": "test_QUAL_VAL_009_014_015_by_the_validator",
    "QUAL-VAL-040": "test_QUAL_VAL_rules_refuse_a_malformed_outcome",
}


QUAL_RULES = [
    Rule("QUAL-VAL-020", "A record starts in an initial state (an application `requested`; an "
         "outcome or grid prequalification `requested` or `in_progress`).",
         "`node/kinds/qualifications.py` `INITIAL`", "422 `QUAL-VAL-020`",
         _t(QUAL_TEST, "test_QUAL_VAL_020_a_record_starts_in_an_initial_state")),
    Rule("QUAL-VAL-021", "PUT changes the other fields; `State` and `Reason` change only by a "
         "transition.", "`node/kinds/qualifications.py` `StatefulRecords.replace`",
         "422 `QUAL-VAL-021`", _t(QUAL_TEST, "test_QUAL_VAL_021_put_does_not_change_the_state")),
    Rule("QUAL-VAL-022", "A transition is a move of the kind's table `TRANSITIONS` from the "
         "current state (`details.allowed` lists the moves from it).",
         "`node/kinds/qualifications.py` `TRANSITIONS`", "409 `QUAL-VAL-022`",
         _t(QUAL_TEST, "test_QUAL_VAL_022_a_move_that_is_not_in_the_table")),
    Rule("QUAL-VAL-023", "Moves to `rejected`, `not_approved`, `conditionally_approved` and "
         "`reassessment_required` (and reopening) carry a reason.",
         "`node/kinds/qualifications.py` `TRANSITIONS`", "409 `QUAL-VAL-023`",
         _t(QUAL_TEST, "test_QUAL_VAL_023_a_rejection_needs_a_reason")),
    Rule("QUAL-VAL-024", "A move is made by its party: an application's move to "
         "`reassessment_required` only by the node after a material change of the unit "
         "(a granted outcome's by its operator or the operator's node).",
         "`node/kinds/qualifications.py` `TRANSITIONS`", "409 `QUAL-VAL-024`",
         _t(QUAL_TEST, "test_QUAL_VAL_024_the_fsp_cannot_make_the_nodes_move")),
    Rule("QUAL-VAL-025", "An application names a market unit of the applying FSP held on "
         "this node.", "`node/kinds/qualifications.py` `QualificationApplications.check`",
         "422 `QUAL-VAL-025`",
         _t(QUAL_TEST, "test_QUAL_VAL_025_an_application_names_a_unit_of_the_fsps_on_this_node")),
    Rule("QUAL-VAL-026", "One qualification per application on the operator's node "
         "(re-assessment is a transition, not a new record).",
         "`node/kinds/qualifications.py` `Qualifications.check`", "422 `QUAL-VAL-026`",
         _t(QUAL_TEST, "test_QUAL_VAL_026_one_outcome_per_application")),
    Rule("QUAL-VAL-027", "One grid prequalification per unit and licence area on the DNO's "
         "node.", "`node/kinds/qualifications.py` `GridPrequalifications.check`",
         "422 `QUAL-VAL-027`",
         _t(QUAL_TEST, "test_QUAL_VAL_027_one_grid_prequalification_per_unit_and_area")),
    # the product register (node/kinds/product_register.py), read on the facilitator's node
    Rule("QUAL-VAL-030", "A new application or outcome (or a PUT naming another product) "
         "names a product that is in the product register on the market facilitator's node.",
         f"{QUAL_REGISTER} `ProductRegister.open_product`", "422 `QUAL-VAL-030`",
         _t(QUAL_TEST, "test_QUAL_VAL_030_a_product_not_in_the_register")),
    Rule("QUAL-VAL-031", "The product is open: the register has an `Active` version of it in "
         "force today or later (not only proposed, retired or ended).",
         f"{QUAL_REGISTER} `ProductRegister.open_product`", "422 `QUAL-VAL-031`",
         _t(QUAL_TEST, "test_QUAL_VAL_031_a_withdrawn_proposed_or_ended_product_is_not_open")
         + "<br>" + _t(QUAL_FED_TEST, "test_QUAL_VAL_031_a_product_retired_at_the_facilitator")),
    Rule("QUAL-VAL-032", "A system operator records an outcome only of a product whose "
         "`ProcuringOrganisations` (when the register gives them) name it.",
         f"{QUAL_REGISTER} `check_procurer`", "403 `QUAL-VAL-032`",
         _t(QUAL_TEST, "test_QUAL_VAL_032_an_operator_that_is_not_a_procurer_records_no_outcome")),
    Rule("QUAL-VAL-033", "A DSO product names its `ProcuringAreas` in the register, and a DNO "
         "records its outcomes only if one of its licence areas is among them.",
         f"{QUAL_REGISTER} `check_procurer`", "403 `QUAL-VAL-033`",
         _t(QUAL_TEST, "test_QUAL_VAL_033_a_dno_outside_the_procuring_areas_records_no_outcome")
         + "<br>" + _t(QUAL_FED_TEST, "test_QUAL_VAL_033_a_dno_that_does_not_procure_the_product")),
    Rule("QUAL-VAL-039", "The product register cannot be read (its node, or the directory "
         "naming it, is down): the write is refused and nothing is stored.",
         f"{QUAL_REGISTER} `ProductRegister.terms`, `node/federation/products.py`",
         "503 `QUAL-VAL-039`",
         _t(QUAL_TEST, "test_QUAL_VAL_039_the_register_cannot_be_read_nothing_is_stored")
         + "<br>" + _t(QUAL_FED_TEST, "test_QUAL_VAL_039_the_facilitators_node_is_down")),
    Rule("QUAL-IN-001", "A qualification record is a JSON object.", "`node/inputs.py`",
         "400 `QUAL-IN-001`", _t(QUAL_TEST, "test_QUAL_IN_001_an_application_is_an_object")),
    Rule("QUAL-IN-002", "Only the kind's field names, each one plain value.", "`node/inputs.py`",
         "400 `QUAL-IN-002`", _t(QUAL_TEST, "test_QUAL_IN_unreadable_applications_are_400")),
    Rule("QUAL-IN-003", "Fields the node keeps (the ID, SetBy, Version, Created, Modified) are "
         "not sent.", "`node/inputs.py`", "400 `QUAL-IN-003`",
         _t(QUAL_TEST, "test_QUAL_IN_unreadable_applications_are_400")),
    Rule("QUAL-IN-004", "A transition is `{\"to\": state, \"reason\": text}`; a material "
         "change names a market unit by its IRI.", "`node/kinds/qualifications.py`",
         "400 `QUAL-IN-004`", _t(QUAL_TEST, "test_QUAL_IN_004_a_transition_body_is_to_and_reason")),
    Rule("QUAL-VAL", "Umbrella code of a record refused by its shapes; `details.violations` "
         "lists every rule ID.", "`node/records/refusals.py`", "422 `QUAL-VAL`",
         _t(QUAL_TEST, "test_QUAL_VAL_rules_refuse_a_malformed_application")),
    Rule("QUAL-404", "The record exists and the caller may read it (POL-063, POL-064).",
         "`node/policy.py` `authorise`", "404 `QUAL-404`",
         _t(QUAL_TEST, "test_QUAL_404_an_unknown_or_malformed_id")),
    Rule("QUAL-412", "`If-Match`, when given, is the record's current ETag.",
         "`node/records/unit.py` `check_version`", "412 `QUAL-412`",
         _t(QUAL_TEST, "test_QUAL_412_428_transitions_honour_if_match_when_given")),
    Rule("QUAL-428", "PUT carries `If-Match` (a transition need not).",
         "`node/records/unit.py` `check_version`", "428 `QUAL-428`",
         _t(QUAL_TEST, "test_QUAL_412_428_transitions_honour_if_match_when_given")),
    Rule("POL-060", "Only an FSP (an asset-holding role) applies for qualification, for its "
         "own organisation, and moves its applications.", "`node/policy.py` `POLICY`",
         "403 `POL-060`", _t(QUAL_TEST, "test_POL_060_only_the_fsp_applies_for_its_own_units",
                             "test_POL_060_not_an_fsp_role")),
    Rule("POL-061", "Only the system operator that runs the product records and moves its "
         "qualifications: NESO for NESO products, the DNO of the product's procuring licence "
         "areas (the product register's `ProcuringAreas`) for DSO products.",
         "`node/policy.py` `POLICY`, `node/kinds/qualifications.py` `StatefulRecords.kept`",
         "403 `POL-061`",
         _t(QUAL_TEST, "test_POL_061_an_fsp_cannot_record_an_outcome",
            "test_POL_061_a_dno_cannot_record_an_outcome_for_a_neso_product",
            "test_POL_061_a_transition_not_allowed_to_the_caller")),
    Rule("POL-062", "Only a DNO or IDNO records grid prequalification, for its licence areas.",
         "`node/policy.py` `POLICY`", "403 `POL-062`",
         _t(QUAL_TEST, "test_POL_062_grid_prequalification_by_the_dno_of_the_area")),
    Rule("POL-063", "Qualifications and grid prequalifications are read by the unit's FSP, "
         "NESO and every DNO or IDNO.", "`node/policy.py` `READERS`", "404 `QUAL-404`",
         _t(QUAL_TEST, "test_POL_063_the_fsp_neso_and_dnos_read_outcomes_other_fsps_do_not")),
    Rule("POL-064", "Applications are read by their FSP, by NESO, and by a DNO for the "
         "products it runs.", "`node/policy.py` `READERS`", "404 `QUAL-404`",
         _t(QUAL_TEST, "test_POL_064_applications_are_read_by_the_fsp_and_the_operator_of_the_product")),
    Rule("POL-065", "Qualification records are never deleted; their state says how they "
         "ended.", "`node/policy.py` `POLICY`", "403 `POL-065`",
         _t(QUAL_TEST, "test_POL_065_qualification_records_are_not_deleted")),
    Rule("POL-066", "Only a system operator (NESO, a DNO or IDNO) has a qualification queue.",
         "`node/policy.py` `check_qualification_queue`", "403 `POL-066`",
         _t(QUAL_TEST, "test_POL_066_only_a_system_operator_has_a_queue")),
    Rule("POL-067", "A system operator records qualifications and grid prequalifications on "
         "its own node.", "`node/policy.py` `check_operator_node`", "403 `POL-067`",
         _t(QUAL_TEST, "test_POL_067_an_operator_records_outcomes_on_its_own_node")),
    Rule("POL-096", "The FSP a qualification outcome or a grid prequalification names "
         "changes only by the operator's node itself (actions "
         "`follow-switch-qualification`, `follow-switch-grid-prequalification`), after it "
         "confirmed a unit switch (INBOX-011); the state stays, Reason says why, history "
         "keeps the former FSP.",
         "`node/policy.py` `POLICY`, `node/kinds/qualifications.py` "
         "`StatefulRecords.follow_switch`", "403 `POL-096`",
         _t("tests/test_qualifications.py",
            "test_POL_096_only_the_operators_node_moves_an_outcome_to_a_new_fsp",
            "test_POL_096_only_the_dnos_node_moves_a_grid_prequalification_to_a_new_fsp")
         + "<br>" + _t(UNIT_SWITCH_TEST, "test_a_unit_moves_with_its_memberships_and_members_"
                       "and_its_qualification_follows")),
    Rule("POL-097", "Who holds a market unit (`GET /market-units/{id}/holder`) is told only "
         "to a node's own token (`units:verify`, node certificates only), never relayed, of "
         "a node whose operator the directory lists as NESO, a DNO or IDNO, with that "
         "operator's read rights.", "`node/policy.py` `check_holder_read`",
         "403 `POL-097`/`POL-001`",
         _t(UNIT_SWITCH_TEST,
            "test_POL_097_who_holds_a_unit_is_told_only_to_an_operators_node")),
    Rule("POL-095", "Re-validating a node's stored assets against the shapes in force "
         "(`POST /admin/revalidation`) is asked by a member the node holds, with "
         "assets:write; the answer counts the records the caller may read, and the findings "
         "are read only as counts by rule in the data quality report (never through SPARQL).",
         "`node/policy.py` `check_revalidation`, `node/kinds/revalidation.py`", "403 `POL-095`",
         _t("tests/test_revalidation.py",
            "test_POL_095_revalidation_finds_stored_records_that_fail_the_rules_in_force",
            "test_POL_095_only_a_member_the_node_holds_with_assets_write_revalidates",
            "test_findings_are_never_readable_through_sparql")),
]

KIND_FAMILIES += [
    KindFamily("MU-VAL-", "market_unit.ttl",
               lambda rule: "MU-VAL" if int(rule[-3:]) < 20 else "MUM-VAL", UNITS_TEST,
               lambda rule: _UNIT_SHAPE_TESTS[rule], "## MU: market units and their members\n",
               "SPUs and SPGs (`node/kinds/market_units.py`, members in "
               "`node/kinds/market_unit_members.py`, shapes in `shapes/market_unit.ttl`), held "
               "on the FSP's node; written by the FSP (POL-041), read by the FSP, NESO and the "
               "DNOs of the areas the members span (POL-003).\n", UNIT_RULES),
    KindFamily("QUAL-VAL-0", "qualification.ttl", "QUAL-VAL", QUAL_TEST,
               lambda rule: _QUAL_SHAPE_TESTS[rule], "## QUAL: qualification\n",
               "Applications (held on the FSP's node), qualifications (the outcome, on the node "
               "of the system operator that runs the product) and grid prequalifications (on "
               "the DNO's node): `node/kinds/qualifications.py`, shapes in "
               "`shapes/qualification.ttl`, permissions POL-060..067; across real processes in "
               f"`{QUAL_FED_TEST}`.\n", QUAL_RULES),
]

DISP_TEST = "tests/test_disputes.py"
DISP_FED_TEST = "tests/federation/test_disputes_federated.py"
DISPUTES = "`node/kinds/disputes.py`"
NOTICES = "`node/kinds/dispute_notices.py`"
_DISP_SHAPE_TESTS = {
    "DISP-VAL-001": "test_DISP_VAL_001_005_shapes_refuse_a_bad_record_and_empty_grounds",
    "DISP-VAL-005": "test_DISP_VAL_001_005_shapes_refuse_a_bad_record_and_empty_grounds",
    **{f"DISP-VAL-00{n}": "test_DISP_VAL_002_to_009_the_shapes_check_what_the_node_sets"
       for n in range(2, 10)},
}
DISP_RULES = [
    Rule("DISP-VAL-010", "A dispute starts `open`, with the deadline of that state; the node "
         "sets Record, RecordKind, Holder, HolderNode and OrganisationId.", DISPUTES,
         "422 `DISP-VAL-010`", _t(DISP_TEST, "test_DISP_VAL_010_a_dispute_opens_open_with_a_deadline")),
    Rule("DISP-VAL-011", "PUT changes Grounds only, by the opener, while the dispute is open.",
         DISPUTES, "422/409 `DISP-VAL-011`",
         _t(DISP_TEST, "test_DISP_VAL_011_put_changes_grounds_only_by_the_opener")),
    Rule("DISP-VAL-012", "One active dispute per opening organisation and record on a node.",
         DISPUTES, "422 `DISP-VAL-012`",
         _t(DISP_TEST, "test_DISP_VAL_012_one_active_dispute_per_opener_and_record")),
    Rule("DISP-VAL-013", "A notice names a dispute the sender's node (from the trust "
         "directory) holds: read back there with this node's own token; a forged notice "
         "changes nothing.", NOTICES, "422 `DISP-VAL-013`",
         _t(DISP_FED_TEST, "test_DISP_VAL_013_a_forged_notice_changes_nothing") + "<br>" +
         _t(DISP_TEST, "test_DISP_VAL_013_014_015_017_notices_are_checked_at_the_senders_node")),
    Rule("DISP-VAL-014", "The dispute was opened by the sender's organisation (or one its node "
         "hosts).", NOTICES, "422 `DISP-VAL-014`",
         _t(DISP_TEST, "test_DISP_VAL_013_014_015_017_notices_are_checked_at_the_senders_node")),
    Rule("DISP-VAL-015", "The disputed record is held on the receiving node for the dispute's "
         "holder.", NOTICES, "422 `DISP-VAL-015`",
         _t(DISP_TEST, "test_DISP_VAL_013_014_015_017_notices_are_checked_at_the_senders_node")),
    Rule("DISP-VAL-016", "An organisation does not dispute a record it holds (it corrects "
         "it).", DISPUTES, "422 `DISP-VAL-016`",
         _t(DISP_TEST, "test_DISP_VAL_016_a_holder_does_not_dispute_its_own_record")),
    Rule("DISP-VAL-017", "The dispute's opener (the sender's organisation) may read the "
         "record under its read rule, with its roles and licence areas from the trust directory: "
         "a node cannot mark records its organisation could not dispute.", NOTICES,
         "422 `DISP-VAL-017`",
         _t(DISP_TEST, "test_DISP_VAL_013_014_015_017_notices_are_checked_at_the_senders_node")),
    Rule("DISP-VAL-020", "A move is in the transition table (`TRANSITIONS`).", DISPUTES,
         "409 `DISP-VAL-020`",
         _t(DISP_TEST, "test_DISP_VAL_020_022_024_026_the_holder_responds_the_opener_accepts")),
    Rule("DISP-VAL-021", "A move that needs a reason has one (responding, upholding, "
         "escalating, the facilitator's decisions).", DISPUTES, "409 `DISP-VAL-021`",
         _t(DISP_TEST, "test_DISP_VAL_021_a_response_needs_a_reason")),
    Rule("DISP-VAL-022", "The caller is the party the move belongs to (opener, holder, market "
         "facilitator); `details.rule` names the move's own rule.", DISPUTES,
         "409 `DISP-VAL-022`",
         _t(DISP_FED_TEST, "test_DISP_VAL_022_a_move_by_the_wrong_party_is_refused")),
    Rule("DISP-VAL-023", "open/responded → escalated: the opener or the holder only after the "
         "state's deadline (`FMAR_DISPUTE_DAYS`, default open 10, responded 10, escalated 20 "
         "days); the market facilitator at any time.", DISPUTES, "409 `DISP-VAL-023`",
         _t(DISP_TEST, "test_DISP_VAL_023_028_escalation_after_the_deadline_and_the_facilitator_decides")
         + "<br>" + _t(DISP_FED_TEST, "test_DISP_VAL_022_a_move_by_the_wrong_party_is_refused",
                       "test_DISP_VAL_023_after_the_deadline_the_opener_escalates_to_the_facilitator")),
    Rule("DISP-VAL-024", "open → responded: by the holder, with its answer.", DISPUTES,
         "409 `DISP-VAL-022`/`021`",
         _t(DISP_TEST, "test_DISP_VAL_020_022_024_026_the_holder_responds_the_opener_accepts")),
    Rule("DISP-VAL-025", "→ withdrawn: by the opener (escalated: also the facilitator); the "
         "record's status comes back.", DISPUTES, "409 `DISP-VAL-022`",
         _t(DISP_TEST, "test_DISP_VAL_025_027_the_opener_withdraws_or_finds_it_upheld")),
    Rule("DISP-VAL-026", "responded → corrected: by the opener (or the facilitator) accepting "
         "the correction; the record's status before the dispute comes back.", DISPUTES,
         "409 `DISP-VAL-022`",
         _t(DISP_FED_TEST, "test_DISP_VAL_026_dno_disputes_fsp_asset_fsp_corrects_dno_accepts")),
    Rule("DISP-VAL-027", "responded → upheld: by the opener (or the facilitator), with the "
         "reason; the record stays Query with it.", DISPUTES, "409 `DISP-VAL-022`/`021`",
         _t(DISP_TEST, "test_DISP_VAL_025_027_the_opener_withdraws_or_finds_it_upheld")),
    Rule("DISP-VAL-028", "escalated → corrected or upheld: by the market facilitator, with "
         "the reason.", DISPUTES, "409 `DISP-VAL-022`/`021`",
         _t(DISP_TEST, "test_DISP_VAL_023_028_escalation_after_the_deadline_and_the_facilitator_decides")),
    Rule("DISP-IN-001", "A dispute is opened with {Record, Grounds} at POST /disputes.",
         DISPUTES, "400 `DISP-IN-001`",
         _t(DISP_TEST, "test_DISP_VAL_010_a_dispute_opens_open_with_a_deadline")),
    Rule("DISP-IN-002", "Grounds is a string; only the dispute's field names.", DISPUTES,
         "400 `DISP-IN-002`", _t(DISP_TEST, "test_DISP_IN_002_grounds_is_text")),
    Rule("DISP-IN-003", "Fields the node keeps (DisputeId, SetBy, Version, Created, Modified) "
         "are not sent.", "`node/inputs.py`", "400 `DISP-IN-003`",
         _t(DISP_TEST, "test_DISP_VAL_011_put_changes_grounds_only_by_the_opener")),
    Rule("DISP-IN-004", "A transition is {to, reason}.", DISPUTES, "400 `DISP-IN-004`",
         _t(DISP_TEST, "test_DISP_IN_004_a_transition_names_its_state")),
    Rule("DISP-IN-005", "A notice is {Dispute: <dispute IRI>}.", NOTICES, "400 `DISP-IN-005`",
         _t(DISP_TEST, "test_DISP_VAL_013_014_015_017_notices_are_checked_at_the_senders_node")),
    Rule("DISP-404", "The dispute exists and the caller reads it (POL-086).", DISPUTES,
         "404 `DISP-404`", _t(DISP_FED_TEST, "test_DISP_VAL_022_a_move_by_the_wrong_party_is_refused")),
    Rule("DISP-412", "If-Match names the current version (optional on transitions).", DISPUTES,
         "412 `DISP-412`", _t(DISP_TEST, "test_DISP_VAL_011_put_changes_grounds_only_by_the_opener")),
    Rule("DISP-428", "PUT needs If-Match.", DISPUTES, "428 `DISP-428`",
         _t(DISP_TEST, "test_DISP_VAL_011_put_changes_grounds_only_by_the_opener")),
    Rule("POL-085", "Only a party entitled to read a record opens a dispute on it: its node "
         "reads the record at every node with the caller's own exchanged token (never its "
         "own rights); and only for its own organisation.", "`node/policy.py`, "
         "`node/api/disputes.py` `find_record`", "403 `POL-085`",
         _t(DISP_FED_TEST, "test_POL_085_a_party_that_cannot_read_the_record_cannot_dispute_it")),
    Rule("POL-086", "A dispute is read by its opener, the record's holder, the market "
         "facilitator and NESO (others: 404).", "`node/policy.py` `_dispute_readers`",
         "404 `DISP-404`", _t(DISP_TEST, "test_POL_086_the_parties_read_a_dispute_others_do_not")),
    Rule("POL-087", "Dispute notices come from a node with its own token (`disputes:notify`, "
         "node certificates only), never relayed.", "`node/policy.py` `check_dispute_notice`",
         "403 `POL-087`/`POL-001`",
         _t(DISP_TEST, "test_DISP_VAL_013_014_015_017_notices_are_checked_at_the_senders_node")),
    Rule("POL-088", "A dispute is opened on the opener's own node.",
         "`node/policy.py` `check_dispute_node`", "403 `POL-088`",
         _t(DISP_FED_TEST, "test_POL_088_a_dispute_is_opened_on_the_openers_own_node")),
    Rule("POL-089", "Only the opener, the holder or the market facilitator moves a dispute; "
         "disputes are never deleted.", "`node/policy.py` `POLICY`", "404 `DISP-404` / 403 "
         "`POL-089`", _t(DISP_TEST, "test_POL_089_a_third_party_cannot_move_or_delete_a_dispute")),
]

KIND_FAMILIES += [
    KindFamily("DISP-VAL-00", "dispute.ttl", "DISP-VAL", DISP_TEST,
               lambda rule: _DISP_SHAPE_TESTS[rule], "## DISP: disputes and data correction\n",
               "A party entitled to read a record opens a dispute on it, held on its own node "
               "and pointing at the record's IRI (`node/kinds/disputes.py`, shapes in "
               "`shapes/dispute.ttl`); the holder's node is told by a notice it checks "
               "(`node/kinds/dispute_notices.py`), and the record shows validation status "
               "Query naming the dispute until it is resolved. Permissions POL-085..089; "
               f"across real processes in `{DISP_FED_TEST}`.\n", DISP_RULES),
]

CONSENT_TEST = "tests/test_consents.py"
CONSENT_PROCESS_TEST = "tests/test_consents_process.py"
CONSENT_SWITCH_TEST = "tests/federation/test_consent_switching.py"
CONSENTS = "`node/kinds/consents.py`"
_CONSENT_SHAPE_TESTS = {
    **{f"CONS-VAL-{n:03d}": "test_CONS_VAL_001_to_013_consent_shapes" for n in range(1, 14)},
    **{f"CONS-VAL-{n:03d}": "test_CONS_VAL_014_to_019_the_state_is_kept_by_the_node"
       for n in range(14, 20)},
    "CONS-VAL-029": "test_CONS_VAL_029_an_assets_consent_reference",
}
CONSENT_RULES = [
    Rule("CONS-VAL-020", "One consent per Consent Reference ID on the node.",
         f"{CONSENTS} `Consents.check`", "409 `CONS-VAL-020`",
         _t(CONSENT_TEST, "test_CONS_VAL_020_one_consent_per_reference")),
    Rule("CONS-VAL-021", "A revoked consent is final: not revoked again, not changed.",
         f"{CONSENTS} `Consents.check`", "409 `CONS-VAL-021`",
         _t(CONSENT_TEST, "test_CONS_VAL_021_a_revocation_is_final")),
    Rule("CONS-VAL-022", "An asset at a connection point that needs consent (the node's "
         "FMAR_CONSENT_CATEGORIES at or below FMAR_CONSENT_MAX_KW) names a ConsentReference; "
         "in a bulk book, per row.", f"{CONSENTS} `Consents.covers`", "422 `CONS-VAL-022`",
         _t(CONSENT_TEST, "test_CONS_VAL_022_a_connection_point_that_needs_consent_names_one",
            "test_a_bulk_book_gets_the_same_check_per_row")
         + "<br>" + _t(CONSENT_PROCESS_TEST, "test_the_whole_consent_path_across_processes")),
    Rule("CONS-VAL-023", "The consent named is recorded on this node for the asset's "
         "organisation (another FSP's is as good as none).", f"{CONSENTS} `Consents.covers`",
         "422 `CONS-VAL-023`",
         _t(CONSENT_TEST, "test_CONS_VAL_023_no_such_consent_here_nor_another_fsps")),
    Rule("CONS-VAL-024", "The consent named is not revoked.", f"{CONSENTS} `Consents.covers`",
         "422 `CONS-VAL-024`", _t(CONSENT_TEST, "test_CONS_VAL_024_a_revoked_consent_covers_"
                                  "nothing")),
    Rule("CONS-VAL-025", "The consent is in force today (ValidFrom..ValidTo): not expired, not "
         "yet to come.", f"{CONSENTS} `Consents.covers`", "422 `CONS-VAL-025`",
         _t(CONSENT_TEST, "test_CONS_VAL_025_an_expired_consent_covers_nothing")
         + "<br>" + _t(CONSENT_PROCESS_TEST, "test_the_whole_consent_path_across_processes")),
    Rule("CONS-VAL-026", "The consent's MPAN is one of the asset's (import or export).",
         f"{CONSENTS} `Consents.covers`", "422 `CONS-VAL-026`",
         _t(CONSENT_TEST, "test_CONS_VAL_026_a_consent_for_another_mpan")
         + "<br>" + _t(CONSENT_PROCESS_TEST, "test_the_whole_consent_path_across_processes")),
    Rule("CONS-VAL-027", "The consent's scope covers the action (ScopeRegistration for a "
         "registration, ScopeSwitching for a switch).", f"{CONSENTS} `Consents.covers`",
         "422 `CONS-VAL-027`",
         _t(CONSENT_TEST, "test_CONS_VAL_027_the_consent_covers_registration")),
    Rule("CONS-VAL-028", "An asset arriving in a switch at a connection point that needs "
         "consent comes with the gaining FSP's valid consent covering switching at its MPAN, "
         "held on the gaining node; otherwise the node refuses to stage it and the switch is "
         "rejected with this reason.", f"{CONSENTS} `switch_guard`, "
         "`node/switching/service.py` `stage`", "422 `CONS-VAL-028` (the switch: rejected)",
         _t(CONSENT_SWITCH_TEST, "test_CONS_VAL_028_a_switch_needs_the_gaining_fsps_consent")),
    Rule("CONS-IN-001", "A consent is a JSON object.", "`node/inputs.py`", "400 `CONS-IN-001`",
         _t(CONSENT_TEST, "test_CONS_IN_001_to_003_consent_input")),
    Rule("CONS-IN-002", "Only the consent's field names, one plain value each.",
         "`node/inputs.py`", "400 `CONS-IN-002`",
         _t(CONSENT_TEST, "test_CONS_IN_001_to_003_consent_input")),
    Rule("CONS-IN-003", "ConsentId, SetBy, Version, Created, Modified are kept by the node.",
         "`node/inputs.py`", "400 `CONS-IN-003`",
         _t(CONSENT_TEST, "test_CONS_IN_001_to_003_consent_input")),
    Rule("CONS-IN-004", "ConsentStatus and the revocation fields are not sent: a revocation "
         "sets them.", f"{CONSENTS} `Consents.properties`", "400 `CONS-IN-004`",
         _t(CONSENT_TEST, "test_CONS_VAL_014_to_019_the_state_is_kept_by_the_node")),
    Rule("CONS-IN-005", "A revocation is {Reason?}; a platform's webhook is {id, type: "
         "consent.revoked, ConsentReference, Reason?}.", "`node/api/consents.py`",
         "400 `CONS-IN-005`",
         _t(CONSENT_TEST, "test_CONS_IN_005_and_006_a_revocation_is_reason_only")),
    Rule("CONS-IN-006", "A revocation's Reason is a text of at most 1,000 characters.",
         f"{CONSENTS} `Consents.revoke`", "400 `CONS-IN-006`",
         _t(CONSENT_TEST, "test_CONS_IN_005_and_006_a_revocation_is_reason_only")),
    Rule("CONS-IN-007", "The revocation webhook needs the node's trust anchors "
         "(FMAR_CA_BUNDLE) to verify it.", "`node/api/consents.py`", "401 `CONS-IN-007`",
         _t(CONSENT_TEST, "test_CONS_IN_007_a_node_without_trust_anchors_verifies_no_webhook")),
    Rule("POL-080", "An FSP (asset-holding role) records and changes its own consents only.",
         "`node/policy.py` `_POL_080`", "403 `POL-080`",
         _t(CONSENT_TEST, "test_POL_080_an_fsp_records_only_its_own_consents")),
    Rule("POL-081", "A consent is read (record, list, history, audit, events) only by its FSP "
         "with its own token: never by NESO, a DNO, the regulator or through a relaying node.",
         "`node/policy.py` `_consent_readers`", "404 `CONS-404` (nothing is said of it)",
         _t(CONSENT_TEST, "test_POL_081_nobody_but_the_fsp_reads_a_consent_over_rest")
         + "<br>" + _t(CONSENT_PROCESS_TEST, "test_POL_081_POL_082_neso_and_a_dno_read_no_"
                       "consent_across_processes")
         + "<br>" + _t(CONSENT_SWITCH_TEST, "test_POL_081_the_federation_lists_no_consent")),
    Rule("POL-082", "No SPARQL dataset ever holds a consent's graph, whoever asks (NESO's "
         "everything included), on a node or relayed.", "`node/policy.py` "
         "`is_queryable_graph`, `record_graph_filter`", "— (no rows)",
         _t(CONSENT_TEST, "test_POL_082_no_sparql_query_sees_a_consent")
         + "<br>" + _t(CONSENT_PROCESS_TEST, "test_POL_081_POL_082_neso_and_a_dno_read_no_"
                       "consent_across_processes")
         + "<br>" + _t("tests/test_query_rewrite.py", "test_POL_011_POL_082_the_graph_"
                       "filter_keeps_exactly_the_queryable_graphs")),
    Rule("POL-083", "Consents are never deleted: they are revoked.", "`node/policy.py` "
         "`_POL_083`", "403 `POL-083`",
         _t(CONSENT_TEST, "test_POL_083_a_consent_is_never_deleted")),
    Rule("POL-084", "A consent is revoked by its FSP, or by the consent platform it names "
         "(ConsentPlatform), whose webhook is verified first (EVT-VER-001..005).",
         "`node/policy.py` `_POL_084`, `node/api/consents.py`",
         "404 `CONS-404`; 401 `EVT-VER-*` for a webhook that does not verify",
         _t(CONSENT_TEST, "test_POL_084_only_the_fsp_or_its_platform_revokes")
         + "<br>" + _t(CONSENT_PROCESS_TEST, "test_the_whole_consent_path_across_processes")),
]
KIND_FAMILIES += [
    KindFamily("CONS-VAL-0", "consent.ttl",
               lambda rule: "ARM-VAL" if rule == "CONS-VAL-029" else "CONS-VAL", CONSENT_TEST,
               lambda rule: _CONSENT_SHAPE_TESTS[rule], "## CONS: consumer consent\n",
               "Consents (UC-05.05, `node/kinds/consents.py`, shapes in `shapes/consent.ttl`; "
               "CONS-VAL-029 is the asset's ConsentReference in `shapes/asset.ttl`), held on "
               "the FSP's node and read by nobody else (POL-080..084). A registration (and a "
               "switch's staging) that needs consent is checked against them "
               "(CONS-VAL-022..028); a revocation suspends the assets under it.\n",
               CONSENT_RULES),
]

_HEADER = "| ID | What it checks | Defined in | Error the user sees | Test |\n|---|---|---|---|---|\n"


DELEGATION_TEST = "tests/trust/test_trust_delegation.py"
DELEGATIONS = "`trust/server/delegations.py`"
VERIFIER = "`trust/client/verifier.py`"
PORTAL_RULES = [
    Rule("PORTAL-040", "A category shape sent from the editor is at most 200,000 characters "
         "(not sent to the node otherwise).", "`portal/pages/categories.py`",
         "413 page `PORTAL-040`", _t(PORTAL_RULES_TEST,
                                      "test_PORTAL_040_bad_a_shape_too_long_is_not_sent",
                                      "test_PORTAL_040_bad_without_the_csrf_token_nothing_is_checked")),
    Rule("PORTAL-041", "A report name is 1-64 letters, digits, `_` or `-`; a download is CSV "
         "or XLSX; a chart is `{name}.svg` (only SVG is served, as image/svg+xml).",
         "`portal/pages/reports.py`", "404 page `PORTAL-041`",
         _t(PORTAL_RULES_TEST, "test_PORTAL_041_bad_no_such_report_or_download",
            "test_PORTAL_041_bad_only_svg_charts_are_served")),
    Rule("PORTAL-042", "A download the node did not give is an error page, never an empty "
         "file.", "`portal/pages/reports.py`", "the node's status, page `PORTAL-042`",
         _t(PORTAL_RULES_TEST, "test_PORTAL_042_bad_the_node_gives_no_file")),
]

DELEGATION_RULES = [
    Rule("DEL-001", "Only the delegating organisation's own admin grants or revokes its "
         "delegations (not the platform, another member or the operator).", DELEGATIONS,
         "403 `DEL-001`", _t(DELEGATION_TEST, "test_DEL_001_only_the_fsps_own_admin_grants_and_revokes",
            "test_DEL_001_the_fsps_admin_delegates_and_revokes_with_fmar")),
    Rule("DEL-002", "The platform is an active machine application of another active member.",
         DELEGATIONS, "422 `DEL-002`", _t(DELEGATION_TEST, "test_DEL_002_to_005_what_a_delegation_may_state")),
    Rule("DEL-003", "One or more scopes, each held by the delegating organisation itself.",
         DELEGATIONS, "422 `DEL-003`", _t(DELEGATION_TEST, "test_DEL_002_to_005_what_a_delegation_may_state")),
    Rule("DEL-004", "One or more nodes, each an active node of the federation (its URL).",
         DELEGATIONS, "422 `DEL-004`", _t(DELEGATION_TEST, "test_DEL_002_to_005_what_a_delegation_may_state")),
    Rule("DEL-005", "The expiry is in the future and within 366 days.", DELEGATIONS,
         "422 `DEL-005`", _t(DELEGATION_TEST, "test_DEL_002_to_005_what_a_delegation_may_state")),
    Rule("DEL-006", "The delegation exists (revocation).", DELEGATIONS, "404 `DEL-006`",
         _t(DELEGATION_TEST, "test_DEL_006_an_unknown_delegation_is_not_revoked")),
    Rule("DEL-007", "A revoked delegation is not revoked again.", DELEGATIONS, "409 `DEL-007`",
         _t(DELEGATION_TEST, "test_AUTH_056_revocation_takes_effect_within_the_bound")),
    Rule("DEL-008", "An organisation's delegations, given or received, are seen by its users "
         "and the operator only.", DELEGATIONS, "403 `DEL-008`",
         _t(DELEGATION_TEST, "test_DEL_008_only_the_two_parties_see_a_delegation")),
    Rule("AUTH-050", "Only a platform's machine application asks for a delegated token: never "
         "a node's certificate, never a public client.", DELEGATIONS,
         "400 `AUTH-050` (`unauthorized_client`)",
         _t(DELEGATION_TEST, "test_AUTH_057_a_node_relay_never_becomes_a_delegation")),
    Rule("AUTH-051", "The delegation was granted to this application (and, if `org_id` is "
         "sent, by that organisation).", DELEGATIONS, "400 `AUTH-051` (`invalid_grant`)",
         _t(DELEGATION_TEST, "test_AUTH_051_a_platform_with_no_delegation_is_refused",
            "test_AUTH_051_a_delegation_is_not_used_for_another_fsp")),
    Rule("AUTH-052", "The delegation is active and unexpired, and both parties are Active.",
         DELEGATIONS, "400 `AUTH-052` (`invalid_grant`)",
         _t(DELEGATION_TEST, "test_AUTH_052_an_expired_delegation_is_refused",
            "test_AUTH_056_revocation_takes_effect_within_the_bound")),
    Rule("AUTH-053", "The audience is one of the delegation's nodes.", DELEGATIONS,
         "400 `AUTH-053` (`invalid_target`)",
         _t(DELEGATION_TEST, "test_AUTH_053_a_delegation_is_not_used_at_another_node")),
    Rule("AUTH-054", "The scopes asked for are delegated (and still held by the organisation).",
         DELEGATIONS, "400 `AUTH-054` (`invalid_scope`)",
         _t(DELEGATION_TEST, "test_AUTH_054_a_platform_cannot_ask_for_more_than_was_delegated")),
    Rule("AUTH-055", "A delegated token is never relayed: no `may_act` with a delegation.",
         DELEGATIONS, "400 `AUTH-055` (`invalid_request`)",
         _t(DELEGATION_TEST, "test_AUTH_057_a_node_relay_never_becomes_a_delegation")),
    Rule("AUTH-056", "A node refuses a token whose delegation is on the signed revocation list "
         "(within 2 × `revocation_ttl` + one fetch).", VERIFIER, "401 `AUTH-056`",
         _t(DELEGATION_TEST, "test_AUTH_056_revocation_takes_effect_within_the_bound")),
    Rule("AUTH-057", "A token with `delegation` names in `act` the application it was issued "
         "to, never a node: a relayed token is never a delegation.", VERIFIER, "401 `AUTH-057`",
         _t(DELEGATION_TEST, "test_AUTH_057_a_node_relay_never_becomes_a_delegation")),
    Rule("AUTH-058", "The platform's organisation (`act.org_id`) is Active.", VERIFIER,
         "401 `AUTH-058`",
         _t(DELEGATION_TEST, "test_AUTH_058_a_withdrawn_platform_is_refused_at_the_node")),
    Rule("POL-090", "A platform under a delegation uses the routes its delegated scopes allow, "
         "as the organisation, but not the node's /admin routes.",
         "`node/policy.py` `check_delegated_route`", "403 `POL-090`",
         _t(DELEGATION_TEST, "test_POL_090_a_platform_does_not_use_the_nodes_admin_routes")),
]


PROV_TEST = "tests/federation/test_provenance.py"
ANCHOR_TEST = "tests/federation/test_audit_anchor.py"
_PROV_E2E = "test_PROV_the_client_verifies_the_chain_of_an_fsp_answer_relayed_by_the_neso_node"
PROVENANCE_RULES = [
    Rule("PROV-001", "A provenance record has exactly `ib1:provenance`, `origins`, `steps` "
         "and `certificates`; every step is base64 JSON of a known type.",
         "`node/provenance/verify.py` `verify_record`", "`ProvenanceRejected` `PROV-001`",
         _t(PROV_TEST, "test_PROV_001_002_006_malformed_records_are_refused")),
    Rule("PROV-002", "A signature element is `[0, serial, UTC time, signature]`.",
         "`node/provenance/verify.py` `_check_signature`", "`ProvenanceRejected` `PROV-002`",
         _t(PROV_TEST, "test_PROV_001_002_006_malformed_records_are_refused")),
    Rule("PROV-003", "The certificate of each signature's serial is in `certificates`, under "
         "its own serial.", "`node/provenance/verify.py` `_certificate`",
         "`ProvenanceRejected` `PROV-003`",
         _t(PROV_TEST, "test_PROV_003_a_serial_without_its_certificate_is_refused")),
    Rule("PROV-004", "Each signing certificate chains to the trust framework's CA and was "
         "valid when it signed.", "`node/provenance/verify.py` `_check_signature`",
         "`ProvenanceRejected` `PROV-004`",
         _t(PROV_TEST, "test_PROV_004_a_certificate_not_from_the_trust_frameworks_ca_is_"
            "refused")),
    Rule("PROV-005", "Each signed step list's ES256 signature verifies over the trust "
         "framework URL and its elements (a step altered, removed or reordered fails).",
         "`node/provenance/verify.py` `_check_signature`", "`ProvenanceRejected` `PROV-005`",
         _t(PROV_TEST, "test_PROV_005_an_altered_step_is_found",
            "test_PROV_005_a_removed_or_reordered_step_is_found")),
    Rule("PROV-006", "Steps refer only to earlier steps of the right type; ids are unique; "
         "`origins` lists the origin steps in order.", "`node/provenance/verify.py` "
         "`_check_order`", "`ProvenanceRejected` `PROV-006`",
         _t(PROV_TEST, "test_PROV_001_002_006_malformed_records_are_refused")),
    Rule("PROV-007", "A receipt is signed by the party the transfer went to.",
         "`node/provenance/verify.py` `_check_order`", "`ProvenanceRejected` `PROV-007`",
         _t(PROV_TEST, "test_PROV_007_and_013_a_record_passed_off_as_the_relaying_nodes_is_"
            "refused")),
    Rule("PROV-008", "The answer matches the digests its record signed (all of it, and each "
         "node's rows).", "`node/provenance/verify.py` `check_answer`",
         "`ProvenanceRejected` `PROV-008`",
         _t(PROV_TEST, "test_PROV_008_altered_rows_are_found",
            "test_PROV_an_export_carries_a_record_over_its_exact_bytes",
            "test_PROV_fmar_query_shows_nothing_and_exits_6_when_the_record_does_not_verify")),
    Rule("PROV-009", "The record's last transfer is to the party checking it.",
         "`node/provenance/verify.py` `check_recipient`", "`ProvenanceRejected` `PROV-009`",
         _t(PROV_TEST, "test_PROV_009_a_record_made_for_another_party_is_refused")),
    Rule("PROV-010", "A relaying node checks each node's record (PROV-001..007, PROV-013) "
         "before it adds its receipts; one that fails fails the answer.",
         "`node/provenance/node.py` `Provenance.for_relay`", "502 `PROV-010` (`details.rule`)",
         _t(PROV_TEST, "test_PROV_010_the_relaying_node_refuses_a_tampered_record_from_a_node")),
    Rule("PROV-011", "An answer asked with provenance carries a record for every node that "
         "answered.",
         "`node/provenance/node.py`, `node/provenance/show.py`",
         "502 `PROV-011`; `ProvenanceRejected` `PROV-011`",
         _t("tests/test_provenance.py", "test_PROV_011_an_answer_without_its_record_is_refused")
         + "<br>" + _t(PROV_TEST, "test_PROV_011_rows_of_a_node_without_its_record_are_refused")),
    Rule("PROV-012", "A node asked for provenance can sign (a key, a certificate, a trust "
         "framework).", "`node/provenance/node.py` `required`", "503 `PROV-012`",
         _t("tests/test_provenance.py", "test_PROV_012_a_node_that_cannot_sign_says_so_and_"
            "answers_without_a_record_otherwise")),
    Rule("PROV-013", "Each origin is signed by the node it names, and the record by the node "
         "that was asked.", "`node/provenance/verify.py` `check_signers`",
         "`ProvenanceRejected` `PROV-013`",
         _t(PROV_TEST, "test_PROV_013_steps_signed_by_another_members_certificate_are_refused",
            "test_PROV_007_and_013_a_record_passed_off_as_the_relaying_nodes_is_refused")),
    Rule("PROV-020", "Each signing certificate is a signing certificate of the trust "
         "framework's Signing hierarchy, not a client or server (TLS) certificate.",
         "`node/provenance/verify.py` `_check_signing_certificate`",
         "`ProvenanceRejected` `PROV-020`",
         _t(PROV_TEST, "test_PROV_020_a_record_signed_with_a_client_certificate_is_refused")),
    Rule("PROV-021", "No signing certificate is on the Signing issuer's CRL; the CRL is "
         "fetched and its signature checked, else nothing verifies.",
         "`node/provenance/verify.py` `_check_signing_certificate`, `revoked_serials`; "
         "`node/provenance/node.py` `SigningCrl`", "`ProvenanceRejected` `PROV-021`",
         _t(PROV_TEST, "test_PROV_021_a_record_signed_by_a_revoked_signing_certificate_is_"
            "refused", "test_PROV_021_a_forged_signing_crl_is_refused")),
]

_ANC_WRITE = "test_AUD_ANC_002_003_004_a_published_head_is_never_rewound_or_overwritten"
ANCHOR_RULES = [
    Rule("AUD-ANC-001", "A node that published no head has none to read.",
         "`trust/server/audit_heads.py`", "404 `AUD-ANC-001`", _t(ANCHOR_TEST, _ANC_WRITE)),
    Rule("AUD-ANC-002", "A head is an ES256 JWS of {node, sequence, hash, time} signed with a "
         "valid client certificate this trust framework issued to that node.",
         "`trust/server/audit_heads.py` `verified_head`", "400/403/422 `AUD-ANC-002`",
         _t(ANCHOR_TEST, _ANC_WRITE)),
    Rule("AUD-ANC-003", "A published head is never rewound (a lower sequence).",
         "`trust/server/audit_heads.py` `publish`", "409 `AUD-ANC-003`",
         _t(ANCHOR_TEST, _ANC_WRITE,
            "test_AUD_ANC_003_and_006_a_rewritten_chain_grown_again_is_still_found")),
    Rule("AUD-ANC-004", "A published head is never overwritten (same sequence, another "
         "hash).", "`trust/server/audit_heads.py` `publish`", "409 `AUD-ANC-004`",
         _t(ANCHOR_TEST, _ANC_WRITE)),
    Rule("AUD-ANC-005", "The local chain reaches every published head (newest entries not "
         "removed).", "`node/audit_anchor.py` `check_against`", "`fmar audit verify` exit 1",
         _t(ANCHOR_TEST, "test_AUD_ANC_005_a_truncated_chain_fails_against_the_published_head")),
    Rule("AUD-ANC-006", "The local entry at each published sequence has the published hash.",
         "`node/audit_anchor.py` `check_against`", "`fmar audit verify` exit 1",
         _t(ANCHOR_TEST, "test_AUD_ANC_003_and_006_a_rewritten_chain_grown_again_is_still_found")),
    Rule("AUD-ANC-007", "A published head read back verifies (chains to the CA, this "
         "node's).", "`node/audit_anchor.py` `check_signed`", "`fmar audit verify` exit 1",
         _t(ANCHOR_TEST, "test_AUD_ANC_the_node_publishes_its_signed_head_and_verify_checks_"
            "against_it")),
    Rule("AUD-ANC-008", "With a trust framework set, the published heads can be read (else "
         "the check fails closed).", "`node/cli.py` `_check_anchor`",
         "`fmar audit verify` exit 1", "—"),

]

UPLOAD_AUDIT_TEST = "tests/test_audit_upload.py"
UPLOAD_AUDIT_RULES = [
    Rule("ARM-AUD-001", "An all-or-nothing bulk upload is one chained audit entry with the "
         "Merkle root of its records' (IRI, version, content digest) leaves; a record's "
         "trail shows it with the proof path.", "`node/audit.py` `AuditLog.prepare_upload`, "
         "`trail`", "—",
         _t(UPLOAD_AUDIT_TEST, "test_ARM_AUD_001_a_bulk_upload_is_one_audit_entry")),
    Rule("ARM-AUD-002", "An upload entry's stored leaves still give its Merkle root and "
         "count.", "`node/audit.py` `_upload_problems`", "`fmar audit verify` exit 1",
         _t(UPLOAD_AUDIT_TEST,
            "test_ARM_AUD_002_removing_a_record_from_an_upload_graph_is_detected")),
    Rule("ARM-AUD-003", "Every record an upload entry covers, as stored, still gives its "
         "leaf.", "`node/audit.py` `_upload_problems`", "`fmar audit verify` exit 1",
         _t(UPLOAD_AUDIT_TEST,
            "test_ARM_AUD_003_tampering_with_one_record_of_an_upload_is_detected")),
]

BULK_TEST = "tests/test_bulk_commit.py"
BULK_RULES = [
    Rule("BULK-020", "A large all-or-nothing upload loads each full part of valid records "
         "while the rest is validated, under a pending marker naming them; a failing row, a "
         "failed load or a stop before the commit rolls every loaded part back.",
         "`node/bulk_commit.py` `Upload`", "422 `ARM-BULK` (nothing stored)",
         _t(BULK_TEST, "test_BULK_020_a_large_upload_is_loaded_in_parts_while_it_is_validated",
            "test_BULK_020_a_row_failing_after_parts_were_loaded_leaves_nothing",
            "test_BULK_020_an_upload_stopped_while_still_validating_is_rolled_back")),
    Rule("BULK-021", "Rolling an upload back flushes the store after each bounded "
         "transaction of graph removals, so recovery's memory stays bounded.",
         "`node/bulk_commit.py` `_roll_back`", "—",
         _t(BULK_TEST, "test_BULK_021_an_upload_left_pending_is_rolled_back_when_the_"
            "register_opens")),
]


JOURNAL_TEST = "tests/test_journal.py"
JOURNAL_RULES = [
    Rule("JRN-001", "A change is its journal write (entries, history) then its record write "
         "with the applied marker; what reached the journal for a change that never landed "
         "(a failed record write, a node killed between the two, a large upload stopped "
         "before its commit) is rolled back, at once or when the node opens.",
         "`node/records/journal.py` `settle`, `roll_back`; `node/records/unit.py`",
         "(internal; logged)",
         _t(JOURNAL_TEST, "test_JRN_001_a_node_killed_between_the_journal_and_the_record_write",
            "test_JRN_001_a_failed_record_write_rolls_the_journal_back",
            "test_JRN_001_anything_that_stops_a_write_midway_is_settled_before_the_next",
            "test_JRN_001_a_roll_back_of_many_entries_goes_newest_first",
            "test_JRN_001_a_roll_back_takes_every_graph_the_changes_generated",
            "test_JRN_001_a_crash_before_a_large_upload_commits_takes_its_entry_back",
            "test_JRN_001_an_upload_loaded_while_validated_and_stopped_before_its_commit",
            "test_JRN_001_over_a_sparql_server_the_journal_is_the_same_dataset")),
    Rule("JRN-002", "Readers of the audit log (trail, history, `fmar audit verify`) stop at "
         "the committed head (the unit's, or the record store's applied marker): never the "
         "entry of a change still landing.", "`node/audit.py` `entries(upto=)`",
         "(internal)",
         _t(JOURNAL_TEST,
            "test_JRN_002_readers_never_see_the_entry_of_a_change_still_landing")),
    Rule("JRN-003", "A journal that ends before the record store's applied marker (restored "
         "from an older backup) is reported when the node opens.",
         "`node/records/journal.py` `settle`", "(logged; `fmar audit verify`)",
         _t(JOURNAL_TEST, "test_JRN_003_a_journal_behind_the_records_is_reported")),
    Rule("JRN-004", "The record store holds current records only: history versions, the "
         "audit log, upload leaves and carried audit entries are in the journal, which "
         "record queries never scan.", "`node/records/journal.py` `split`", "(internal)",
         _t(JOURNAL_TEST, "test_JRN_004_the_record_store_holds_current_records_only",
            "test_JRN_004_the_applied_marker_stays_small")),
    Rule("JRN-005", "A data directory of before the journal is moved once when the node "
         "opens: journal graphs copied, then dropped from the record store with the marker "
         "set; a move stopped half-way is redone.", "`node/records/journal.py` `move`",
         "(internal; logged)",
         _t(JOURNAL_TEST,
            "test_JRN_005_a_data_directory_of_before_the_journal_is_moved_once",
            "test_JRN_005_a_move_stopped_half_way_is_redone",
            "test_JRN_005_the_move_keeps_the_log_as_it_was_gaps_and_edits_included")),
]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


PORTAL_MARKETS_TEST = "tests/browser/test_portal_markets.py"
PORTAL_RULES = [
    Rule("PORTAL-020", "An upload form (connection limits, XLSX) is sent with a file and a "
         "mode.", "`portal/pages/connection_limits.py`, `portal/pages/bulk_xlsx.py`",
         "400 page `PORTAL-020`",
         _t(PORTAL_MARKETS_TEST, "test_PORTAL_020_an_upload_without_a_file_is_refused")),
    Rule("PORTAL-021", "An XLSX upload is a workbook openpyxl can read (its first sheet, at "
         "most 100,000 rows).", "`portal/xlsx.py` `to_csv`", "the upload page says `PORTAL-021`",
         _t("tests/test_portal_xlsx.py",
            "test_PORTAL_021_a_file_that_is_no_workbook_is_refused")),
]


def _table(rules: list[Rule]) -> str:
    return _HEADER + "".join(
        f"| `{r.rule}` | {_cell(r.checks)} | {r.where} | {r.error} | {r.tests} |\n" for r in rules
    )


def render() -> str:
    core, categories = shacl_rules()
    parts = [
        "# FMAR rule catalogue\n",
        ("Every rule a node enforces, by stable ID. The ID is in the shape or code that defines "
        "the rule, in the error the user sees, here, and in the name of the test that exercises "
        "it (`pytest -k <ID>`).\n"),
        ("**Generated** by `tests/rule_catalogue.py` from `shapes/` and the rule corpus in "
        "`tests/test_rules.py`; do not edit by hand. After changing a shape or a rule, run "
        "`.venv/bin/python -m tests.rule_catalogue` (`tests/test_rules.py` fails while this "
        "page is stale).\n"),
        ("¹ A single write refused by SHACL or catalogue rules gets HTTP 422 with `code` "
        "`ARM-VAL` and `details.violations[]`, each with `rule` (the ID below), `focus`, "
        "`path`, `value` and `message` (which starts with `[ID]`); nothing is stored. In a bulk "
        "upload the same violations appear per row in an `ARM-BULK` report (422 all-or-nothing, "
        "207 store-valid).\n"),
        "## ARM-VAL: core asset rules\n",
        ("Core shape `fshape:Asset` (SHACL Core in pyshacl, `sh:sparql` constraints in "
        "Oxigraph; pyshacl alone is the reference, checked by "
        "`tests/test_rules.py::test_reference_equivalence_with_pyshacl`), plus the two "
        "catalogue rules decided in `node/kinds/asset_records.py`.\n"),
        _table(core),
        ("Messages say what is wrong with the value sent: a value that is not a number, date or "
        "boolean says so (once, not also as out of range); a code-list rule names the code sent "
        "and lists the allowed codes (also in `allowed`), and says when the code exists in "
        "Elexon's list but is inactive; ARM-VAL-021 states the distributor ID the DNO's MPANs "
        "begin with. Each (rule, path, value) is reported once.\n"),
        "## ARM-CAT: asset category rules\n",
        ("Each category's shape targets assets of that category (the node types each submitted "
        "asset with its `AssetCategory` for validation). Categories are managed at run time "
        "(`/categories`); the ones below are those a new node is seeded with. They judge an "
        "asset from Elexon's own attributes (MPANs, capacities, code lists); FMAR's "
        "`CanImport`, `CanExport` and `V2GCapable` are optional hints that may not contradict "
        "them. No seeded category is exempt from ARM-VAL-033 (at least one MPAN). "
        "`tests/corpus/elexon_assets.csv` is a corpus of records in Elexon's columns with the "
        "outcome each must get, run through a node by `tests/test_corpus.py`.\n"),
    ]
    for file in sorted(categories):
        code = Path(file).stem
        parts.append(f"### {code}\n")
        parts.append(_table(sorted(categories[file], key=lambda r: _sort_key(r.rule))))
    parts += [
        "## ARM-IN: reading the submitted body\n",
        "Checked before any SHACL rule; a single write stops at the first input error.\n",
        _table(INPUT_RULES),
        "## CAT-DEF: category definitions\n",
        _table(CATDEF_RULES),
        *(part for family in KIND_FAMILIES for part in (
            family.title, family.intro, _table(family.shape_rules + family.rules))),
        "## ELIG: eligibility of a market unit for a product\n",
        ("Each product version's requirements become a SHACL shape over the unit's "
         "capability; each requirement answers met, not met (with the unit's value, the "
         "required value and a sentence) or cannot tell (naming the attribute to add). A "
         "product that states no figure asks nothing of it.\n"),
        _table(ELIGIBILITY_RULES),
        "## ARM-4xx, ARM-VS, ARM-BULK: the register\n",
        _table(REGISTER_RULES),
        "## POL: permissions\n",
        "Decided in `node/policy.py` only; exercised through the API in `tests/test_api.py`.\n",
        _table(POLICY_RULES),
        "## EVT: events\n",
        ("The outbox, feed, subscriptions and webhooks (`node/events/`, docs/design.md "
         "\"Events\"); EVT-VER-* are raised by the receiver's verification, "
         "`node/events/verify.py`.\n"),
        _table(EVENT_RULES),
        "## PROV: provenance records\n",
        ("Signed provenance records (IB1 provenance-records/1.0) on node and federated "
         "answers, and their verification (`node/provenance/`, docs/design.md "
         "\"Provenance\").\n"),
        _table(PROVENANCE_RULES),
        "## AUD-ANC: anchoring the audit chain\n",
        ("Signed audit heads published to the trust framework, kept append-only "
         "(`trust/server/audit_heads.py`), checked by `fmar audit verify` "
         "(`node/audit_anchor.py`).\n"),
        _table(ANCHOR_RULES),
        "## ARM-AUD: one audit entry per bulk upload\n",
        ("An all-or-nothing bulk upload commits to its records by a Merkle root "
         "(`node/merkle.py`, docs/design.md \"Audit\").\n"),
        _table(UPLOAD_AUDIT_RULES),
        "## BULK: committing a large upload\n",
        ("All-or-nothing uploads too large for one store transaction (`node/bulk_commit.py`, "
         "docs/design.md \"Bulk registration\").\n"),
        _table(BULK_RULES),
        "## JRN: the journal (history and audit out of the record store)\n",
        ("History versions and the audit log in a store of their own, written before the "
         "records and committed by the records' applied marker (`node/records/journal.py`, "
         "docs/design.md \"Storage\").\n"),
        _table(JOURNAL_RULES),
        "## SDC: disclosure control of aggregate-only answers\n",
        ("The regulator's aggregates (POL-013), computed at each node before its answer "
         "leaves it; the method and its residual risk are in `docs/disclosure.md`.\n"),
        _table(SDC_RULES),
        "## REP: reports\n",
        ("Report definitions (built in, in a file, or saved as records of the kind "
         "`report-definition`, `/report-definitions`), each node's part of a report and the "
         "report routes and commands (`node/reports/`, docs/reports.md). A saved "
         "definition's content rules (REP-VAL-003..007) answer 422 with their own code.\n"),
        _table(REPORT_RULES),
        "## REQ: requests\n",
        _table(REQUEST_RULES),
        "## IDX: the listing and aggregation index\n",
        ("A projection of the asset records kept in step by the audit sequence "
         "(`node/index/`, docs/design.md \"The listing index\").\n"),
        _table(INDEX_RULES),
        "## SPARQL, FED, FED-IN: queries and the federation\n",
        ("Listed in [federation.md](federation.md#error-codes); each is asserted exactly, with "
        "a control that succeeds, in `tests/test_codes.py` (`pytest -k SPARQL_007`, "
        "`-k FED_IN`, ...) and, for a real federation, `tests/federation/`.\n"),
        _table(FEDERATION_RULES),
        "## SWITCH: switching records between nodes\n",
        ("Switch requests and the hand-over (`node/switching/`, docs/design.md "
         "\"Switching\"), with the permissions they need (POL-071..045).\n"),
        _table(SWITCH_RULES),
        "## DEL: third-party platforms acting for an FSP (UC-05.04)\n",
        ("The delegation record in the trust framework's directory, the delegated token and "
         "the node's checks (docs/trust.md \"Third-party platforms\"); a write outside the "
         "delegated scopes is POL-001, for another organisation POL-002 or POL-030.\n"),
        _table(DELEGATION_RULES),
        "## INBOX: signed webhooks received by a node\n",
        ("`POST /inbox/events` (`node/events/inbox.py`, docs/api.md \"Events\"): a system "
         "operator's node acting on the FSP nodes' material composition changes.\n"),
        _table(INBOX_RULES),
        "## PORTAL: the web portal's own refusals\n",
        ("The portal (`portal/`, docs/portal.md) passes every other refusal on from the node "
         "with the node's rule ID; these it makes itself, before or instead of calling it.\n"),
        _table(PORTAL_RULES),
        "## CLI: the `fmar` command\n",
        ("A mistake prints one line, `fmar: error <ID>: <message> Hint: <what to do>`; the "
         "exit codes are in [operator.md](operator.md#what-fmar-returns).\n"),
        _table(CLI_RULES),
        "## PORTAL: the web portal's own checks\n",
        ("The portal decides no permission; these are its own checks of what a page is "
         "sent (docs/portal.md). Every other code it shows is the node's.\n"),
        _table(PORTAL_RULES),
    ]
    return "\n".join(parts)


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if DOC.read_text() != text:
            print("docs/rules.md is stale; run .venv/bin/python -m tests.rule_catalogue")
            return 1
        return 0
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text)
    print(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
