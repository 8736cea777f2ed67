"""Confirming a receipt on the chain: ``ledger-svc verify-receipt ... --fabric profile.json``.

The offline checks (docs/verification.md) prove the vote is in the signed Merkle log. With a
Fabric connection profile (for example the auditor organisation's, ``--fabric-org
CitizenAuditMSP``, so that the answer comes from the auditor's own peer), the verifier also asks
the channel:

1. ``GetBatch(batch_id)``: the chain holds the receipt's batch with the same batch root, and was
   stored by the receipt's transaction;
2. ``CommitStatus(tx_id)``: that transaction is VALID, in the receipt's block;
3. ``GetRecordByVote(vote_id)``: the chain holds this vote's record, byte for byte the leaf.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import sys
from collections.abc import Callable, Mapping

from ledger_svc.fabric.contract import VotesContract, batch_id
from ledger_svc.fabric.errors import FabricError
from ledger_svc.fabric.gateway import VALID, Gateway
from ledger_svc.fabric.profile import load_profile
from ledger_svc.verify import VerificationResult
from ledger_svc.verify_cli import print_report, verify_files


def _anchor(receipt: object) -> Mapping[str, object] | None:
    if not isinstance(receipt, Mapping):
        return None
    anchor = receipt.get("anchor")
    return anchor if isinstance(anchor, Mapping) else None


async def check_on_chain(
    receipt: object, contract: VotesContract, result: VerificationResult
) -> None:
    """Add the on-chain checks of ``receipt`` to ``result``."""
    anchor = _anchor(receipt)
    if anchor is None or anchor.get("backend") != "fabric":
        result.failed("the receipt's anchor is not a Fabric anchor (backend must be 'fabric')")
        return
    channel = anchor.get("channel")
    if channel != contract.channel:
        result.failed(
            f"the receipt is anchored on channel {channel!r}, the profile's is {contract.channel!r}"
        )
        return
    seq, root, tx_id, block = (
        anchor.get("batch"),
        anchor.get("batch_root"),
        anchor.get("tx_id"),
        anchor.get("block"),
    )
    if not isinstance(seq, int) or not isinstance(root, str) or not isinstance(tx_id, str):
        result.failed("the anchor lacks batch, batch_root or tx_id")
        return
    try:
        root_bytes = bytes.fromhex(root)
    except ValueError:
        result.failed("the anchor's batch_root is not hex")
        return
    key = str(anchor.get("batch_id") or batch_id(seq, root_bytes))
    where = f"channel {contract.channel} via {contract.gateway.where}"

    stored = await contract.get_batch(key)
    if stored is None:
        result.failed(f"the chain has NO batch {key} ({where})")
    else:
        if stored.root == root:
            result.passed(
                f"the chain's batch {key} has the receipt's batch root {root} "
                f"({stored.size} records; {where})"
            )
        else:
            result.failed(f"the chain's batch {key} has root {stored.root}, NOT {root}")
        if stored.tx_id == tx_id:
            result.passed(f"the chain stored batch {key} in transaction {tx_id}")
        else:
            result.failed(
                f"the chain stored batch {key} in transaction {stored.tx_id}, not {tx_id}"
            )

    status = await contract.gateway.wait_for_commit(tx_id)
    if status.code != VALID:
        result.failed(f"transaction {tx_id} is {status.code_name} in block {status.block}")
    elif block is not None and status.block != block:
        result.failed(f"transaction {tx_id} is in block {status.block}, not the receipt's {block}")
    else:
        result.passed(f"transaction {tx_id} is VALID in block {status.block}")

    vote_id = receipt.get("vote_id") if isinstance(receipt, Mapping) else None
    leaf = receipt.get("leaf") if isinstance(receipt, Mapping) else None
    if not isinstance(vote_id, str) or not isinstance(leaf, str):
        return
    record = await contract.get_record_by_vote(vote_id)
    try:
        leaf_bytes = base64.b64decode(leaf, validate=True)
    except (binascii.Error, ValueError):
        return
    if record is None:
        result.failed(f"the chain has NO record of vote {vote_id}")
    elif record.record == leaf_bytes:
        result.passed(
            f"the chain holds vote {vote_id}'s record byte for byte under "
            f"({record.target}, {record.voter_tag}), written by transaction {record.tx_id}"
        )
    else:
        result.failed(f"the chain's record of vote {vote_id} differs from the receipt's leaf")


async def _verify(args: argparse.Namespace) -> VerificationResult:
    # The same input files, read the same way, as without --fabric.
    receipt, result = verify_files(args)
    gateway = Gateway(load_profile(args.fabric), org=args.fabric_org)
    try:
        await check_on_chain(receipt, VotesContract(gateway), result)
    finally:
        await gateway.close()
    return result


def _command(args: argparse.Namespace) -> int:
    write = sys.stdout.write
    try:
        result = asyncio.run(_verify(args))
    except (OSError, ValueError) as exc:
        write(f"cannot read the input: {exc}\n")
        return 1
    except FabricError as exc:
        write(f"cannot ask the Fabric network: {exc}\n")
        return 1
    return print_report(result)


def add_fabric_options(parser: argparse.ArgumentParser) -> None:
    """Give ``verify-receipt`` its ``--fabric`` and ``--fabric-org`` options."""
    offline: Callable[[argparse.Namespace], int] = parser.get_default("func")
    parser.add_argument(
        "--fabric",
        metavar="PROFILE",
        help="also confirm the receipt on the Fabric channel with this connection profile "
        "(profile.json): batch root, transaction, block and the vote's record",
    )
    parser.add_argument(
        "--fabric-org",
        metavar="MSPID",
        help="the organisation to ask as (its peer and identity; default: the profile's "
        "client_org), e.g. CitizenAuditMSP",
    )

    def command(args: argparse.Namespace) -> int:
        return offline(args) if args.fabric is None else _command(args)

    parser.set_defaults(func=command)
