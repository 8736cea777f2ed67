package votes

import "crypto/sha256"

// RFC 6962 (RFC 9162 §2.1.1) Merkle Tree Hash, the same tree ledger-svc builds in Python:
//
//	MTH({d0})     = SHA-256(0x00 || d0)
//	MTH(D[0:n])   = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))   k = largest power of two < n
//	MTH({})       = SHA-256()

// leafHash is SHA-256(0x00 || data).
func leafHash(data []byte) [sha256.Size]byte {
	h := sha256.New()
	h.Write([]byte{0x00})
	h.Write(data)
	var out [sha256.Size]byte
	copy(out[:], h.Sum(nil))
	return out
}

// nodeHash is SHA-256(0x01 || left || right).
func nodeHash(left, right [sha256.Size]byte) [sha256.Size]byte {
	h := sha256.New()
	h.Write([]byte{0x01})
	h.Write(left[:])
	h.Write(right[:])
	var out [sha256.Size]byte
	copy(out[:], h.Sum(nil))
	return out
}

// MerkleRoot returns the RFC 6962 Merkle Tree Hash of the leaves, in order.
func MerkleRoot(leaves [][]byte) [sha256.Size]byte {
	if len(leaves) == 0 {
		return sha256.Sum256(nil)
	}
	hashes := make([][sha256.Size]byte, len(leaves))
	for i, leaf := range leaves {
		hashes[i] = leafHash(leaf)
	}
	return mth(hashes)
}

func mth(hashes [][sha256.Size]byte) [sha256.Size]byte {
	if len(hashes) == 1 {
		return hashes[0]
	}
	k := 1
	for k*2 < len(hashes) {
		k *= 2
	}
	return nodeHash(mth(hashes[:k]), mth(hashes[k:]))
}
