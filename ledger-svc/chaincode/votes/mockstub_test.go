package votes

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/queryresult"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// fakeLedger is an in-memory world state with key history, committed one transaction at a time.
// It reproduces the Fabric behaviours the chaincode depends on: a transaction does not read its
// own writes, writes become visible only when the transaction commits, and paginated
// partial-composite-key queries return a bookmark.
type fakeLedger struct {
	state   map[string][]byte
	history map[string][]*queryresult.KeyModification
	txCount int
	reads   int // GetState/GetMultipleStates keys read, to check counters need no scan
	scans   int // range/partial-key queries started
}

func newFakeLedger() *fakeLedger {
	return &fakeLedger{state: map[string][]byte{}, history: map[string][]*queryresult.KeyModification{}}
}

// fakeStub is the stub of one transaction. Methods the chaincode must not use are left to the
// embedded nil interface and panic if called.
type fakeStub struct {
	shim.ChaincodeStubInterface
	ledger    *fakeLedger
	txID      string
	args      [][]byte
	writes    map[string][]byte
	order     []string
	events    []*peer.ChaincodeEvent
	timestamp *timestamppb.Timestamp
	batching  bool
}

func (l *fakeLedger) newStub(args ...string) *fakeStub {
	l.txCount++
	raw := make([][]byte, len(args))
	for i, a := range args {
		raw[i] = []byte(a)
	}
	return &fakeStub{
		ledger:    l,
		txID:      fmt.Sprintf("tx%04d", l.txCount),
		args:      raw,
		writes:    map[string][]byte{},
		timestamp: timestamppb.New(timestampBase.Add(int64Duration(l.txCount))),
	}
}

// commit applies the transaction's writes, as a valid transaction in a block would.
func (s *fakeStub) commit() {
	keys := append([]string(nil), s.order...)
	sort.Strings(keys)
	for _, k := range keys {
		v := s.writes[k]
		s.ledger.state[k] = v
		s.ledger.history[k] = append(s.ledger.history[k], &queryresult.KeyModification{
			TxId: s.txID, Value: v, Timestamp: s.timestamp, IsDelete: false,
		})
	}
}

func (s *fakeStub) GetArgs() [][]byte { return s.args }
func (s *fakeStub) GetStringArgs() []string {
	out := make([]string, len(s.args))
	for i, a := range s.args {
		out[i] = string(a)
	}
	return out
}
func (s *fakeStub) GetFunctionAndParameters() (string, []string) {
	a := s.GetStringArgs()
	if len(a) == 0 {
		return "", nil
	}
	return a[0], a[1:]
}
func (s *fakeStub) GetTxID() string                                 { return s.txID }
func (s *fakeStub) GetChannelID() string                            { return "votes" }
func (s *fakeStub) GetCreator() ([]byte, error)                     { return nil, fmt.Errorf("no creator in unit tests") }
func (s *fakeStub) GetTxTimestamp() (*timestamppb.Timestamp, error) { return s.timestamp, nil }

func (s *fakeStub) GetState(key string) ([]byte, error) {
	s.ledger.reads++
	return s.ledger.state[key], nil // committed state only, like Fabric
}

func (s *fakeStub) GetMultipleStates(keys ...string) ([][]byte, error) {
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i], _ = s.GetState(k)
	}
	return out, nil
}

func (s *fakeStub) PutState(key string, value []byte) error {
	if key == "" {
		return fmt.Errorf("key must not be an empty string")
	}
	if _, ok := s.writes[key]; !ok {
		s.order = append(s.order, key)
	}
	s.writes[key] = append([]byte(nil), value...)
	return nil
}

func (s *fakeStub) StartWriteBatch()        { s.batching = true }
func (s *fakeStub) FinishWriteBatch() error { s.batching = false; return nil }

func (s *fakeStub) SetEvent(name string, payload []byte) error {
	if name == "" {
		return fmt.Errorf("event name can not be empty string")
	}
	// Fabric keeps only the last event a transaction sets.
	s.events = []*peer.ChaincodeEvent{{EventName: name, Payload: payload, TxId: s.txID, ChaincodeId: "votes"}}
	return nil
}

func (s *fakeStub) CreateCompositeKey(objectType string, attributes []string) (string, error) {
	return shim.CreateCompositeKey(objectType, attributes)
}

