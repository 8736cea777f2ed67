"""The local Hyperledger Fabric network the launcher starts with ``LEDGER_BACKEND=fabric``
(``deploy/fabric/fabric.sh up``, data in ``$FABRIC_HOME``; docs/fabric.md)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

from services_dev.localrt.config import LauncherError

__all__ = ["LocalFabric"]


class LocalFabric:
    """``fabric.sh up`` before the services, ``fabric.sh down`` (the ledger is kept) after."""

    def __init__(
        self,
        repo_root: Path,
        exported: Mapping[str, str],
        child_env: Callable[[], dict[str, str]],
        say: Callable[[str], None],
    ) -> None:
        """Describe the network of this run; nothing starts before :meth:`up`."""
        self.repo_root = repo_root
        self.exported = exported
        self._child_env = child_env
        self._say = say
        self._up = False

    @property
    def enabled(self) -> bool:
        """Whether ledger-svc anchors on the local Fabric network (``LEDGER_BACKEND=fabric``)."""
        return self.exported.get("LEDGER_BACKEND") == "fabric"

    def _run(self, command: str, timeout: float | None) -> int:
        script = self.repo_root / "deploy" / "fabric" / "fabric.sh"
        if not script.is_file():
            raise LauncherError(f"LEDGER_BACKEND=fabric needs {script}, which does not exist")
        return subprocess.run(
            ["bash", str(script), command],
            env=self._child_env(),
            cwd=self.repo_root,
            stdin=subprocess.DEVNULL,
            check=False,
            timeout=timeout,
        ).returncode

    def up(self) -> None:
        """Start the network and check that it wrote its connection profile."""
        home = self.exported["FABRIC_HOME"]
        self._say(
            f"launcher: starting the Fabric network (deploy/fabric/fabric.sh up, FABRIC_HOME={home})"
        )
        # A cold start builds the Fabric binaries from source: minutes, so no time limit here.
        self._up = True
        code = self._run("up", timeout=None)
        if code != 0:
            raise LauncherError(
                f"deploy/fabric/fabric.sh up failed with exit code {code} (see above)"
            )
        profile = Path(self.exported["LEDGER_FABRIC_PROFILE"])
        if not profile.is_file():
            raise LauncherError(f"fabric.sh up wrote no connection profile at {profile}")

    def down(self) -> None:
        """Stop the network if :meth:`up` started it (its ledger is kept)."""
        if not self._up:
            return
        self._up = False
        self._say("launcher: stopping the Fabric network (its ledger is kept)")
        try:
            code = self._run("down", timeout=120.0)
        except (subprocess.TimeoutExpired, LauncherError) as exc:
            self._say(f"launcher: fabric.sh down did not finish: {exc}")
            return
        if code != 0:
            self._say(f"launcher: fabric.sh down failed with exit code {code}")
