"""The README stays honest: its single-node walkthrough runs as written against the installed
`fmar demo` (a real process, started from outside the repository so that nothing but the
installed package is imported), and every `#-> text` line in it appears in what the command
before it printed. Also: the demo keeps its data, tokens and port between runs, `--fresh`
starts again, Ctrl-C stops it cleanly, and /docs works offline."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]
FMAR = str(Path(sys.executable).parent / "fmar")
MARKER = "<!-- readme-test: single-node -->"


@dataclass
class Step:
    command: str
    expected: list[str] = field(default_factory=list)


def readme_steps(marker: str) -> list[Step]:
    """The commands of the ```sh block after `marker`, each with its `#->` lines."""
    text = (ROOT / "README.md").read_text()
    block = text[text.index(marker):].split("```sh\n", 1)[1].split("```", 1)[0]
    steps: list[Step] = []
    pending = ""
    for line in block.splitlines():
        if line.startswith("#-> "):
            steps[-1].expected.append(line[4:])
        elif pending or (line.strip() and not line.startswith("#")):
            pending += line + "\n"
            # a command ends at a line without a trailing backslash, outside '…' quotes
            if not line.endswith("\\") and pending.count("'") % 2 == 0:
                steps.append(Step(pending))
                pending = ""
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
    import json

    return json.loads((ROOT / "examples" / "asset.json").read_text())
