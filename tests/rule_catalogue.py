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
from dataclasses import dataclass
from pathlib import Path

from rdflib import Graph
from rdflib.term import Node

from node.vocab import FMAR, SH, SHAPES_DIR

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "rules.md"

SHACL_ERROR = "422 `ARM-VAL`¹"
RECORDS = "node/records.py"
RULES_TEST = "tests/test_rules.py"
API_TEST = "tests/test_api.py"
INPUT_TEST = "tests/test_inputs.py"
CONTRACT_TEST = "tests/test_contract.py"

# Constraint parameters worth naming in the "checks" column.
_KEYS = {
    SH.minCount: "minCount", SH.maxCount: "maxCount", SH.datatype: "datatype",
    SH.nodeKind: "nodeKind", SH.pattern: "pattern", SH.minLength: "minLength",
    SH.maxLength: "maxLength", SH.minInclusive: "minInclusive", SH.minExclusive: "minExclusive",
    SH.maxInclusive: "maxInclusive", SH["in"]: "in", SH.hasValue: "hasValue",
    SH.lessThanOrEquals: "lessThanOrEquals",
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
    files = [SHAPES_DIR / "asset.ttl", *sorted((SHAPES_DIR / "categories").glob("*.ttl"))]
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


def shacl_rules() -> tuple[list[Rule], dict[str, list[Rule]]]:
    """(ARM-VAL rules, {category file: ARM-CAT rules}), from the shapes."""
    shapes = _shape_rules()
    tests = _corpus_tests()
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
         "`node/register.py` `_safe_id`", "400 `ARM-IN-010`",
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
         "`node/categories.py` `category_from_graph`", "422 `CAT-DEF-001`",
         _t(RULES_TEST, "test_CAT_DEF_bad[CAT-DEF-001-two-concepts]")
         + "<br>" + _t(API_TEST, "test_malformed_category_definitions")),
    Rule("CAT-DEF-002", "The code (`skos:notation`) is 1-40 capitals, digits or `_`, the concept "
         "IRI is `…/AssetCategory/{code}`, and a PUT body's code matches the URL.",
         "`node/categories.py`; `node/register.py` `save_category`", "422 `CAT-DEF-002`",
         _t(RULES_TEST, "test_CAT_DEF_bad[CAT-DEF-002-lower-case-code]")),
    Rule("CAT-DEF-003", "`fmar:categoryShape` names a node shape that targets the category "
         "(`sh:targetClass`).", "`node/categories.py`", "422 `CAT-DEF-003`",
         _t(RULES_TEST, "test_CAT_DEF_bad[CAT-DEF-003-wrong-target]")),
    Rule("CAT-DEF-004", "Every property shape of the category shape carries `fmar:ruleId`.",
         "`node/categories.py`", "422 `CAT-DEF-004`",
         _t(RULES_TEST, "test_CAT_DEF_bad[CAT-DEF-004-no-rule-id]", "test_CAT_DEF_ok_valid_definition")),
    Rule("CAT-DEF-005", "The category shape compiles together with the node's shapes, and "
         "every `sh:pattern` is a regular expression SPARQL's REGEX can run.",
         "`node/register.py` `_check_shape_compiles`, `node/validation.py` `_check_pattern`",
         "422 `CAT-DEF-005`", _t(RULES_TEST, "test_CAT_DEF_005_bad_sparql_constraint",
                                 "test_CAT_DEF_005_bad_pattern",
                                 "test_CAT_DEF_005_bad_pattern_sparql_cannot_run",
                                 "test_CAT_DEF_005_ok_valid_shape_is_saved")),
    Rule("CAT-DEF-006", "A definition holds only its concept, its node shape and their blank "
         "nodes: it cannot change the core shape or another category.",
         "`node/categories.py` `_check_only_own_triples`", "422 `CAT-DEF-006`",
         _t(RULES_TEST, "test_CAT_DEF_006_bad_definition_touching_other_shapes")),
    Rule("CAT-404", "The category exists (GET, PUT, deprecate).", "`node/register.py`, "
         "`node/api/categories.py`", "404 `CAT-404`", _t(API_TEST, "test_categories_managed_at_run_time")),
    Rule("CAT-409", "POST does not overwrite an existing category (use PUT).", "`node/register.py`",
         "409 `CAT-409`", _t(API_TEST, "test_categories_managed_at_run_time")),
]

