"""The connection profile: what an operator of a Fabric network gives us to connect.

``profile.json`` (written by ``deploy/fabric/fabric.sh up``, or by hand for an existing network)::

    {"channel": "votes", "chaincode": "votes", "client_org": "SeoulCityMSP",
     "organizations": {
       "SeoulCityMSP": {"peer": {"endpoint": "127.0.0.1:7051", "tls_ca": "/abs/tlsca.pem",
                                 "server_name": "peer0.seoulcity.example"},
                        "msp_dir": "/abs/users/User1@seoulcity.example/msp",
                        "admin_msp_dir": "/abs/users/Admin@seoulcity.example/msp"},
       "CitizenAuditMSP": {...}}}

Relative paths are resolved against the profile's own directory, so a profile and its MSP
folders can be mounted together (e.g. from one Kubernetes Secret).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ledger_svc.fabric.errors import FabricConfigError


@dataclass(frozen=True)
class PeerEndpoint:
    """A peer's gateway address and how to check its TLS certificate."""

    endpoint: str
    tls_ca: Path
    server_name: str


@dataclass(frozen=True)
class OrgProfile:
    """One organisation: its peer and the MSP directory of the identity we act as."""

    msp_id: str
    peer: PeerEndpoint
    msp_dir: Path
    admin_msp_dir: Path | None = None


@dataclass(frozen=True)
class ConnectionProfile:
    """Channel, chaincode, the organisation we connect as, and every organisation's peer."""

    path: Path
    channel: str
    chaincode: str
    client_org: str
    organizations: Mapping[str, OrgProfile]

    def org(self, msp_id: str | None = None) -> OrgProfile:
        """The organisation ``msp_id`` (default: ``client_org``)."""
        name = msp_id or self.client_org
        try:
            return self.organizations[name]
        except KeyError:
            known = ", ".join(sorted(self.organizations))
            raise FabricConfigError(
                f"{self.path}: no organisation {name!r} (the profile has {known})"
            ) from None


def _text(data: Mapping[str, object], key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise FabricConfigError(f"{where}: {key!r} must be a non-empty string")
    return value


def _object(data: Mapping[str, object], key: str, where: str) -> Mapping[str, object]:
    value = data.get(key)
    if not isinstance(value, Mapping):
        raise FabricConfigError(f"{where}: {key!r} must be an object")
    return value


def _path(base: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else (base / path).resolve()


def parse_profile(data: object, path: Path) -> ConnectionProfile:
    """Validate a decoded profile; relative paths are taken from ``path``'s directory."""
    where = str(path)
    if not isinstance(data, Mapping):
        raise FabricConfigError(f"{where}: the profile must be a JSON object")
    base = path.parent
    orgs: dict[str, OrgProfile] = {}
    for msp_id, raw in _object(data, "organizations", where).items():
        at = f"{where}: organizations.{msp_id}"
        if not isinstance(raw, Mapping):
            raise FabricConfigError(f"{at} must be an object")
        peer = _object(raw, "peer", at)
        admin = raw.get("admin_msp_dir")
        orgs[str(msp_id)] = OrgProfile(
            msp_id=str(msp_id),
            peer=PeerEndpoint(
                endpoint=_text(peer, "endpoint", f"{at}.peer"),
                tls_ca=_path(base, _text(peer, "tls_ca", f"{at}.peer")),
                server_name=_text(peer, "server_name", f"{at}.peer"),
            ),
            msp_dir=_path(base, _text(raw, "msp_dir", at)),
            admin_msp_dir=_path(base, admin) if isinstance(admin, str) and admin else None,
        )
    profile = ConnectionProfile(
        path=path,
        channel=_text(data, "channel", where),
        chaincode=_text(data, "chaincode", where),
        client_org=_text(data, "client_org", where),
        organizations=orgs,
    )
    profile.org()  # the client organisation must be described
    return profile


def load_profile(path: str | Path) -> ConnectionProfile:
    """Read and validate ``profile.json``."""
    file = Path(path).expanduser().resolve()
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FabricConfigError(
            f"Fabric connection profile not found: {file} (run `make fabric-up`, or set "
            "LEDGER_FABRIC_PROFILE to your network's profile)"
        ) from None
    except (OSError, ValueError) as exc:
        raise FabricConfigError(f"cannot read the Fabric connection profile {file}: {exc}") from exc
    return parse_profile(data, file)