func (s *fakeStub) SplitCompositeKey(compositeKey string) (string, []string, error) {
	parts := strings.Split(strings.TrimPrefix(compositeKey, "\x00"), "\x00")
	if len(parts) < 2 {
		return "", nil, fmt.Errorf("not a composite key: %q", compositeKey)
	}
	return parts[0], parts[1 : len(parts)-1], nil
}

func (s *fakeStub) GetStateByPartialCompositeKeyWithPagination(objectType string, keys []string,
	pageSize int32, bookmark string) (shim.StateQueryIteratorInterface, *peer.QueryResponseMetadata, error) {
	s.ledger.scans++
	prefix, err := shim.CreateCompositeKey(objectType, keys)
	if err != nil {
		return nil, nil, err
	}
	all := make([]string, 0)
	for k := range s.ledger.state {
		if strings.HasPrefix(k, prefix) && (bookmark == "" || k >= bookmark) {
			all = append(all, k)
		}
	}
	sort.Strings(all)
	next := ""
	if pageSize > 0 && len(all) > int(pageSize) {
		next = all[pageSize]
		all = all[:pageSize]
	}
	kvs := make([]*queryresult.KV, len(all))
	for i, k := range all {
		kvs[i] = &queryresult.KV{Namespace: "votes", Key: k, Value: s.ledger.state[k]}
	}
	return &kvIterator{items: kvs}, &peer.QueryResponseMetadata{FetchedRecordsCount: int32(len(kvs)), Bookmark: next}, nil
}

func (s *fakeStub) GetHistoryForKey(key string) (shim.HistoryQueryIteratorInterface, error) {
	return &historyIterator{items: s.ledger.history[key]}, nil
}

type kvIterator struct {
	items []*queryresult.KV
	pos   int
}

func (it *kvIterator) HasNext() bool { return it.pos < len(it.items) }
func (it *kvIterator) Close() error  { return nil }
func (it *kvIterator) Next() (*queryresult.KV, error) {
	if !it.HasNext() {
		return nil, fmt.Errorf("no more items")
	}
	it.pos++
	return it.items[it.pos-1], nil
}

type historyIterator struct {
	items []*queryresult.KeyModification
	pos   int
}

func (it *historyIterator) HasNext() bool { return it.pos < len(it.items) }
func (it *historyIterator) Close() error  { return nil }
func (it *historyIterator) Next() (*queryresult.KeyModification, error) {
	if !it.HasNext() {
		return nil, fmt.Errorf("no more items")
	}
	it.pos++
	return it.items[it.pos-1], nil
}

// txResult is what one invocation through the contractapi chaincode produced.
type txResult struct {
	status  int32
	payload string
	message string
	events  []*peer.ChaincodeEvent
	stub    *fakeStub
}

// harness drives the real contractapi chaincode (function dispatch, argument and result
// serialisation) against the fake ledger.
type harness struct {
	t      *testing.T
	cc     *contractapi.ContractChaincode
	ledger *fakeLedger
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	cc, err := NewChaincode()
	if err != nil {
		t.Fatalf("NewChaincode: %v", err)
	}
	return &harness{t: t, cc: cc, ledger: newFakeLedger()}
}

// submit invokes fn and commits its writes when it succeeds (a valid transaction).
func (h *harness) submit(fn string, args ...string) txResult {
	return h.invoke(true, fn, args...)
}

// evaluate invokes fn and discards its writes (a query).
func (h *harness) evaluate(fn string, args ...string) txResult {
	return h.invoke(false, fn, args...)
}

func (h *harness) invoke(commit bool, fn string, args ...string) txResult {
	stub := h.ledger.newStub(append([]string{fn}, args...)...)
	resp := h.cc.Invoke(stub)
	if resp.Status == shim.OK && commit {
		stub.commit()
	}
	return txResult{status: resp.Status, payload: string(resp.Payload), message: resp.Message, events: stub.events, stub: stub}
}

// mustOK fails the test unless the invocation succeeded, and returns its payload.
func (r txResult) mustOK(t *testing.T) string {
	t.Helper()
	if r.status != shim.OK {
		t.Fatalf("invocation failed (status %d): %s", r.status, r.message)
	}
	return r.payload
}
