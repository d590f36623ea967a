"""The installed `fmar` command on a real node process: backup, restore and audit checks
while the node runs, Ctrl-C without tracebacks, help and version."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import typer

from tests.assets import bess
from tests.harness.processes import FMAR_INSTALLED, ServedNode, clean_env, dev_token, run_fmar


def fmar(*args: str, **kw) -> subprocess.CompletedProcess:
    """The installed `fmar` command."""
    return run_fmar(*args, command=FMAR_INSTALLED, **kw)


def serve(data_dir: Path, tokens: Path, workers: int = 1) -> ServedNode:
    """`fmar serve` in its own process group (so that Ctrl-C can be sent as a terminal
    does), configured as an operator's unit does: by environment."""
    return ServedNode(None, None, log=data_dir.with_name(f"{data_dir.name}.log"),
                      env={"FMAR_DATA_DIR": str(data_dir), "FMAR_TOKENS_FILE": str(tokens),
                           "FMAR_WORKERS": str(workers)},
                      workers=None, command=FMAR_INSTALLED, new_session=True)


def _token(tokens: Path) -> dict[str, str]:
    return {"Authorization": f"Bearer {dev_token(tokens)}"}


def test_CLI_005_backup_while_running_restore_and_verify(tmp_path):
    tokens, data = tmp_path / "tokens.json", tmp_path / "node"
    headers = _token(tokens)
    node = serve(data, tokens)
    try:
        created = httpx.post(f"{node.url}/assets", json=bess(), headers=headers)
        assert created.status_code == 201, created.text
        path = f"/assets/{created.json()['AssetId']}"
        # the audit chain and a backup, while the node holds the store
        verified = fmar("audit", "verify", "--data-dir", str(data))
        assert verified.returncode == 0 and "Audit chain intact" in verified.stdout, \
            verified.stderr
        backup = tmp_path / "node.nq"
        made = fmar("backup", str(backup), "--data-dir", str(data))
        assert made.returncode == 0, made.stderr
        again = fmar("backup", str(backup), "--data-dir", str(data))
        assert again.returncode == 2 and again.stderr.startswith("fmar: error CLI-005: ")
        # a change after the backup is not in it
        later = httpx.patch(f"{node.url}{path}", json={"AssetName": "after the backup"},
                            headers={**headers, "If-Match": created.headers["etag"],
                                     "Content-Type": "application/merge-patch+json"})
        assert later.status_code == 200, later.text
    finally:
        code, err = node.interrupt()
    assert code == 0 and "Traceback" not in err, err
    refused = fmar("restore", str(backup), "--data-dir", str(data))
    assert refused.returncode == 2 and refused.stderr.startswith("fmar: error CLI-005: ")
    restored_dir = tmp_path / "restored"
    restored = fmar("restore", str(backup), "--data-dir", str(restored_dir))
    assert restored.returncode == 0, restored.stderr
    checked = fmar("audit", "verify", "--data-dir", str(restored_dir))
    assert checked.returncode == 0 and "Audit chain intact" in checked.stdout, checked.stderr
    node = serve(restored_dir, tokens)
    try:
        read = httpx.get(f"{node.url}{path}", headers=headers)
        assert read.status_code == 200 and read.json()["Version"] == 1
        assert read.json()["AssetName"] == created.json()["AssetName"] != "after the backup"
    finally:
        node.interrupt()
    not_a_backup = fmar("restore", str(tokens), "--data-dir", str(tmp_path / "other"))
    assert not_a_backup.returncode == 2 and "CLI-005" in not_a_backup.stderr
    assert not (tmp_path / "other" / "store").exists()
    missing = fmar("audit", "verify", "--data-dir", str(tmp_path / "nothing"))
    assert missing.returncode == 2 and missing.stderr.startswith("fmar: error CLI-005: ")


