"""The ``verify-receipt`` command (docs/verification.md): read the receipt, the published head and
optionally the keys and a consistency proof from files, check them with
:func:`ledger_svc.verify.verify_receipt`, print every step and the verdict::

    ledger-svc verify-receipt receipt.json --head head.json [--keys keys.json]
        [--record-hash HEX] [--consistency proof.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from ledger_svc import verify
from ledger_svc.treehead import InvalidKey
from ledger_svc.verify import VerificationResult, verify_receipt

_DESCRIPTION = (verify.__doc__ or "").split("\n\n")[0] or None


def _read_json(path: str) -> object:
    text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    return json.loads(text)


def _key_list(document: object) -> list[Mapping[str, object]]:
    """A JWKS ``{"keys": [...]}``, a list of JWKs or one JWK."""
    if isinstance(document, Mapping) and "keys" in document:
        document = document["keys"]
    if isinstance(document, Mapping):
        return [document]
    if isinstance(document, list):
        return document
    raise InvalidKey("the keys file must hold a JWKS, a list of JWKs or one JWK")


def verify_files(args: argparse.Namespace) -> tuple[object, VerificationResult]:
    """Read the files ``verify-receipt`` was given and check them offline: the receipt and the
    report (OSError or ValueError when a file cannot be read)."""
    receipt = _read_json(args.receipt)
    head = _read_json(args.head)
    keys = _key_list(_read_json(args.keys)) if args.keys else None
    consistency = _read_json(args.consistency) if args.consistency else None
    return receipt, verify_receipt(
        receipt, head, keys, record_hash=args.record_hash, consistency=consistency
    )


def print_report(result: VerificationResult) -> int:
    """Print each step and the verdict; the exit code (0 if verified, else 1)."""
    for step in result.steps:
        sys.stdout.write(f"{step}\n")
    sys.stdout.write("RECEIPT VERIFIED\n" if result.ok else "RECEIPT NOT VERIFIED\n")
    return 0 if result.ok else 1


def _command(args: argparse.Namespace) -> int:
    try:
        _, result = verify_files(args)
    except (OSError, ValueError) as exc:
        sys.stdout.write(f"cannot read the input: {exc}\n")
        return 1
    return print_report(result)


def _configure(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument(
        "receipt", help="receipt JSON (GET /v1/ledger/receipts/{vote_id}); - for stdin"
    )
    parser.add_argument(
        "--head", required=True, help="published tree head JSON (GET /v1/ledger/head)"
    )
    parser.add_argument(
        "--keys", help="the ledger's public keys: a JWKS, a list of JWKs or one JWK"
    )
    parser.add_argument(
        "--record-hash", help="the record_hash of your vote receipt; the leaf must hash to it"
    )
    parser.add_argument(
        "--consistency",
        help="consistency proof JSON (GET /v1/ledger/proofs/consistency?from=&to=) from the "
        "receipt's tree size to the head's, for receipts that carry none",
    )
    parser.set_defaults(func=_command)
    return parser


def add_verify_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``verify-receipt`` (its parser sets ``func``, as services.cli expects)."""
    _configure(
        subparsers.add_parser(
            "verify-receipt",
            help="verify a vote receipt offline against a published tree head",
            description=_DESCRIPTION,
        )
    )


def run(argv: Sequence[str] | None = None) -> int:
    """``verify-receipt`` on its own: parse ``argv``, print each step, 0 if verified else 1."""
    parser = _configure(argparse.ArgumentParser(prog="ledger-svc verify-receipt"))
    args = parser.parse_args(argv)
    return _command(args)


if __name__ == "__main__":
    raise SystemExit(run())
