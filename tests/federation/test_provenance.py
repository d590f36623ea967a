"""Provenance records end to end (IB1 provenance-records/1.0): an FSP node, a NESO node
answering a federated query and the `fmar` client are three processes (with the trust
framework's); the client verifies the chain. Then the records are attacked: every
tampering is caught with its rule ID."""

from __future__ import annotations

import base64
import copy
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from examples.generate import assets
from node.events.signing import WebhookSigner
from node.events.verify import load_anchors
from node.federation.engine import NodeTarget
from node.provenance.node import Provenance, SigningCrl
from node.provenance.record import certificates_of, decode_step, encode_step, sign_list
from node.provenance.show import names_of, verify_answer
from node.provenance.verify import ProvenanceRejected
from tests.harness.federation import LocalFederation
from tests.harness.processes import RATE_LIMITS_OFF, clean_env

FMAR = str(Path(sys.executable).parent / "fmar")


class ProvFed:
    def __init__(self, local: LocalFederation):
        self.local = local

    def env(self, who: str) -> dict[str, str]:
        m = self.local.members[who]
        return clean_env(FMAR_TRUST_URL=self.local.issuer,
                         FMAR_CA_BUNDLE=str(self.local.ca_bundle), FMAR_CLIENT_ID=m.app_id,
                         FMAR_CLIENT_CERT=str(m.cert), FMAR_CLIENT_KEY=str(m.key))

    def fmar(self, who: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([FMAR, *args], env=self.env(who), capture_output=True,
                              text=True, timeout=120, check=False)

    @property
    def anchors(self) -> list[x509.Certificate]:
        return load_anchors(self.local.ca_bundle)

    def me(self, who: str) -> set[str]:
        cert = x509.load_pem_x509_certificates(self.local.members[who].cert.read_bytes())[0]
        return names_of(cert)

    def directory(self) -> dict[str, str]:
        return {n.url: f"{self.local.issuer}/n/{n.node_id}" for n in self.local.nodes.values()}

    def signer_of(self, node: str, kind: str = "signing") -> WebhookSigner:
        """The node's signer: its signing certificate (or, `kind="client"`, its mTLS
        client certificate, which signs no records)."""
        d = self.local.nodes[node].data_dir
        return WebhookSigner.from_files(d / f"{kind}.key", d / f"{kind}.pem",
                                        self.local.ca_bundle)

    def revoked(self) -> frozenset[int]:
        """The serials of the trust framework's Signing CRL, fetched now."""
        return SigningCrl(self.local.issuer, self.local.ca_bundle, tuple(self.anchors),
                          ttl=0).serials()


@pytest.fixture(scope="module")
def pf(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProvFed]:
    local = LocalFederation(tmp_path_factory.mktemp("provenance"),
                            node_env={"FMAR_NODE_DEADLINE": "5", **RATE_LIMITS_OFF},
                            trust_env=RATE_LIMITS_OFF)
    try:
        local.start_trust()
        flexco = local.register_member("Flexco", ["FSP"])
        neso = local.register_member("Neso", ["NESO"])
        local.register_member("Gridco", ["DNO"], dno_areas=["UKPN_EPN"])
        fsp = local.add_node("fsp", flexco)
        local.add_node("neso", neso)
        local.load_assets(fsp, list(assets(30, flexco.org_id, seed=5, dnos=["UKPN_EPN"])))
        local.start_nodes()
        yield ProvFed(local)
    finally:
        local.stop()


@pytest.fixture(scope="module")
def relayed(pf: ProvFed) -> dict[str, Any]:
    """A federated answer of the NESO node, with its provenance, as the client got it."""
    done = pf.fmar("Neso", "query", "--via", pf.local.nodes["neso"].url, "--provenance",
                   "-f", "limit=50", "-o", "json")
    assert done.returncode == 0, done.stderr
    return {"answer": json.loads(done.stdout), "stderr": done.stderr}


def _check(pf: ProvFed, answer: dict[str, Any], via: str | None = "neso") -> Any:
    url = pf.local.nodes[via].url if via else None
    return verify_answer(answer, pf.anchors, pf.me("Neso"), pf.directory(), url,
                         pf.revoked())


def test_PROV_the_client_verifies_the_chain_of_an_fsp_answer_relayed_by_the_neso_node(pf,
                                                                                     relayed):
    answer, stderr = relayed["answer"], relayed["stderr"]
    fsp, neso = pf.local.nodes["fsp"], pf.local.nodes["neso"]
    assert "provenance VERIFIED" in stderr
    rows = [b for b in answer["results"]["bindings"] if b["_node"]["value"] == fsp.url]
    assert len(rows) == 30
    [record] = answer["provenance"]
    assert record["ib1:provenance"] == pf.local.issuer
    assert set(record) == {"ib1:provenance", "origins", "steps", "certificates"}
    [steps] = _check(pf, answer)
    by_type = {(s.depth, s.step["type"], s.signer) for s in steps}
    fsp_dir, neso_dir = pf.directory()[fsp.url], pf.directory()[neso.url]
    # the FSP node's steps, as it signed them, inside the NESO node's record
    assert {(1, "permission", fsp_dir), (1, "origin", fsp_dir),
            (1, "transfer", fsp_dir)} <= by_type
    # the NESO node's own: a receipt of every transfer to it, the merge, the transfer to us
    assert {(0, "receipt", neso_dir), (0, "process", neso_dir),
            (0, "transfer", neso_dir)} <= by_type
    fsp_origin = next(s.step for s in steps if s.step.get("fmar:node") == fsp.url)
    assert fsp_origin["fmar:rows"] == 30 and fsp_origin["origin"] == fsp.url
    fsp_transfer = next(s.step for s in steps if s.depth == 1 and s.step["type"] == "transfer"
                        and s.step["of"] == fsp_origin["id"])
    assert fsp_transfer["to"] == neso_dir  # to the relaying node, not to us
    last = [s.step for s in steps if s.depth == 0][-1]
    assert last["type"] == "transfer" and last["to"] in pf.me("Neso")
    # every signature element carries the serial of a certificate in the record
    for s in steps:
        assert s.serial in record["certificates"] and s.signed_at.endswith("Z")
    # the serials are those of the nodes' own certificates
    assert {s.serial for s in steps} == {str(pf.signer_of(n).certificate.serial_number)
                                         for n in ("fsp", "neso")}


def test_PROV_the_client_asking_every_node_itself_verifies_one_record_per_node(pf):
    done = pf.fmar("Neso", "query", "--provenance", "-f", "limit=50", "-o", "json")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert len(answer["provenance"]) == 2  # the FSP node and the NESO node
    checked = _check(pf, answer, via=None)
    assert all(s.depth == 0 for steps in checked for s in steps)
    aggregate = pf.fmar("Neso", "query", "--via", pf.local.nodes["neso"].url, "--provenance",
                        "--aggregate", "category", "-o", "json")
    assert aggregate.returncode == 0, aggregate.stderr
    _check(pf, json.loads(aggregate.stdout))


def _steps(record: dict[str, Any]) -> list[Any]:
    return record["steps"]


def _fsp_list(record: dict[str, Any]) -> list[Any]:
    return next(e for e in _steps(record) if isinstance(e, list))


def _rejected(pf: ProvFed, answer: dict[str, Any], code: str, via: str | None = "neso") -> None:
    with pytest.raises(ProvenanceRejected) as caught:
        _check(pf, answer, via)
    assert caught.value.code == code, caught.value


def test_PROV_005_an_altered_step_is_found(pf, relayed):
    answer = copy.deepcopy(relayed["answer"])
    inner = _fsp_list(answer["provenance"][0])
    i = next(i for i, e in enumerate(inner[:-1]) if decode_step(e)["type"] == "origin")
    step = decode_step(inner[i])
    step["fmar:rows"] = 3000  # a node that claims more than it sent
    inner[i] = encode_step(step)
    _rejected(pf, answer, "PROV-005")
    # the NESO node's own step altered: the outer signature fails
    answer = copy.deepcopy(relayed["answer"])
    outer = _steps(answer["provenance"][0])
    j = next(j for j, e in enumerate(outer[:-1]) if isinstance(e, str)
             and decode_step(e)["type"] == "transfer")
    step = decode_step(outer[j])
    step["to"] = "https://example.org/m/someone-else"
    outer[j] = encode_step(step)
    _rejected(pf, answer, "PROV-005")


def test_PROV_005_a_removed_or_reordered_step_is_found(pf, relayed):
    answer = copy.deepcopy(relayed["answer"])
    inner = _fsp_list(answer["provenance"][0])
    del inner[0]  # the permission step
    _rejected(pf, answer, "PROV-005")
    answer = copy.deepcopy(relayed["answer"])
    outer = _steps(answer["provenance"][0])
    receipt = next(j for j, e in enumerate(outer[:-1]) if isinstance(e, str)
                   and decode_step(e)["type"] == "receipt")
    del outer[receipt]
    _rejected(pf, answer, "PROV-005")


def test_PROV_008_altered_rows_are_found(pf, relayed):
    answer = copy.deepcopy(relayed["answer"])
    answer["results"]["bindings"].pop()
    _rejected(pf, answer, "PROV-008")
    direct = pf.fmar("Neso", "query", "--provenance", "-f", "limit=50", "-o", "json")
    answer = json.loads(direct.stdout)
    binding = answer["results"]["bindings"][0]
    var = next(k for k in binding if k != "_node")
    binding[var]["value"] += "x"
    _rejected(pf, answer, "PROV-008", via=None)


def _resign(pf: ProvFed, record: dict[str, Any], signer: WebhookSigner) -> dict[str, Any]:
    """The record's steps signed again by `signer`: signatures that verify, by someone
    else."""
    forged = copy.deepcopy(record)
    forged["steps"] = sign_list(signer, record["ib1:provenance"], record["steps"][:-1])
    forged["certificates"] = {**record["certificates"], **certificates_of(signer.chain)}
    return forged


def _member_signer(pf: ProvFed, who: str) -> WebhookSigner:
    """A signing certificate of member `who`'s application (of the Signing hierarchy)."""
    m = pf.local.members[who]
    cert, key = m.certificate(m.app_id, "signing")
    return WebhookSigner.from_files(key, cert, pf.local.ca_bundle)


def _direct_fsp(pf: ProvFed) -> tuple[dict[str, Any], int]:
    """The client's answer asking every node itself, and the index of the FSP's record."""
    direct = json.loads(pf.fmar("Neso", "query", "--provenance", "-f", "limit=50",
                                "-o", "json").stdout)
    fsp_url = pf.local.nodes["fsp"].url
    return direct, next(i for i, r in enumerate(direct["provenance"]) if any(
        isinstance(e, str) and decode_step(e).get("fmar:node") == fsp_url
        for e in r["steps"][:-1]))


def test_PROV_020_a_record_signed_with_a_client_certificate_is_refused(pf, relayed):
    direct, i = _direct_fsp(pf)
    _check(pf, direct, via=None)  # as the node signed it: with its signing certificate
    client = pf.signer_of("fsp", "client")
    usage = client.certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH in usage.value  # the node's mTLS identity
    direct["provenance"][i] = _resign(pf, direct["provenance"][i], client)
    _rejected(pf, direct, "PROV-020", via=None)
    # the relaying node's record, re-signed with the relaying node's client certificate
    answer = copy.deepcopy(relayed["answer"])
    answer["provenance"][0] = _resign(pf, answer["provenance"][0],
                                      pf.signer_of("neso", "client"))
    _rejected(pf, answer, "PROV-020")


def test_PROV_021_a_record_signed_by_a_revoked_signing_certificate_is_refused(pf, tmp_path):
    fsp = pf.local.nodes["fsp"]
    member = fsp.member
    cert, key = member.node_certificate(fsp.node_id, "signing", tmp_path)
    signer = WebhookSigner.from_files(key, cert, pf.local.ca_bundle)
    direct, i = _direct_fsp(pf)
    direct["provenance"][i] = _resign(pf, direct["provenance"][i], signer)
    _check(pf, direct, via=None)  # a valid signing certificate of the FSP's node: accepted
    serial = format(signer.certificate.serial_number, "x")
    with member.api() as c:
        resp = c.post(f"/api/certificates/{serial}/revoke")
    assert resp.status_code == 200, resp.text
    assert signer.certificate.serial_number in pf.revoked()  # on the Signing CRL
    _rejected(pf, direct, "PROV-021", via=None)
    # the relaying node refuses it too (its own CRL fetch), before adding its receipt
    neso = Provenance(pf.signer_of("neso"), pf.local.issuer, pf.local.nodes["neso"].url,
                      tuple(pf.anchors), SigningCrl(pf.local.issuer, pf.local.ca_bundle,
                                                    tuple(pf.anchors), ttl=0))
    from common.http_errors import ApiError
    from node.identity import Caller

    targets = neso.directory_urls([NodeTarget(n.url, None, n.node_id)
                                   for n in pf.local.nodes.values()])
    with pytest.raises(ApiError) as caught:
        neso.for_relay(Caller("app", "org"), "/federation/assets", {},
                       {"results": {"bindings": []}}, {fsp.url: direct["provenance"][i]},
                       targets)
    assert caught.value.code == "PROV-010" and "PROV-021" in str(caught.value.details)


def test_PROV_021_a_forged_signing_crl_is_refused(pf, tmp_path):
    """A CRL not signed by the Signing issuer (here: the client issuer's) is no CRL."""
    from node.provenance.verify import revoked_serials

    with pf.local.client() as c:
        client_crl, signing_crl = c.get("/ca/crl").content, c.get("/ca/crl/signing").content
    assert isinstance(revoked_serials(signing_crl, pf.anchors), frozenset)
    for bad in (client_crl, b"not a crl"):
        with pytest.raises(ProvenanceRejected) as caught:
            revoked_serials(bad, pf.anchors)
        assert caught.value.code == "PROV-021"


def test_PROV_013_steps_signed_by_another_members_certificate_are_refused(pf):
    direct = json.loads(pf.fmar("Neso", "query", "--provenance", "-f", "limit=50",
                                "-o", "json").stdout)
    fsp_url = pf.local.nodes["fsp"].url
    i = next(i for i, r in enumerate(direct["provenance"])
             if any(isinstance(e, str) and decode_step(e).get("fmar:node") == fsp_url
                    for e in r["steps"][:-1]))
    # Gridco (a member, with a certificate of the federation's CA) vouches for the FSP's rows
    direct["provenance"][i] = _resign(pf, direct["provenance"][i], _member_signer(pf, "Gridco"))
    _rejected(pf, direct, "PROV-013", via=None)


def test_PROV_007_and_013_a_record_passed_off_as_the_relaying_nodes_is_refused(pf, relayed):
    answer = copy.deepcopy(relayed["answer"])
    # the FSP node signs the NESO node's receipts as if it had relayed: not the recipient
    answer["provenance"][0] = _resign(pf, answer["provenance"][0], pf.signer_of("fsp"))
    _rejected(pf, answer, "PROV-007")
    # the NESO node's genuine record, presented as the answer of the FSP node
    _rejected(pf, relayed["answer"], "PROV-013", via="fsp")


def _rogue(tmp: Path) -> WebhookSigner:
    """A CA of its own (not the trust framework's) and a leaf it issued."""
    now = datetime.now(UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Rogue CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .sign(ca_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rogue")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=1))
            .sign(ca_key, hashes.SHA256()))
    (tmp / "k.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                  serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))
    (tmp / "c.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM)
                                + ca.public_bytes(serialization.Encoding.PEM))
    return WebhookSigner.from_files(tmp / "k.pem", tmp / "c.pem")


def test_PROV_004_a_certificate_not_from_the_trust_frameworks_ca_is_refused(pf, relayed,
                                                                            tmp_path):
    answer = copy.deepcopy(relayed["answer"])
    answer["provenance"][0] = _resign(pf, answer["provenance"][0], _rogue(tmp_path))
    _rejected(pf, answer, "PROV-004")


def test_PROV_003_a_serial_without_its_certificate_is_refused(pf, relayed):
    answer = copy.deepcopy(relayed["answer"])
    record = answer["provenance"][0]
    serial = record["steps"][-1][1]
    other = next(s for s in record["certificates"] if s != serial)
    record["certificates"][serial] = record["certificates"][other]  # another's certificate
    _rejected(pf, answer, "PROV-003")
    del record["certificates"][serial]
    _rejected(pf, answer, "PROV-003")


def test_PROV_001_002_006_malformed_records_are_refused(pf, relayed):
    answer = copy.deepcopy(relayed["answer"])
    answer["provenance"][0]["extra"] = 1  # schemes may not add top-level properties
    _rejected(pf, answer, "PROV-001")
    answer = copy.deepcopy(relayed["answer"])
    answer["provenance"][0]["steps"][-1][0] = 1  # an unknown version
    _rejected(pf, answer, "PROV-002")
    answer = copy.deepcopy(relayed["answer"])
    answer["provenance"][0]["origins"].reverse()
    answer["provenance"][0]["origins"].append("not-an-origin")
    _rejected(pf, answer, "PROV-006")


def test_PROV_009_a_record_made_for_another_party_is_refused(pf, relayed):
    with pytest.raises(ProvenanceRejected) as caught:
        verify_answer(relayed["answer"], pf.anchors, pf.me("Gridco"), pf.directory(),
                      pf.local.nodes["neso"].url)
    assert caught.value.code == "PROV-009"


def test_PROV_010_the_relaying_node_refuses_a_tampered_record_from_a_node(pf, relayed):
    """What the NESO node does with the FSP's record before it adds its receipt."""
    neso = Provenance(pf.signer_of("neso"), pf.local.issuer, pf.local.nodes["neso"].url,
                      tuple(pf.anchors))
    fsp = pf.local.nodes["fsp"]
    direct = json.loads(pf.fmar("Neso", "query", "--provenance", "-f", "limit=50",
                                "-o", "json").stdout)
    record = next(r for r in direct["provenance"] if any(
        isinstance(e, str) and decode_step(e).get("fmar:node") == fsp.url
        for e in r["steps"][:-1]))
    from common.http_errors import ApiError
    from node.identity import Caller

    caller = Caller("app", "org")
    targets = neso.directory_urls([NodeTarget(n.url, None, n.node_id)
                                   for n in pf.local.nodes.values()])
    answer = {"results": {"bindings": []}}
    with pytest.raises(ApiError) as caught:  # made for the client, not for this node
        neso.for_relay(caller, "/federation/assets", {}, answer, {fsp.url: record}, targets)
    assert caught.value.code == "PROV-010" and "PROV-007" in str(caught.value.details)
    forged = copy.deepcopy(record)
    forged["steps"][0] = base64.b64encode(b'{"id":"x","type":"permission"}').decode()
    with pytest.raises(ApiError) as caught:
        neso.for_relay(caller, "/federation/assets", {}, answer, {fsp.url: forged}, targets)
    assert caught.value.code == "PROV-010" and "PROV-005" in str(caught.value.details)


def test_PROV_011_rows_of_a_node_without_its_record_are_refused(pf):
    direct = json.loads(pf.fmar("Neso", "query", "--provenance", "-f", "limit=50",
                                "-o", "json").stdout)
    fsp_url = pf.local.nodes["fsp"].url
    direct["provenance"] = [r for r in direct["provenance"] if not any(
        isinstance(e, str) and decode_step(e).get("fmar:node") == fsp_url
        for e in r["steps"][:-1])]
    assert len(direct["provenance"]) == 1  # the NESO node's own (empty) answer's record
    _rejected(pf, direct, "PROV-011", via=None)


def test_PROV_an_export_carries_a_record_over_its_exact_bytes(pf):
    from common import http_client
    from node.provenance.record import EXPORT_HEADER, REQUEST_HEADER
    from node.provenance.show import verify_export

    flexco, fsp = pf.local.members["Flexco"], pf.local.nodes["fsp"]
    token = pf.local.access_token(flexco, fsp.url, scope="assets:read")
    with http_client.client(ca_bundle=pf.local.ca_bundle, cert=flexco.cert, key=flexco.key,
                            timeout=30) as http:
        plain = http.get(f"{fsp.url}/assets/export?format=csv",
                         headers={"Authorization": f"Bearer {token}"})
        asked = http.get(f"{fsp.url}/assets/export?format=csv",
                         headers={"Authorization": f"Bearer {token}", REQUEST_HEADER: "include"})
    assert plain.status_code == asked.status_code == 200, asked.text
    assert EXPORT_HEADER not in plain.headers
    assert asked.content.count(b"\n") == 31  # the header line and 30 assets
    cert = x509.load_pem_x509_certificates(flexco.cert.read_bytes())[0]
    me, directory = names_of(cert), pf.directory()[fsp.url]
    steps = verify_export(asked.content, asked.headers[EXPORT_HEADER], pf.anchors, me,
                          fsp.url, directory)
    assert [s.step["type"] for s in steps] == ["permission", "origin", "transfer"]
    assert steps[-1].step["path"] == "/assets/export"
    with pytest.raises(ProvenanceRejected) as caught:  # one byte changed
        verify_export(asked.content.replace(b"\n", b"\r\n", 1), asked.headers[EXPORT_HEADER],
                      pf.anchors, me, fsp.url, directory)
    assert caught.value.code == "PROV-008"
    with pytest.raises(ProvenanceRejected) as caught:  # the export without its record
        verify_export(asked.content, None, pf.anchors, me, fsp.url, directory)
    assert caught.value.code == "PROV-011"


def test_PROV_fmar_query_shows_nothing_and_exits_6_when_the_record_does_not_verify(pf, relayed,
                                                                                 capsys):
    import typer

    from node.federation.cli import EXIT_PROVENANCE, check_provenance

    answer = copy.deepcopy(relayed["answer"])
    answer["results"]["bindings"].pop()
    m, neso = pf.local.members["Neso"], pf.local.nodes["neso"].url
    with pytest.raises(typer.Exit) as caught:
        check_provenance(answer, pf.local.ca_bundle, m.cert, pf.directory(), neso,
                         pf.local.issuer)
    assert caught.value.exit_code == EXIT_PROVENANCE == 6
    assert "[PROV-008] provenance NOT verified" in capsys.readouterr().err
    check_provenance(relayed["answer"], pf.local.ca_bundle, m.cert, pf.directory(), neso,
                     pf.local.issuer)
    assert "provenance VERIFIED" in capsys.readouterr().err
