"""`fmar query` and `fmar token` as a member runs them: the installed console script, the
variables of a member's env.sh, real nodes. Exit codes, the marks of incomplete answers in
every format, organisation names, and one line with a code for every mistake."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness.processes import free_port

FMAR = str(Path(sys.executable).parent / "fmar")


def env_of(fed, who: str, **extra: str) -> dict[str, str]:
    """What `source members/<who>/env.sh` sets."""
    return fed.cli_env(who, **extra)


def fmar(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([FMAR, *args], env=env, capture_output=True, text=True, timeout=90,
                          check=False)


def test_exit_codes_say_how_many_nodes_answered(fed):
    neso = env_of(fed, "Neso")
    everyone = fmar(neso, "query", "-f", "category=BESS", "-o", "json")
    assert everyone.returncode == 0, everyone.stderr
    assert json.loads(everyone.stdout)["outcome"] == "every node answered"
    dead = f"https://127.0.0.1:{free_port()}"
    partial = fmar(neso, "query", "--node", fed.local.nodes["fsp_a"].url, "--node", dead,
                   "-f", "category=BESS")
    assert partial.returncode == 3, partial.stderr
    # no token for a URL that is not a node of the federation
    assert "PARTIAL ANSWER" in partial.stderr and "[AUTH-023]" in partial.stderr
    # nodes named (no discovery, which has the same deadline: FED-007): within 1 ms neither
    # the token (FED-009) nor the node's answer (FED-001) arrives
    slow = fmar(neso, "query", "--deadline", "0.001", "--node", fed.local.nodes["fsp_a"].url,
                "--node", fed.local.nodes["fsp_b"].url, "-f", "category=BESS")
    assert slow.returncode == 4 and "NO NODE ANSWERED" in slow.stderr, slow.stderr
    assert "[FED-001]" in slow.stderr or "[FED-009]" in slow.stderr, slow.stderr
    # the regulator may read aggregates only: every node refuses rows
    refused = fmar(env_of(fed, "Ofgem"), "query", "-f", "category=BESS")
    assert refused.returncode == 4, refused.stderr
    assert "NO NODE ANSWERED" in refused.stderr and "PARTIAL" not in refused.stderr


def test_csv_is_csv_with_organisation_names_and_truncation_marked(fed):
    neso = env_of(fed, "Neso")
    cut = fmar(neso, "query", "-f", "limit=3", "-o", "csv")
    assert cut.returncode == 0, cut.stderr
    rows = list(csv.DictReader(io.StringIO(cut.stdout)))
    nodes = fed.local.nodes
    assert {nodes["fsp_a"].url, nodes["fsp_b"].url} <= {r["_node_url"] for r in rows}
    names = {r["_node_url"]: r["_node"] for r in rows}
    assert names[nodes["fsp_a"].url] == "Flexco Ltd"
    assert names[nodes["fsp_b"].url] == "Otherflex Ltd"
    assert {r["_truncated"] for r in rows if r["_node_url"] == nodes["fsp_a"].url} == {"yes"}
    assert "TRUNCATED" in cut.stderr
    as_json = json.loads(fmar(neso, "query", "-f", "limit=3", "-o", "json").stdout)
    assert nodes["fsp_a"].url in as_json["truncated"]
    # control: under the cap nothing is marked
    whole = fmar(neso, "query", "-f", "limit=1000", "-o", "csv")
    rows = list(csv.DictReader(io.StringIO(whole.stdout)))
    assert len(rows) == sum(len(v) for v in fed.assets.values())
    assert {r["_truncated"] for r in rows} == {""} and "TRUNCATED" not in whole.stderr


def test_suppressed_aggregate_cells_are_marked_in_every_format(fed):
    ofgem = env_of(fed, "Ofgem")
    table = fmar(ofgem, "query", "--aggregate", "category,dno", "-o", "csv")
    assert table.returncode == 0, table.stderr
    cells = list(csv.DictReader(io.StringIO(table.stdout)))
    marked = [c for c in cells if c["complete"].startswith("no")]
    assert marked and all(c["count"] == "" for c in marked if c["complete"] == "no: suppressed")
    assert "incomplete" in table.stderr
    shown = fmar(ofgem, "query", "--aggregate", "category,dno")
    assert "no: " in shown.stdout
    answer = json.loads(fmar(ofgem, "query", "--aggregate", "category,dno", "-o", "json").stdout)
    assert any(c.get("suppressed") or c.get("complete") is False for c in answer["cells"])
    # control: NESO sees every cell whole
    neso = list(csv.DictReader(io.StringIO(
        fmar(env_of(fed, "Neso"), "query", "--aggregate", "category,dno", "-o", "csv").stdout)))
    assert neso and {c["complete"] for c in neso} == {"yes"}


MISTAKES = [
    (("query", "--aggregate", "foo"), "FED-IN-005"),
    (("query", "-f", "foo=bar"), "FED-IN-004"),
    (("query", "-f", "min_capacity=abc"), "FED-IN-002"),
    (("query", "-f", "category"), "CLI-004"),  # once silently dropped: the query ran unfiltered
    (("query", "--mode", "foo", "SELECT * {}"), "CLI-004"),
    (("query", "-o", "xml"), "CLI-004"),
    (("query", "SELEC ?x"), "SPARQL-002"),
    (("query", "INSERT DATA { <a:b> <a:c> <a:d> }"), "SPARQL-003"),
    (("query", "SELECT * { SERVICE <https://x.example/sparql> { ?s ?p ?o } }"), "SPARQL-004"),
    (("query", "@/nonexistent/query.rq"), "CLI-003"),
]


@pytest.mark.parametrize(("args", "code"), MISTAKES,
                         ids=[f"{c.replace('-', '_')}-{'_'.join(a[1:2])}" for a, c in MISTAKES])
def test_CLI_004_and_other_mistakes_get_one_line_with_a_code_and_a_hint(fed, args, code):
    done = fmar(env_of(fed, "Neso"), *args)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"fmar: error {code}: "), lines
    assert "Hint: " in lines[0] and "Traceback" not in done.stderr


def test_CLI_004_control_a_well_formed_query_runs(fed):
    done = fmar(env_of(fed, "Neso"), "query", "-f", "category=BESS", "-f", "category=HEAT_PUMP",
                "-o", "csv")
    assert done.returncode == 0, done.stderr
    categories = {r["category"].rsplit("/", 1)[-1]
                  for r in csv.DictReader(io.StringIO(done.stdout))}
    assert categories == {"BESS", "HEAT_PUMP"}


def test_CLI_001_no_credentials(fed):
    bare = {k: v for k, v in env_of(fed, "Neso").items() if not k.startswith("FMAR_")}
    missing = fmar(bare, "query", "-f", "category=BESS")
    assert missing.returncode == 2 and missing.stderr.startswith("fmar: error CLI-001: ")
    assert len(missing.stderr.strip().splitlines()) == 1


def test_CLI_002_trust_framework_unreachable_and_verbose_shows_the_trace(fed):
    neso = env_of(fed, "Neso")
    gone = {**neso, "FMAR_TRUST_URL": f"https://127.0.0.1:{free_port()}"}
    away = fmar(gone, "token", "--bare", "--audience", fed.local.nodes["fsp_a"].url)
    assert away.returncode == 5 and away.stderr.startswith("fmar: error CLI-002: "), away.stderr
    assert len(away.stderr.strip().splitlines()) == 1
    # a query finds the nodes in the directory first: the same exit code, its own code
    lost = fmar(gone, "query", "-f", "category=BESS")
    assert lost.returncode == 5 and lost.stderr.startswith("fmar: error FED-007: "), lost.stderr
    traced = fmar(neso, "--verbose", "query", "-f", "foo=bar")
    assert traced.returncode != 0 and "Traceback" in traced.stderr


def test_CLI_003_unusable_client_certificate(fed, tmp_path):
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    done = fmar(env_of(fed, "Neso", FMAR_CLIENT_CERT=str(junk)), "query", "-f", "category=BESS")
    assert done.returncode == 2 and done.stderr.startswith("fmar: error CLI-003: "), done.stderr


def test_through_a_relaying_node_the_same_exit_codes(fed):
    dno = fed.local.nodes["dno"].url
    relayed = fmar(env_of(fed, "Neso"), "query", "--via", dno, "-f", "category=BESS")
    assert relayed.returncode == 0, relayed.stderr
    refused = fmar(env_of(fed, "Ofgem"), "query", "--via", dno, "-f", "category=BESS")
    assert refused.returncode == 4 and "NO NODE ANSWERED" in refused.stderr, refused.stderr


def test_fmar_token_prints_the_bare_token_from_env_sh_variables(fed):
    flexco = env_of(fed, "Flexco", FMAR_NODE_URL=fed.local.nodes["fsp_a"].url)
    done = fmar(flexco, "token", "--bare")
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    assert token.count(".") == 2 and "\n" not in token
    with fed.http("Flexco") as c:  # mTLS with Flexco's certificate: the token is bound to it
        read = c.get(f"{fed.local.nodes['fsp_a'].url}/assets", params={"limit": 1},
                     headers={"Authorization": f"Bearer {token}"})
    assert read.status_code == 200, read.text
    # control: without --bare, the token response as JSON
    assert "access_token" in json.loads(fmar(flexco, "token").stdout)
    unreachable = fmar({**flexco, "FMAR_TRUST_URL": f"https://127.0.0.1:{free_port()}"},
                       "token", "--bare")
    assert unreachable.returncode == 5
    assert unreachable.stderr.startswith("fmar: error CLI-002: ")


def test_docs_pages_of_trust_framework_and_node_work_offline(fed):
    """Swagger UI's script and style come from the service itself (no CDN), over TLS."""
    import re

    for base in (fed.local.issuer, fed.local.nodes["dno"].url):
        with fed.http() as c:  # only the federation CA: no client certificate, no token
            page = c.get(f"{base}/docs")
            assert page.status_code == 200, page.text
            assert "cdn." not in page.text and "unpkg" not in page.text
            script = re.search(r'<script src="(/[^"]+swagger-ui-bundle\.js)"', page.text)
            css = re.search(r'href="(/[^"]+swagger-ui\.css)"', page.text)
            assert script and css, page.text
            js = c.get(f"{base}{script.group(1)}")
            assert js.status_code == 200 and "SwaggerUIBundle" in js.text[:3000]
            assert c.get(f"{base}{css.group(1)}").status_code == 200
            assert c.get(f"{base}/openapi.json").json()["openapi"].startswith("3.")