def test_ctrl_c_on_serve_stops_the_workers_without_tracebacks(tmp_path):
    tokens, data = tmp_path / "tokens.json", tmp_path / "node"
    headers = _token(tokens)
    node = serve(data, tokens, workers=2)
    try:
        rows = [{**bess(), "SerialNumber": f"SN-{i}"} for i in range(3)]
        import csv
        import io

        out = io.StringIO()
        writer = csv.DictWriter(out, [k for k in rows[0] if rows[0][k] is not None])
        writer.writeheader()
        for row in rows:
            writer.writerow({k: v for k, v in row.items() if v is not None})
        bulk = httpx.post(f"{node.url}/assets/bulk", content=out.getvalue(),
                          headers={**headers, "Content-Type": "text/csv"}, timeout=120)
        assert bulk.status_code in (200, 201, 207, 422), bulk.text  # the pool has started
        assert "received" in bulk.json()
    finally:
        code, err = node.interrupt()
    assert code == 0, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err


def test_every_command_has_help_and_fmar_has_a_version():
    from node.cli import app

    def walk(command, path=()):  # type: ignore[no-untyped-def]
        yield path, command
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, (*path, name))

    commands = list(walk(typer.main.get_command(app)))
    assert len(commands) > 25
    silent = [" ".join(p) for p, c in commands if p and not (c.help or "").strip()]
    assert silent == []
    shown = fmar("org", "show", "--help")
    assert shown.returncode == 0 and "directory entry" in shown.stdout
    typo = fmar("querry")  # click's usage errors keep their message and exit 2
    assert typo.returncode == 2 and "No such command 'querry'" in typo.stderr
    assert "Traceback" not in typo.stderr and "CLI-000" not in typo.stderr
    version = fmar("--version")
    assert version.returncode == 0 and version.stdout.startswith("fmar 0.")


def test_upload_shows_progress_and_the_nodes_report(tmp_path):
    from examples.generate import COLUMNS, assets

    tokens, data = tmp_path / "tokens.json", tmp_path / "node"
    token = _token(tokens)["Authorization"].split()[1]
    rows = list(assets(40, "FSP-ACME", seed=5))
    good = tmp_path / "good.csv"
    _write_csv(good, COLUMNS, rows)
    bad = tmp_path / "bad.csv"
    _write_csv(bad, COLUMNS, [*assets(3, "FSP-ACME", seed=6),
                              {**next(assets(1, "FSP-ACME", seed=7)), "RatedCapacity": "lots"}])
    node = serve(data, tokens)
    env = clean_env(FMAR_NODE_URL=node.url, FMAR_TOKEN=token)
    try:
        done = fmar("upload", str(good), env=env)
        assert done.returncode == 0, done.stderr
        assert "40 of 40 rows stored" in done.stderr and "Uploaded good.csv" in done.stderr
        listed = httpx.get(f"{node.url}/assets", params={"limit": 100},
                           headers={"Authorization": f"Bearer {token}"}).json()["items"]
        assert len(listed) == 40
        refused = fmar("upload", str(bad), env=env)
        assert refused.returncode == 2 and "0 of 4 rows stored" in refused.stderr
        assert '"rule": "ARM-' in refused.stdout
        some = fmar("upload", str(bad), "--mode", "store-valid", env=env)
        assert some.returncode == 3 and "3 of 4 rows stored" in some.stderr, some.stderr
        wrong = fmar("upload", str(good), env={**env, "FMAR_TOKEN": "not-a-token"})
        assert wrong.returncode == 4 and wrong.stderr.strip().splitlines()[-1].startswith(
            "fmar: error AUTH-"), wrong.stderr
        unknown = fmar("upload", str(tokens), env=env)
        assert unknown.returncode == 2 and "CLI-004" in unknown.stderr
    finally:
        node.interrupt()


def _write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    import csv

    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, columns, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (str(v).lower() if isinstance(v, bool) else v)
                             for k, v in row.items()})


def test_CLI_000_an_unexpected_error_is_one_line_and_exit_1(capsys):
    from node.cli_errors import EXIT_BAD_INPUT, EXIT_BUG, report, to_cli_error
    from common.http_errors import ApiError

    error = to_cli_error(RuntimeError("boom"))
    assert (error.code, error.exit_code) == ("CLI-000", EXIT_BUG)
    report(error)
    line = capsys.readouterr().err
    assert line.startswith("fmar: error CLI-000: Unexpected error: RuntimeError: boom.")
    assert "--verbose" in line and line.count("\n") == 1
    # control: a refusal with its own code keeps it
    known = to_cli_error(ApiError(400, "FED-IN-004", "Unknown filter(s): foo."))
    assert (known.code, known.exit_code) == ("FED-IN-004", EXIT_BAD_INPUT)
