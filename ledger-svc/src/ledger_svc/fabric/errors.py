"""What can go wrong talking to a Fabric network, as exceptions the ledger can act on.

``FabricUnavailable`` is the only *transient* one: the network (or the part of it we need) could
not be reached within the retry budget, so the caller should keep its work and try later. The
others are answers: the chaincode refused, or the network validated the transaction as invalid.
"""

from __future__ import annotations


class FabricError(Exception):
    """Base class of the Fabric client's errors."""


class FabricConfigError(FabricError):
    """The connection profile or an MSP directory is missing or unusable."""


class FabricUnavailable(FabricError):
    """The gateway peer (or the peers, orderer or chaincode behind it) could not be reached or
    did not answer in time, after retrying for the configured budget."""


class ChaincodeError(FabricError):
    """The chaincode answered with an error (e.g. ``not found``); retrying will not help."""

    def __init__(self, message: str, *, tx_id: str | None = None) -> None:
        super().__init__(message)
        self.tx_id = tx_id


class CommitFailed(FabricError):
    """The transaction was ordered but the peers validated it as invalid (e.g.
    ``ENDORSEMENT_POLICY_FAILURE``); its writes were not applied."""

    def __init__(self, tx_id: str, code: int, code_name: str, block: int) -> None:
        super().__init__(
            f"transaction {tx_id} failed to commit with status {code} ({code_name}) in block {block}"
        )
        self.tx_id = tx_id
        self.code = code
        self.code_name = code_name
        self.block = block
