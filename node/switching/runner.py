"""The node's switching clock: a thread that, at start and every FMAR_SWITCH_POLL_SECONDS,
takes the hand-over steps that are due (a notice that ended, a hand-over under way,
one interrupted by a crash). A step that cannot be taken now (the other node or the trust
framework down) is tried again on the next round."""

from __future__ import annotations

import logging
import threading

from node.switching.peer import PeerUnavailable
from node.switching.service import Switching

logger = logging.getLogger("fmar.switching")


class Runner:
    def __init__(self, switching: Switching, every: float):
        self.switching, self.every = switching, max(every, 0.05)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fmar-switching", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():  # a node closed without being started has none
            self._thread.join(timeout=30)

    def run_once(self) -> None:
        for rec in self.switching.pending():
            if self._stop.is_set():
                return
            try:
                self.switching.advance(rec)
            except PeerUnavailable as exc:
                logger.info("switch %s waits: %s", rec.iri, exc)
            except Exception:
                logger.exception("switch %s: step failed, tried again later", rec.iri)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self._stop.wait(self.every)