REGISTER_RULES = [
    Rule("ARM-VAL", "Umbrella code of a write refused by SHACL or catalogue rules; "
         "`details.violations` lists every rule ID, focus, path, value and message.",
         "`node/register.py` `validation_failed`", "422 `ARM-VAL`",
         _t(API_TEST, "test_validation_failure_lists_every_violation_and_stores_nothing")),
    Rule("ARM-404", "The asset exists and the caller may read it (an asset of another "
         "organisation answers the same as a missing one, for reads and writes alike, before "
         "any If-Match check).", "`node/register.py`, `node/policy.py` `check_change_asset`",
         "404 `ARM-404`", _t(API_TEST, "test_fsp_cannot_read_or_write_another_fsps_asset",
                             "test_nothing_is_revealed_to_a_writer_who_may_not_read")),
    Rule("ARM-409", "A de-registered asset is not changed or de-registered again.",
         "`node/register.py`", "409 `ARM-409`", _t(API_TEST, "test_deregistration_is_soft")),
    Rule("ARM-412", "`If-Match` equals the asset's current ETag.", "`node/register.py`",
         "412 `ARM-412`", _t(API_TEST, "test_put_and_patch_need_the_current_etag",
                             "test_two_writers_racing_one_wins_one_gets_412")),
    Rule("ARM-428", "PUT and PATCH carry `If-Match`.", "`node/register.py` `_change`",
         "428 `ARM-428`", _t(API_TEST, "test_put_and_patch_need_the_current_etag")),
    Rule("ARM-VS-001", "A validation status is Pending, Verified or Query.", "`node/register.py`",
         "422 `ARM-VS-001`", _t(API_TEST, "test_validation_status_set_by_authorised_parties_only")),
    Rule("ARM-VS-002", "A Query status has a reason.", "`node/register.py`", "422 `ARM-VS-002`",
         _t(API_TEST, "test_validation_status_set_by_authorised_parties_only")),
    Rule("ARM-BULK", "Bulk report when a row fails: all-or-nothing stores nothing (422), "
         "store-valid stores the valid rows (207); `details.errors[]` has each row's violations.",
         "`node/api/assets.py` `register_bulk`", "422 or 207 `ARM-BULK`",
         _t(API_TEST, "test_bulk_all_or_nothing_with_a_bad_row_stores_nothing",
            "test_bulk_store_valid_mode_and_ndjson")),
    Rule("ARM-DUP-001", "No second asset with the same import or export MPAN and serial "
         "number anywhere in the federation or earlier in the same upload (keyed hashes only "
         "cross the network; when the node has a federation key).",
         "`node/api/assets.py` `_refuse_duplicate`, `node/federation/duplicates.py`",
         "409 `ARM-DUP-001` (holder organisations)",
         _t(API_TEST, "test_a_duplicate_mpan_and_serial_is_refused",
            "test_bulk_rows_duplicating_an_asset_or_an_earlier_row_are_refused")
         + "<br>" + _t("tests/federation/test_federation.py",
                       "test_registering_a_duplicate_anywhere_in_the_federation_is_refused")),
    Rule("STORE-001", "The store completed the write (else nothing of that write is stored).",
         "`node/register.py` `store_unavailable`", "503 `STORE-001`",
         _t("tests/test_bulk_commit.py", "test_a_failed_load_is_rolled_back")),
]

POLICY_RULES = [
    Rule("POL-001", "The access token carries the scope the operation needs.", "`node/policy.py`",
         "403 `POL-001`", _t(API_TEST, "test_missing_scope_is_refused")),
    Rule("POL-002", "Only an FSP, aggregator, asset owner or platform writes assets, and only "
         "its own organisation's.", "`node/policy.py` `check_write_asset`", "403 `POL-002`",
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
    Rule("POL-006", "An audit trail is read with `audit:read` by those who may read the record.",
         "`node/policy.py` `check_read_audit`", "403 `POL-001` (scope) or 404 `ARM-404`",
         _t(API_TEST, "test_missing_scope_is_refused", "test_audit_trail_of_a_record")),
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
    Rule("REQ-001", "Query and path parameters are valid (FastAPI validation; the enums "
         "and patterns of the OpenAPI document).",
         "`node/errors.py`", "422 `REQ-001`",
         _t(CONTRACT_TEST, "test_REQ_001_validation_status_filter_is_one_of_the_statuses")),
    Rule("HTTP-405", "A path answers only the methods its OpenAPI entry lists; `Allow` names "
         "them.", "`node/errors.py` `allowed_methods`", "405 `HTTP-405` with `Allow`",
         _t(CONTRACT_TEST, "test_HTTP_405_names_every_method_of_the_path_in_allow")),
]

_HEADER = "| ID | What it checks | Defined in | Error the user sees | Test |\n|---|---|---|---|---|\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


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
        "catalogue rules decided in `node/records.py`.\n"),
        _table(core),
        "## ARM-CAT: asset category rules\n",
        ("Each category's shape targets assets of that category (the node types each submitted "
        "asset with its `AssetCategory` for validation). Categories are managed at run time "
        "(`/categories`); the ones below are those a new node is seeded with.\n"),
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
        "## ARM-4xx, ARM-VS, ARM-BULK: the register\n",
        _table(REGISTER_RULES),
        "## POL: permissions\n",
        "Decided in `node/policy.py` only; exercised through the API in `tests/test_api.py`.\n",
        _table(POLICY_RULES),
        "## REQ: requests\n",
        _table(REQUEST_RULES),
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
