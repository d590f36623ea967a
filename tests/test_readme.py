"""The README stays honest: its single-node walkthrough runs as written against the installed
`fmar demo` (a real process, started from outside the repository so that nothing but the
installed package is imported), and every `#-> text` line in it appears in what the command
before it printed. Also: the demo keeps its data, tokens and port between runs, `--fresh`
starts again, Ctrl-C stops it cleanly, and /docs works offline."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.harness.processes import free_port

ROOT = Path(__file__).resolve().parents[1]
FMAR = str(Path(sys.executable).parent / "fmar")
MARKER = "<!-- readme-test: single-node -->"


@dataclass
class Step:
    command: str
    expected: list[str] = field(default_factory=list)


def readme_steps(marker: str, text: str | None = None) -> list[Step]:
    """The commands of the ```sh block after `marker` (in README.md unless `text` is
    given), each with its `#->` lines."""
    text = (ROOT / "README.md").read_text() if text is None else text
    block = text[text.index(marker):].split("```sh\n", 1)[1].split("```", 1)[0]
    steps: list[Step] = []
    pending = quotes = ""  # the command so far, and its text outside comments
    for line in block.splitlines():
        if line.startswith("#-> "):
            steps[-1].expected.append(line[4:])
        elif pending or (line.strip() and not line.startswith("#")):
            pending += line + "\n"
            code = line
            comment = re.search(r"\s#\s", line)  # a trailing comment, if outside quotes
            if comment and (quotes + line[:comment.start()]).count("'") % 2 == 0:
                code = line[:comment.start()].rstrip()
            quotes += code + "\n"
            # a command ends at a line without a trailing backslash, outside '…' quotes
            if not code.endswith("\\") and quotes.count("'") % 2 == 0:
                steps.append(Step(pending))
                pending = quotes = ""
    return steps


def appears(expected: str, output: str) -> bool:
    """`…` in an expected line stands for any text on the same line."""
    pattern = ".*?".join(re.escape(part) for part in expected.split("…"))
    return re.search(pattern, output) is not None


class Demo:
    def __init__(self, data_dir: Path, port: int | None, *extra: str):
        self.data_dir = data_dir
        ports = ["--port", str(port)] if port else []  # none: the last run's, if free
        self.process = subprocess.Popen(
            [FMAR, "demo", "--data-dir", str(data_dir), *ports, "--assets", "60", *extra], cwd=data_dir.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, start_new_session=True)
        self.url = self._wait()

    def _wait(self) -> str:
        deadline = time.time() + 180
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"fmar demo exited: {self.process.stderr.read()}")
            env = self.data_dir / "env.sh"
            if env.exists():
                url = env.read_text().split("export NODE=", 1)[1].split()[0]
                try:
                    if httpx.get(f"{url}/health").status_code == 200:
                        return url
                except httpx.TransportError:
                    pass
            time.sleep(0.2)
        raise RuntimeError("fmar demo did not answer /health")

    def env(self) -> dict[str, str]:
        return dict(line.removeprefix("export ").split("=", 1)
                    for line in (self.data_dir / "env.sh").read_text().splitlines())

    def interrupt(self) -> tuple[int, str]:
        """Ctrl-C, as a terminal sends it: SIGINT to the whole process group."""
        os.killpg(self.process.pid, signal.SIGINT)
        _, err = self.process.communicate(timeout=60)
        return self.process.returncode, err


