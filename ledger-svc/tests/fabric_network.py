"""The local Fabric network (deploy/fabric/fabric.sh) as tests and benchmarks drive it: a data
directory and a port offset of their own, so that it runs beside `make run`'s network."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "deploy" / "fabric" / "fabric.sh"
#: A cold `up` builds the Fabric binaries from source (minutes on two cores); later ones reuse them.
UP_TIMEOUT = 1500.0


class FabricNetworkError(RuntimeError):
    """fabric.sh failed; the message carries the end of its output."""


@dataclass(frozen=True)
class FabricNetwork:
    """One network: its data directory, port offset and log of fabric.sh runs."""

    home: Path
    port_offset: int
    log: Path

    @property
    def profile(self) -> Path:
        """The connection profile `up` writes."""
        return self.home / "profile.json"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FABRIC_")}
        env["FABRIC_HOME"] = str(self.home)
        env["FABRIC_PORT_OFFSET"] = str(self.port_offset)
        if "FABRIC_BIN_DIR" in os.environ:  # a shared binary cache, if the caller set one
            env["FABRIC_BIN_DIR"] = os.environ["FABRIC_BIN_DIR"]
        return env

    def run(self, command: str, timeout: float = 300.0) -> str:
        """``fabric.sh <command>``; its output, or FabricNetworkError with the output's end."""
        if not SCRIPT.is_file():
            raise FabricNetworkError(f"{SCRIPT} does not exist")
        self.log.parent.mkdir(parents=True, exist_ok=True)
        try:
            done = subprocess.run(
                ["bash", str(SCRIPT), command],
                cwd=REPO_ROOT,
                env=self.env(),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            output = "".join(
                part.decode(errors="replace") if isinstance(part, bytes) else part
                for part in (exc.stdout or "", exc.stderr or "")
            )
            self._append(command, output)
            raise FabricNetworkError(
                f"fabric.sh {command} did not finish in {timeout:.0f}s:\n{output[-6000:]}"
            ) from None
        output = done.stdout + done.stderr
        self._append(command, output)
        if done.returncode != 0:
            raise FabricNetworkError(
                f"fabric.sh {command} failed with exit code {done.returncode} "
                f"(FABRIC_HOME={self.home}, FABRIC_PORT_OFFSET={self.port_offset}):\n"
                f"{output[-6000:]}"
            )
        return output

    def _append(self, command: str, output: str) -> None:
        with self.log.open("a", encoding="utf-8") as out:
            out.write(f"\n===== fabric.sh {command} =====\n{output}")

    def up(self) -> None:
        self.run("up", timeout=UP_TIMEOUT)
        if not self.profile.is_file():
            raise FabricNetworkError(f"fabric.sh up succeeded but wrote no {self.profile}")

    def down(self) -> None:
        self.run("down", timeout=120.0)

    def stop_peers(self) -> None:
        self.run("stop-peers", timeout=120.0)

    def start_peers(self) -> None:
        self.run("start-peers", timeout=300.0)


def ledger_tests_network() -> FabricNetwork:
    """The network of the ledger tests: .data/fabric-test, ports +200."""
    return FabricNetwork(
        home=REPO_ROOT / ".data" / "fabric-test",
        port_offset=200,
        log=REPO_ROOT / ".data" / "fabric-test.log",
    )


@dataclass(frozen=True)
class BackendChoice:
    """Which backend a test runs against, and the network for ``fabric``."""

    name: str
    network: FabricNetwork | None = None

    def settings(self) -> dict[str, Any]:
        """The ``LedgerSettings`` fields that select this backend."""
        if self.network is None:
            return {"backend": self.name}
        return {"backend": self.name, "fabric_profile": self.network.profile}

    def env(self) -> dict[str, str]:
        """The same as ``LEDGER_*`` environment variables (for subprocesses)."""
        return {f"LEDGER_{k.upper()}": str(v) for k, v in self.settings().items()}
