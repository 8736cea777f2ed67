"""A Fabric client identity read from an MSP directory, and its signer.

An MSP directory (what ``cryptogen`` or ``fabric-ca-client enroll`` writes) holds the X.509
certificate in ``signcerts/*.pem`` and the PKCS#8 EC P-256 private key in ``keystore/*``. Fabric
identifies a client by ``SerializedIdentity(mspid, id_bytes=<PEM certificate>)`` (the *creator*)
and accepts ECDSA P-256 signatures over SHA-256, DER-encoded, with a **low S** (``s <= n/2``);
a high-S signature is refused as malleable.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from fabric_protos.msp import identities_pb2

from ledger_svc.fabric.errors import FabricConfigError

#: The order of the P-256 group; a signature's ``s`` must not exceed half of it.
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_HALF_ORDER = P256_ORDER >> 1


def to_low_s(signature: bytes) -> bytes:
    """The DER signature with ``s`` replaced by ``n - s`` when ``s > n/2`` (both verify; Fabric
    accepts only the low one)."""
    r, s = decode_dss_signature(signature)
    if s > _HALF_ORDER:
        s = P256_ORDER - s
    return encode_dss_signature(r, s)


def is_low_s(signature: bytes) -> bool:
    """Whether the DER signature's ``s`` is at most ``n/2``."""
    return decode_dss_signature(signature)[1] <= _HALF_ORDER


@dataclass(frozen=True)
class SigningIdentity:
    """A member of an organisation: its MSP id, certificate and private key."""

    msp_id: str
    certificate_pem: bytes
    private_key: ec.EllipticCurvePrivateKey

    def creator(self) -> bytes:
        """The serialized identity Fabric puts in headers and requests (``SerializedIdentity``)."""
        identity = identities_pb2.SerializedIdentity(
            mspid=self.msp_id, id_bytes=self.certificate_pem
        )
        serialized: bytes = identity.SerializeToString()
        return serialized

    def sign(self, message: bytes) -> bytes:
        """ECDSA P-256 over SHA-256(``message``), DER-encoded, low S."""
        return to_low_s(self.private_key.sign(message, ec.ECDSA(hashes.SHA256())))

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is ours over ``message`` (for tests and self-checks)."""
        try:
            self.private_key.public_key().verify(signature, message, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return False
        return True

    @property
    def common_name(self) -> str:
        """The certificate subject's CN (e.g. ``User1@seoulcity.example``), for messages."""
        cert = x509.load_pem_x509_certificate(self.certificate_pem)
        names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        return str(names[0].value) if names else cert.subject.rfc4514_string()


def transaction_id(nonce: bytes, creator: bytes) -> str:
    """Fabric's transaction id: hex SHA-256 of the nonce followed by the creator bytes."""
    return hashlib.sha256(nonce + creator).hexdigest()


def _single_file(folder: Path, pattern: str, what: str) -> Path:
    if not folder.is_dir():
        raise FabricConfigError(f"MSP directory has no {folder.name}/ folder: {folder}")
    files = sorted(p for p in folder.glob(pattern) if p.is_file())
    if not files:
        raise FabricConfigError(f"no {what} in {folder}")
    if len(files) > 1:
        raise FabricConfigError(
            f"more than one {what} in {folder}: {', '.join(p.name for p in files)}"
        )
    return files[0]


def load_identity(msp_dir: str | Path, msp_id: str) -> SigningIdentity:
    """Read the certificate and key of ``msp_dir`` and check that they belong together."""
    base = Path(msp_dir)
    if not base.is_dir():
        raise FabricConfigError(f"MSP directory not found: {base}")
    cert_path = _single_file(base / "signcerts", "*.pem", "certificate (*.pem)")
    key_path = _single_file(base / "keystore", "*", "private key")
    certificate_pem = cert_path.read_bytes()
    try:
        cert = x509.load_pem_x509_certificate(certificate_pem)
    except ValueError as exc:
        raise FabricConfigError(f"{cert_path} is not a PEM certificate: {exc}") from exc
    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise FabricConfigError(f"{key_path} is not an unencrypted PEM private key: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise FabricConfigError(f"{key_path} is not an EC P-256 private key")
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if public != cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ):
        raise FabricConfigError(f"the key in {key_path} does not match the certificate {cert_path}")
    return SigningIdentity(msp_id=msp_id, certificate_pem=certificate_pem, private_key=key)