def test_readme_single_node_walkthrough_runs_as_written(tmp_path):
    data = tmp_path / "demo"
    demo = Demo(data, free_port(), "--fresh")
    try:
        script = []
        for number, step in enumerate(readme_steps(MARKER)):
            command = step.command.replace("/tmp/", f"{tmp_path}/").replace("var/demo", str(data))
            script.append(f"echo '@@step {number}@@'\n{command}")
        done = subprocess.run(["bash", "-c", "set -e\n" + "\n".join(script)], cwd=ROOT,
                              capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stderr
        outputs = re.split(r"@@step \d+@@\n", done.stdout)[1:]
        steps = readme_steps(MARKER)
        assert len(outputs) == len(steps) and sum(len(s.expected) for s in steps) >= 10
        for step, output in zip(steps, outputs):
            for expected in step.expected:
                assert appears(expected, output), (step.command, expected, output[:2000])
    finally:
        code, err = demo.interrupt()
    assert code == 0 and "Traceback" not in err and "KeyboardInterrupt" not in err, err


def test_demo_keeps_data_tokens_and_port_and_fresh_starts_again(tmp_path):
    data = tmp_path / "demo"
    port = free_port()
    demo = Demo(data, port)
    try:
        first = demo.env()
        headers = {"Authorization": f"Bearer {first['FSP']}"}
        assert demo.url == f"http://127.0.0.1:{port}"
        created = httpx.post(f"{demo.url}/assets", json={**_asset(), "AssetName": "kept?"},
                             headers=headers)
        assert created.status_code == 201, created.text
        asset = created.json()["AssetId"]
        # the Swagger UI page and its script come from the node itself, not a CDN
        page = httpx.get(f"{demo.url}/docs")
        script = re.search(r'<script src="([^"]+swagger-ui-bundle\.js)"', page.text)
        assert page.status_code == 200 and script and script.group(1).startswith("/")
        js = httpx.get(f"{demo.url}{script.group(1)}")
        assert js.status_code == 200 and "SwaggerUIBundle" in js.text[:2000]
        css = re.search(r'href="(/[^"]+swagger-ui\.css)"', page.text)
        assert css and httpx.get(f"{demo.url}{css.group(1)}").status_code == 200
        assert "cdn." not in page.text
    finally:
        code, err = demo.interrupt()
    assert code == 0 and "Traceback" not in err, err
    # the second run: same tokens, same port, the asset is still there, nothing reloaded
    demo = Demo(data, None)
    try:
        assert demo.env() == first and demo.url == f"http://127.0.0.1:{port}"
        again = httpx.get(f"{demo.url}/assets/{asset}", headers=headers)
        assert again.status_code == 200 and again.json()["AssetName"] == "kept?"
    finally:
        demo.interrupt()
    # --fresh: new tokens, the old one is refused, the asset is gone
    demo = Demo(data, port, "--fresh")
    try:
        fresh = demo.env()
        assert fresh["FSP"] != first["FSP"]
        assert httpx.get(f"{demo.url}/assets/{asset}", headers=headers).status_code == 401
        gone = httpx.get(f"{demo.url}/assets/{asset}",
                         headers={"Authorization": f"Bearer {fresh['FSP']}"})
        assert gone.status_code == 404 and gone.json()["code"] == "ARM-404"
    finally:
        demo.interrupt()


def _asset() -> dict:
    return json.loads((ROOT / "examples" / "asset.json").read_text())


# Blocks that start servers of their own: run in a clone-like folder (`.venv` and `examples`
# linked from the repository, everything else written there), with HOME there too, and the
# README's fixed ports swapped for free ones. A step ending in `&` starts a server in the
# background: the next step waits until its port accepts connections, as a reader would.
README_PORTS = ("8700", "8701", "7878", "8443", "9443")
TRUST_ADMIN_PASSWORD = "operator-password-1"


def run_block(markers: tuple[str, ...], tmp_path: Path, env: dict[str, str] | None = None,
              passwords: dict[str, str] | None = None, timeout: float = 240) -> list[str]:
    """Run the README blocks after `markers`, in order, in one bash, and check their `#->`
    lines; return each step's output. `passwords`: e-mail -> password of the people who log in; while a step
    runs `fmar login` (device flow), this test plays that person in the browser: it takes
    the code the command prints and signs in at the page as the e-mail the step's comment
    names (`# as someone@…`)."""
    import threading

    clone = tmp_path / "clone"
    clone.mkdir()
    for name in (".venv", "examples"):
        (clone / name).symlink_to(ROOT / name)
    ports = {port: str(free_port()) for port in README_PORTS}
    swap = re.compile(r"\b(" + "|".join(ports) + r")\b")
    steps = [step for marker in markers for step in readme_steps(f"<!-- readme-test: {marker} -->")]
    script = ["set -e"]
    for number, step in enumerate(steps):
        command = swap.sub(lambda m: ports[m.group(1)], step.command)
        script.append(f"printf '\\n@@step {number}@@\\n'\n{command}")
        if re.search(r"&\s*(#.*)?$", command.rstrip()):
            port = re.search(r"(?:--port |--bind [\d.]+:)(\d+)", command).group(1)
            script.append(f"for _ in $(seq 600); do (exec 3<>/dev/tcp/127.0.0.1/{port}) "
                          f"2>/dev/null && break; kill -0 $! || exit 9; sleep 0.2; done")
    environment = {k: v for k, v in os.environ.items() if not k.startswith("FMAR_")}
    environment.update({"HOME": str(clone), **(env or {})})
    stderr = (tmp_path / "stderr.txt").open("w")
    process = subprocess.Popen(["bash", "-c", "\n".join(script)], cwd=clone, env=environment,
                               stdout=subprocess.PIPE, stderr=stderr, text=True,
                               start_new_session=True)
    outputs: list[str] = []
    failures: list[str] = []

    def read() -> None:  # every line as it comes, so that a login can be answered
        for line in process.stdout:
            if re.fullmatch(r"@@step \d+@@\n", line):  # the step before ends with a newline
                outputs.append("")
                continue
            if not outputs:
                continue
            outputs[-1] += line
            code = re.search(r"Open (https://\S+)/device and enter the code (\S+)", line)
            if code:
                try:
                    _approve_device(clone, steps[len(outputs) - 1].command, code.group(1),
                                    code.group(2), passwords or {})
                except (AssertionError, AttributeError, KeyError, httpx.HTTPError) as exc:
                    failures.append(repr(exc))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        process.wait(timeout=timeout)
    finally:
        try:  # whatever the block left running (a failed step skips its `kill`)
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        reader.join(timeout=30)
        stderr.close()
    errors = (tmp_path / "stderr.txt").read_text()
    assert not failures, failures
    assert process.returncode == 0, (steps[len(outputs) - 1].command if outputs else None,
                                     outputs[-2:], errors[-3000:])
    assert len(outputs) == len(steps)
    for step, output in zip(steps, outputs):
        for expected in step.expected:
            expected = swap.sub(lambda m: ports[m.group(1)], expected)
            assert appears(expected, output), (step.command, expected, output[:2000])
    return outputs


def _approve_device(clone: Path, command: str, base: str, code: str,
                    passwords: dict[str, str]) -> None:
    """The person at the device page: type the code, e-mail and password."""
    from common import http_client as http

    email = re.search(r"# as (\S+@\S+)", command).group(1)
    with http.client(ca_bundle=clone / "var/trust/ca/chain.pem", base_url=base) as c:
        page = c.post("/device", data={"user_code": code, "email": email,
                                       "password": passwords[email]})
    assert page.status_code == 200, page.text


def test_readme_own_node_block_runs_as_written(tmp_path):
    """A static-token node, then one on an external Oxigraph server; both stopped at the
    end by the block's own `kill`."""
    outputs = run_block(("own-node",), tmp_path)
    assert len(outputs) >= 6


def test_readme_trust_framework_blocks_run_as_written(tmp_path):
    """The operator sets up the trust framework; Flexco's admin registers an application and
    a node, which the operator approves; the node serves HTTPS with trust framework tokens
    and takes an asset with a bound token (and refuses the token without its certificate);
    the block's own `kill` stops both servers."""
    flexco = json.loads((ROOT / "examples/trust/flexco.json").read_text())
    outputs = run_block(("trust-setup", "trust-node"), tmp_path,
                        env={"FMAR_ADMIN_PASSWORD": TRUST_ADMIN_PASSWORD},
                        passwords={"operator@example.org": TRUST_ADMIN_PASSWORD,
                                   flexco["admin_email"]: flexco["admin_password"]})
    assert sum("Logged in." in output for output in outputs) == 2


def test_readme_steps_split_commands_as_bash_does():
    """A command ends at a line without a backslash, outside quotes; an apostrophe in a
    trailing comment does not open a quote, and a ` # ` inside a quoted argument is no
    comment."""
    text = ("<!-- readme-test: t -->\n```sh\nfmar a --out x/   # the node's key\n#-> one\n"
            "curl -d '{\"a\": 1}' \\\n  http://h/   # it's sent\nfmar q 'SELECT ?a # note\n"
            "  WHERE {}'\n```\n")
    steps = readme_steps("<!-- readme-test: t -->", text)
    assert [s.command.split()[0] for s in steps] == ["fmar", "curl", "fmar"]
    assert steps[0].expected == ["one"] and "WHERE" in steps[2].command
