"""Provenance on a single node without a signing key, and a client given an answer with no
record (the federation cases are in tests/federation/test_provenance.py)."""

from __future__ import annotations

import httpx
import pytest

from node.config import NodeSettings
from node.identity import Caller
from node.provenance.record import REQUEST_HEADER, signature_data
from node.provenance.show import verify_answer
from node.provenance.verify import ProvenanceRejected
from tests.conftest import start_node, token_for


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    reader = Caller("dan@neso", "NESO", frozenset({"NESO"}),
                    frozenset({"assets:read", "sparql:query"}))
    running = start_node(NodeSettings(data_dir=tmp_path_factory.mktemp("node"), workers=1),
                         {"reader": reader})
    yield running
    running.stop()


def test_PROV_012_a_node_that_cannot_sign_says_so_and_answers_without_a_record_otherwise(node):
    headers = {"Authorization": f"Bearer {token_for('reader')}"}
    plain = httpx.get(f"{node.url}/query/assets", headers=headers, timeout=30)
    assert plain.status_code == 200 and "provenance" not in plain.json()
    for path in ("/query/assets", "/query/aggregate"):
        asked = httpx.get(f"{node.url}{path}", headers={**headers, REQUEST_HEADER: "include"},
                          timeout=30)
        assert (asked.status_code, asked.json()["code"]) == (503, "PROV-012"), asked.text


def test_PROV_011_an_answer_without_its_record_is_refused():
    answer = {"results": {"bindings": []}}
    for relayed in (None, "https://node.example"):
        with pytest.raises(ProvenanceRejected) as caught:
            verify_answer(answer, [], set(), {}, relayed)
        assert caught.value.code == "PROV-011"


def test_the_signature_data_frames_nested_lists_as_the_spec_says():
    data = signature_data("https://tf.example", ["a", ["b", [0, "7", "T", "s"]], "c"])
    assert data == b"https://tf.example.a.%.b.%.0.7.T.s.&.&.c"
