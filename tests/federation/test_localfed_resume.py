"""The demo federation is kept between runs: `LocalFederation.save` and `.resume` start the
same trust framework and nodes again, on the same ports, with the same data and
credentials (people's generated passwords too), so a member's env.sh keeps working: the
README's Flexco block runs with it."""

from __future__ import annotations

from examples.federation_demo import env_file, people
from examples.generate import assets
from tests.federation.test_cli_query import run_readme_block
from tests.harness.federation import LocalFederation


def test_a_saved_federation_resumes_with_its_ports_data_and_credentials(tmp_path):
    fed = LocalFederation(tmp_path)
    try:
        fed.start_trust()
        flexco = fed.register_member("Flexco", ["FSP"])
        node = fed.add_node("flexco", flexco)
        [iri] = fed.load_assets(node, list(assets(1, flexco.org_id, seed=3)))
        fed.start_nodes()
        fed.save()
        env_file(fed, "Flexco", tmp_path / "members" / "Flexco" / "env.sh", node.url)
        token = fed.access_token(flexco, node.url)
        with fed.client(flexco.cert, flexco.key, token=token, base_url=node.url) as c:
            assert c.get(f"/assets/{iri.rsplit('/', 1)[1]}").status_code == 200
    finally:
        fed.stop()

    again = LocalFederation.resume(tmp_path)
    try:
        assert again.issuer == fed.issuer and again.ports() == fed.ports()
        assert again.members["Flexco"].app_id == flexco.app_id
        again.start_trust(initialise=False)
        again.start_nodes()
        member, node = again.members["Flexco"], again.nodes["flexco"]
        # people's passwords: new for this federation, kept (0600) and printed by the demo
        assert oct((tmp_path / "federation.json").stat().st_mode & 0o777) == "0o600"
        assert again.operator_password == fed.operator_password != ""
        assert again.operator_token() and again.login(member.email, member.password)
        assert f"{member.email:<28} {member.password}" in people(again)
        assert node.url == fed.nodes["flexco"].url
        token = again.access_token(member, node.url)  # the same certificate still works
        with again.client(member.cert, member.key, token=token, base_url=node.url) as c:
            kept = c.get(f"/assets/{iri.rsplit('/', 1)[1]}")
            assert kept.status_code == 200 and kept.json()["id"] == iri
            missing = c.get("/assets/00000000-0000-4000-8000-000000000000")
            assert missing.status_code == 404 and missing.json()["code"] == "ARM-404"
        # yesterday's env.sh, as the demo wrote it, works: the README's Flexco block
        run_readme_block("federation-flexco", tmp_path / "members", tmp_path)
    finally:
        again.stop()
