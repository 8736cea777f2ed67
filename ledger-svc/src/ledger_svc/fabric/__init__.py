"""A Python client of Hyperledger Fabric's Gateway service (grpcio + hyperledger-fabric-protos +
cryptography) and the ``votes`` chaincode's calls: what ``FabricBackend`` anchors batches with.

- :mod:`~ledger_svc.fabric.profile`: the connection profile (channel, chaincode, peers, MSP dirs).
- :mod:`~ledger_svc.fabric.identity`: the client identity from an MSP directory, low-S signer.
- :mod:`~ledger_svc.fabric.proposal`: proposals, transaction ids, signed requests (pure).
- :mod:`~ledger_svc.fabric.gateway`: Evaluate, Endorse → Submit → CommitStatus, ChaincodeEvents,
  TLS, deadlines and retries.
- :mod:`~ledger_svc.fabric.contract`: ``RecordBatch``, ``GetBatch``, ``CountTarget``, ...
"""

from ledger_svc.fabric.contract import RecordedBatch, StoredBatch, StoredRecord, VotesContract
from ledger_svc.fabric.errors import (
    ChaincodeError,
    CommitFailed,
    FabricConfigError,
    FabricError,
    FabricUnavailable,
)
from ledger_svc.fabric.gateway import Gateway, RetryPolicy, Timeouts
from ledger_svc.fabric.identity import SigningIdentity, load_identity
from ledger_svc.fabric.profile import ConnectionProfile, load_profile

__all__ = [
    "ChaincodeError",
    "CommitFailed",
    "ConnectionProfile",
    "FabricConfigError",
    "FabricError",
    "FabricUnavailable",
    "Gateway",
    "RecordedBatch",
    "RetryPolicy",
    "SigningIdentity",
    "StoredBatch",
    "StoredRecord",
    "Timeouts",
    "VotesContract",
    "load_identity",
    "load_profile",
]
