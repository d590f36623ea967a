def test_fsp_reads_its_node_with_a_bound_token(members):
    token = members.fsp.access_token(members.fsp_node.url)
    resp = members.fsp_node.call("GET", "/whoami", token, members.fsp.cert, members.fsp.key)
    assert resp.status_code == 200, resp.text
    assert resp.json()["organisation_id"] == members.fsp.org_id
