package votes

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
)

// Roots computed by ledger-svc's Python implementation (ledger_svc.merkle.root_hash) for the
// leaves "record-0" ... "record-(n-1)", so the chaincode and the service agree on the tree.
var pythonRoots = map[int]string{
	1: "45c7bdcd45db42b418f7c42663fbeb464c9f0a88980cbc31fdddd29d24f724ee",
	2: "d075b56a4adef62530a52839802802da518a21b5d0bf35eb05fea2b295a855fa",
	3: "d6a93c4b91bf4b5be4fae77b5be1439df69e7c7c38007eb704c299cd0e1057b1",
	5: "be86a57ed4ff3ab4bdeac05994ad169ef3a431e8991ed51f7c143b4d9f2f478e",
	7: "ac49bffc2e4b5dc0e6a0fc76b80860d2c23955b84d453db541134372e2c5a91f",
	8: "cec12395a3f3d7cc4d19a469f03b41f0a15b3a3167728474ab07bd4955a088b3",
}

func TestMerkleRootMatchesPythonImplementation(t *testing.T) {
	for n, want := range pythonRoots {
		leaves := make([][]byte, n)
		for i := range leaves {
			leaves[i] = []byte(fmt.Sprintf("record-%d", i))
		}
		got := MerkleRoot(leaves)
		if hex.EncodeToString(got[:]) != want {
			t.Errorf("n=%d: root %x, want %s", n, got, want)
		}
	}
}

func TestMerkleRootDefinition(t *testing.T) {
	a, b, c := []byte("a"), []byte("b"), []byte("c")
	la := sha256.Sum256(append([]byte{0}, a...))
	lb := sha256.Sum256(append([]byte{0}, b...))
	lc := sha256.Sum256(append([]byte{0}, c...))
	node := func(l, r [32]byte) [32]byte {
		return sha256.Sum256(append(append([]byte{1}, l[:]...), r[:]...))
	}
	if got := MerkleRoot([][]byte{a}); got != la {
		t.Errorf("one leaf: %x, want %x", got, la)
	}
	if got, want := MerkleRoot([][]byte{a, b, c}), node(node(la, lb), lc); got != want {
		t.Errorf("three leaves: %x, want %x", got, want)
	}
	if got, want := MerkleRoot(nil), sha256.Sum256(nil); got != want {
		t.Errorf("empty: %x, want %x", got, want)
	}
	// Order matters.
	if MerkleRoot([][]byte{a, b}) == MerkleRoot([][]byte{b, a}) {
		t.Error("swapping leaves must change the root")
	}
}