def run_readme_block(marker: str, members: Path, tmp_path: Path) -> None:
    """Run the README's block after `marker` with bash, the demo's members/ folder being
    `members`: every command must succeed and print its `#->` lines."""
    from tests.test_readme import ROOT, appears, readme_steps

    steps = readme_steps(f"<!-- readme-test: {marker} -->")
    script = "set -e\n" + "\n".join(
        f"echo '@@step {i}@@'\n" + step.command.replace("/tmp/", f"{tmp_path}/").replace(
            "var/federation-demo/members", str(members))
        for i, step in enumerate(steps))
    done = subprocess.run(["bash", "-c", script], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=False,
                          env={k: v for k, v in os.environ.items() if not k.startswith("FMAR_")})
    assert done.returncode == 0, (marker, done.stderr[-3000:])
    outputs = done.stdout.split("@@step ")[1:]
    assert len(outputs) == len(steps)
    for step, output in zip(steps, outputs):
        for expected in step.expected:
            assert appears(expected, output), (step.command, expected, output[:1000])


def test_the_readme_federation_queries_run_as_written(fed, tmp_path):
    """The README's NESO block (queries only) against this test federation, with NESO's
    env.sh as the demo writes it. (Its Flexco block, which registers an asset, runs in
    test_localfed_resume.py on a federation of its own.)"""
    env_sh = tmp_path / "members" / "Neso" / "env.sh"
    env_sh.parent.mkdir(parents=True)
    env_sh.write_text("".join(f"export {k}={v}\n" for k, v in env_of(fed, "Neso").items()
                              if k.startswith("FMAR_")))
    run_readme_block("federation-neso", tmp_path / "members", tmp_path)
    assert (tmp_path / "bess.csv").read_text().startswith("asset,assetId,")
