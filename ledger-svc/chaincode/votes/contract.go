// Package votes is the "votes" chaincode: it anchors batches of canonical vote records.
//
// Every argument and every result is a JSON string (see docs/fabric.md and
// notes/fabric-contract.md). State layout, all composite keys:
//
//	("rec", target, voter_tag)  -> StoredRecord            one vote per (target, voter_tag)
//	("vote", vote_id)           -> {"target","voter_tag"}  index from vote id to its record
//	("count", target)           -> decimal count           maintained on write, read without scans
//	("batch", batch_id)         -> StoredBatch             Merkle root, size and outcome of a batch
//
// The chaincode is deterministic so that the two organisations' endorsements match: it reads no
// clock and no randomness, and it never ranges over a map to produce output or writes.
package votes

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"
)

// Composite-key object types.
const (
	recordKeyType = "rec"
	voteKeyType   = "vote"
	countKeyType  = "count"
	batchKeyType  = "batch"
)

// EventBatchRecorded is the chaincode event emitted by every RecordBatch that writes.
const EventBatchRecorded = "BatchRecorded"

// Limits that keep one transaction well inside the orderer's AbsoluteMaxBytes.
const (
	MaxRecordsPerBatch = 5000
	MaxFieldLength     = 512
	DefaultPageSize    = 100
	MaxPageSize        = 1000
)

// ErrNotFound is wrapped by every "not found" error; its text is what clients match on.
var ErrNotFound = errors.New("not found")

// BatchRecord is one record of a RecordBatch argument.
type BatchRecord struct {
	VoteID   string `json:"vote_id"`
	Target   string `json:"target"`
	VoterTag string `json:"voter_tag"`
	Record   string `json:"record"` // base64 (standard, padded) of the canonical record bytes
}

// Batch is the RecordBatch argument.
type Batch struct {
	BatchID string        `json:"batch_id"`
	Seq     int64         `json:"seq"`
	Root    string        `json:"root"` // hex SHA-256 RFC 6962 Merkle root of the decoded records
	Records []BatchRecord `json:"records"`
}

// StoredRecord is the value under ("rec", target, voter_tag); GetRecord returns it.
type StoredRecord struct {
	VoteID   string `json:"vote_id"`
	Target   string `json:"target"`
	VoterTag string `json:"voter_tag"`
	Record   string `json:"record"`
	BatchID  string `json:"batch_id"`
	TxID     string `json:"tx_id"`
}

type voteIndex struct {
	Target   string `json:"target"`
	VoterTag string `json:"voter_tag"`
}

// Duplicate reports a record refused because (target, voter_tag) already holds another vote.
type Duplicate struct {
	VoteID      string `json:"vote_id"`
	FirstVoteID string `json:"first_vote_id"`
}

// StoredBatch is the value under ("batch", batch_id); GetBatch returns it.
type StoredBatch struct {
	BatchID         string      `json:"batch_id"`
	Seq             int64       `json:"seq"`
	Root            string      `json:"root"`
	Size            int         `json:"size"`
	TxID            string      `json:"tx_id"`
	Recorded        int         `json:"recorded"`
	AlreadyRecorded int         `json:"already_recorded"`
	Duplicates      []Duplicate `json:"duplicates"`
}

// BatchResult is what RecordBatch returns.
type BatchResult struct {
	BatchID         string      `json:"batch_id"`
	TxID            string      `json:"tx_id"`
	Recorded        []string    `json:"recorded"`
	AlreadyRecorded []string    `json:"already_recorded"`
	Duplicates      []Duplicate `json:"duplicates"`
}

// BatchEvent is the payload of the BatchRecorded chaincode event (counts only).
type BatchEvent struct {
	BatchID    string `json:"batch_id"`
	Seq        int64  `json:"seq"`
	Root       string `json:"root"`
	Size       int    `json:"size"`
	Recorded   int    `json:"recorded"`
	Duplicates int    `json:"duplicates"`
}

// TargetCount is what CountTarget returns.
type TargetCount struct {
	Target string `json:"target"`
	Count  int64  `json:"count"`
}

// RecordPage is what RecordsByTarget returns.
type RecordPage struct {
	Records  []StoredRecord `json:"records"`
	Bookmark string         `json:"bookmark"`
}

// HistoryEntry is one element of what History returns. Value is the stored record (null for a
// deletion, which this chaincode never does).
type HistoryEntry struct {
	TxID      string          `json:"tx_id"`
	Timestamp string          `json:"timestamp"`
	IsDelete  bool            `json:"is_delete"`
	Value     json.RawMessage `json:"value"`
}

// Contract holds the transaction functions. Every exported method is a chaincode function.
type Contract struct {
	contractapi.Contract
}

// NewChaincode builds the contractapi chaincode around Contract.
func NewChaincode() (*contractapi.ContractChaincode, error) {
	cc, err := contractapi.NewChaincode(&Contract{})
	if err != nil {
		return nil, err
	}
	cc.Info.Title = "votes"
	cc.Info.Version = "1"
	return cc, nil
}

// GetEvaluateTransactions marks the read-only functions in the contract metadata.
func (c *Contract) GetEvaluateTransactions() []string {
	return []string{"GetRecord", "GetRecordByVote", "GetBatch", "CountTarget", "RecordsByTarget", "History"}
}

// RecordBatch anchors a batch of records; see the package documentation for the rules.
func (c *Contract) RecordBatch(ctx contractapi.TransactionContextInterface, batchJSON string) (string, error) {
	stub := ctx.GetStub()
	batch, leaves, err := parseBatch(batchJSON)
	if err != nil {
		return "", err
	}
	root := MerkleRoot(leaves)
	if got := hex.EncodeToString(root[:]); got != batch.Root {
		return "", fmt.Errorf("merkle root mismatch: batch %q says %s, its records hash to %s", batch.BatchID, batch.Root, got)
	}

	batchKey, err := stub.CreateCompositeKey(batchKeyType, []string{batch.BatchID})
	if err != nil {
		return "", err
	}
	storedBytes, err := stub.GetState(batchKey)
	if err != nil {
		return "", fmt.Errorf("read batch %q: %w", batch.BatchID, err)
	}
	if len(storedBytes) != 0 {
		var stored StoredBatch
		if err := json.Unmarshal(storedBytes, &stored); err != nil {
			return "", fmt.Errorf("stored batch %q is corrupt: %w", batch.BatchID, err)
		}
		if stored.Root != batch.Root {
			return "", fmt.Errorf("batch %q is already recorded with another root (%s)", batch.BatchID, stored.Root)
		}
		return replayResult(stub, batch, &stored)
	}

	// Writes go to the peer in a few messages instead of one per key (when the peer allows it).
	stub.StartWriteBatch()
	txID := stub.GetTxID()

	recKeys := make([]string, len(batch.Records))
	voteKeys := make([]string, len(batch.Records))
	for i, r := range batch.Records {
		if recKeys[i], err = stub.CreateCompositeKey(recordKeyType, []string{r.Target, r.VoterTag}); err != nil {
			return "", fmt.Errorf("record %d: %w", i, err)
		}
		if voteKeys[i], err = stub.CreateCompositeKey(voteKeyType, []string{r.VoteID}); err != nil {
			return "", fmt.Errorf("record %d: %w", i, err)
		}
	}
	existingRecs, err := getStates(stub, recKeys)
	if err != nil {
		return "", err
	}
	existingVotes, err := getStates(stub, voteKeys)
	if err != nil {
		return "", err
	}

	// Fabric does not show a transaction its own writes, so what this batch adds is tracked here.
	addedByKey := map[string]string{} // rec key -> vote_id recorded by this batch
	addedVotes := map[string]string{} // vote_id -> rec key recorded by this batch
	addedCounts := map[string]int64{} // target -> records added by this batch
	result := BatchResult{
		BatchID:         batch.BatchID,
		TxID:            txID,
		Recorded:        []string{},
		AlreadyRecorded: []string{},
		Duplicates:      []Duplicate{},
	}
	for i, r := range batch.Records {
		firstVoteID := ""
		if v, ok := addedByKey[recKeys[i]]; ok {
			firstVoteID = v
		} else if existingRecs[i] != nil {
			var prev StoredRecord
			if err := json.Unmarshal(existingRecs[i], &prev); err != nil {
				return "", fmt.Errorf("stored record for vote %q is corrupt: %w", r.VoteID, err)
			}
			firstVoteID = prev.VoteID
		}
		switch {
		case firstVoteID == r.VoteID:
			result.AlreadyRecorded = append(result.AlreadyRecorded, r.VoteID)
			continue
		case firstVoteID != "":
			result.Duplicates = append(result.Duplicates, Duplicate{VoteID: r.VoteID, FirstVoteID: firstVoteID})
			continue
		}
		// (target, voter_tag) is free, but the vote id must not already stand for another one.
		if _, ok := addedVotes[r.VoteID]; ok || existingVotes[i] != nil {
			result.Duplicates = append(result.Duplicates, Duplicate{VoteID: r.VoteID, FirstVoteID: r.VoteID})
			continue
		}
		value, err := json.Marshal(StoredRecord{
			VoteID: r.VoteID, Target: r.Target, VoterTag: r.VoterTag, Record: r.Record,
			BatchID: batch.BatchID, TxID: txID,
		})
		if err != nil {
			return "", err
		}
		if err := stub.PutState(recKeys[i], value); err != nil {
			return "", err
		}
		index, err := json.Marshal(voteIndex{Target: r.Target, VoterTag: r.VoterTag})
		if err != nil {
			return "", err
		}
		if err := stub.PutState(voteKeys[i], index); err != nil {
			return "", err
		}
		addedByKey[recKeys[i]] = r.VoteID
		addedVotes[r.VoteID] = recKeys[i]
		addedCounts[r.Target]++
		result.Recorded = append(result.Recorded, r.VoteID)
	}

	if err := addToCounters(stub, addedCounts); err != nil {
		return "", err
	}

	stored := StoredBatch{
		BatchID:         batch.BatchID,
		Seq:             batch.Seq,
		Root:            batch.Root,
		Size:            len(batch.Records),
		TxID:            txID,
		Recorded:        len(result.Recorded),
		AlreadyRecorded: len(result.AlreadyRecorded),
		Duplicates:      result.Duplicates,
	}
	storedJSON, err := json.Marshal(stored)
	if err != nil {
		return "", err
	}
	if err := stub.PutState(batchKey, storedJSON); err != nil {
		return "", err
	}

	event, err := json.Marshal(BatchEvent{
		BatchID: batch.BatchID, Seq: batch.Seq, Root: batch.Root, Size: len(batch.Records),
		Recorded: len(result.Recorded), Duplicates: len(result.Duplicates),
	})
	if err != nil {
		return "", err
	}
	if err := stub.SetEvent(EventBatchRecorded, event); err != nil {
		return "", err
	}
	return marshal(result)
}

// GetRecord returns the record stored for (target, voter_tag).
func (c *Contract) GetRecord(ctx contractapi.TransactionContextInterface, target string, voterTag string) (string, error) {
	stub := ctx.GetStub()
	key, err := stub.CreateCompositeKey(recordKeyType, []string{target, voterTag})
	if err != nil {
		return "", err
	}
	value, err := stub.GetState(key)
	if err != nil {
		return "", err
	}
	if len(value) == 0 {
		return "", fmt.Errorf("record for target %q and voter tag %q %w", target, voterTag, ErrNotFound)
	}
	return string(value), nil
}

// GetRecordByVote returns the record stored for a vote id.
func (c *Contract) GetRecordByVote(ctx contractapi.TransactionContextInterface, voteID string) (string, error) {
	stub := ctx.GetStub()
	key, err := stub.CreateCompositeKey(voteKeyType, []string{voteID})
	if err != nil {
		return "", err
	}
	value, err := stub.GetState(key)
	if err != nil {
		return "", err
	}
	if len(value) == 0 {
		return "", fmt.Errorf("vote %q %w", voteID, ErrNotFound)
	}
	var index voteIndex
	if err := json.Unmarshal(value, &index); err != nil {
		return "", fmt.Errorf("vote index for %q is corrupt: %w", voteID, err)
	}
	return c.GetRecord(ctx, index.Target, index.VoterTag)
}

// GetBatch returns the stored batch.
func (c *Contract) GetBatch(ctx contractapi.TransactionContextInterface, batchID string) (string, error) {
	stub := ctx.GetStub()
	key, err := stub.CreateCompositeKey(batchKeyType, []string{batchID})
	if err != nil {
		return "", err
	}
	value, err := stub.GetState(key)
	if err != nil {
		return "", err
	}
	if len(value) == 0 {
		return "", fmt.Errorf("batch %q %w", batchID, ErrNotFound)
	}
	return string(value), nil
}

// CountTarget returns how many records are stored for a target, from its counter (no scan).
func (c *Contract) CountTarget(ctx contractapi.TransactionContextInterface, target string) (string, error) {
	stub := ctx.GetStub()
	key, err := stub.CreateCompositeKey(countKeyType, []string{target})
	if err != nil {
		return "", err
	}
	value, err := stub.GetState(key)
	if err != nil {
		return "", err
	}
	count, err := parseCount(value)
	if err != nil {
		return "", fmt.Errorf("counter of %q: %w", target, err)
	}
	return marshal(TargetCount{Target: target, Count: count})
}

// RecordsByTarget pages through a target's records in key (voter tag) order. Fabric allows
// paginated queries only in evaluated (read-only) transactions.
func (c *Contract) RecordsByTarget(ctx contractapi.TransactionContextInterface, target string, pageSize string, bookmark string) (string, error) {
	size := int64(DefaultPageSize)
	if strings.TrimSpace(pageSize) != "" {
		parsed, err := strconv.ParseInt(strings.TrimSpace(pageSize), 10, 32)
		if err != nil || parsed < 0 {
			return "", fmt.Errorf("page size must be a non-negative integer, not %q", pageSize)
		}
		if parsed > 0 {
			size = parsed
		}
	}
	if size > MaxPageSize {
		size = MaxPageSize
	}
	iter, meta, err := ctx.GetStub().GetStateByPartialCompositeKeyWithPagination(recordKeyType, []string{target}, int32(size), bookmark)
	if err != nil {
		return "", err
	}
	defer iter.Close()
	page := RecordPage{Records: []StoredRecord{}}
	for iter.HasNext() {
		kv, err := iter.Next()
		if err != nil {
			return "", err
		}
		var rec StoredRecord
		if err := json.Unmarshal(kv.Value, &rec); err != nil {
			return "", fmt.Errorf("stored record %q is corrupt: %w", kv.Key, err)
		}
		page.Records = append(page.Records, rec)
	}
	if meta != nil {
		page.Bookmark = meta.Bookmark
	}
	return marshal(page)
}

// History returns every committed version of the record for (target, voter_tag), oldest first.
func (c *Contract) History(ctx contractapi.TransactionContextInterface, target string, voterTag string) (string, error) {
	stub := ctx.GetStub()
	key, err := stub.CreateCompositeKey(recordKeyType, []string{target, voterTag})
	if err != nil {
		return "", err
	}
	iter, err := stub.GetHistoryForKey(key)
	if err != nil {
		return "", err
	}
	defer iter.Close()
	entries := []HistoryEntry{}
	for iter.HasNext() {
		mod, err := iter.Next()
		if err != nil {
			return "", err
		}
		entry := HistoryEntry{TxID: mod.GetTxId(), IsDelete: mod.GetIsDelete(), Value: json.RawMessage("null")}
		if ts := mod.GetTimestamp(); ts != nil {
			entry.Timestamp = ts.AsTime().UTC().Format(time.RFC3339Nano)
		}
		if !mod.GetIsDelete() && len(mod.GetValue()) > 0 {
			if json.Valid(mod.GetValue()) {
				entry.Value = json.RawMessage(mod.GetValue())
			} else {
				quoted, err := json.Marshal(string(mod.GetValue()))
				if err != nil {
					return "", err
				}
				entry.Value = quoted
			}
		}
		entries = append(entries, entry)
	}
	return marshal(entries)
}

// parseBatch decodes and validates a RecordBatch argument; it returns the decoded record bytes.
func parseBatch(batchJSON string) (*Batch, [][]byte, error) {
	var batch Batch
	if err := json.Unmarshal([]byte(batchJSON), &batch); err != nil {
		return nil, nil, fmt.Errorf("batch is not valid JSON: %w", err)
	}
	if err := checkField("batch_id", batch.BatchID); err != nil {
		return nil, nil, err
	}
	if batch.Seq < 0 {
		return nil, nil, fmt.Errorf("seq must not be negative")
	}
	rootBytes, err := hex.DecodeString(batch.Root)
	if err != nil || len(rootBytes) != 32 {
		return nil, nil, fmt.Errorf("root must be a hex SHA-256 (64 hex digits), not %q", batch.Root)
	}
	batch.Root = hex.EncodeToString(rootBytes) // lower case, so comparisons are exact
	if len(batch.Records) == 0 {
		return nil, nil, fmt.Errorf("batch %q has no records", batch.BatchID)
	}
	if len(batch.Records) > MaxRecordsPerBatch {
		return nil, nil, fmt.Errorf("batch %q has %d records; at most %d are allowed", batch.BatchID, len(batch.Records), MaxRecordsPerBatch)
	}
	leaves := make([][]byte, len(batch.Records))
	for i, r := range batch.Records {
		for _, f := range []struct{ name, value string }{
			{"vote_id", r.VoteID}, {"target", r.Target}, {"voter_tag", r.VoterTag},
		} {
			if err := checkField(f.name, f.value); err != nil {
				return nil, nil, fmt.Errorf("record %d: %w", i, err)
			}
		}
		decoded, err := base64.StdEncoding.Strict().DecodeString(r.Record)
		if err != nil {
			return nil, nil, fmt.Errorf("record %d (vote %q): record is not standard base64: %w", i, r.VoteID, err)
		}
		leaves[i] = decoded
	}
	return &batch, leaves, nil
}

// checkField refuses what a composite key cannot hold and absurd lengths.
func checkField(name, value string) error {
	switch {
	case value == "":
		return fmt.Errorf("%s is required", name)
	case len(value) > MaxFieldLength:
		return fmt.Errorf("%s is longer than %d bytes", name, MaxFieldLength)
	case !utf8.ValidString(value):
		return fmt.Errorf("%s is not valid UTF-8", name)
	case strings.ContainsRune(value, 0) || strings.ContainsRune(value, utf8.MaxRune):
		return fmt.Errorf("%s contains a character that composite keys reserve", name)
	}
	return nil
}

// replayResult rebuilds the result of an already stored batch from the ledger, without writes:
// a record is "recorded" if its stored copy came from this batch (first occurrence), else
// "already_recorded"; duplicates come from the stored batch.
func replayResult(stub shim.ChaincodeStubInterface, batch *Batch, stored *StoredBatch) (string, error) {
	refused := map[string]bool{}
	for _, d := range stored.Duplicates {
		refused[d.VoteID] = true
	}
	keys := make([]string, len(batch.Records))
	for i, r := range batch.Records {
		key, err := stub.CreateCompositeKey(recordKeyType, []string{r.Target, r.VoterTag})
		if err != nil {
			return "", err
		}
		keys[i] = key
	}
	values, err := getStates(stub, keys)
	if err != nil {
		return "", err
	}
	result := BatchResult{
		BatchID:         stored.BatchID,
		TxID:            stored.TxID,
		Recorded:        []string{},
		AlreadyRecorded: []string{},
		Duplicates:      stored.Duplicates,
	}
	if result.Duplicates == nil {
		result.Duplicates = []Duplicate{}
	}
	seen := map[string]bool{}
	for i, r := range batch.Records {
		if refused[r.VoteID] {
			continue
		}
		var rec StoredRecord
		if values[i] != nil {
			if err := json.Unmarshal(values[i], &rec); err != nil {
				return "", fmt.Errorf("stored record for vote %q is corrupt: %w", r.VoteID, err)
			}
		}
		if rec.VoteID == r.VoteID && rec.BatchID == stored.BatchID && !seen[keys[i]] {
			result.Recorded = append(result.Recorded, r.VoteID)
		} else {
			result.AlreadyRecorded = append(result.AlreadyRecorded, r.VoteID)
		}
		seen[keys[i]] = true
	}
	return marshal(result)
}

// addToCounters adds this batch's new records to the per-target counters, in target order.
func addToCounters(stub shim.ChaincodeStubInterface, added map[string]int64) error {
	if len(added) == 0 {
		return nil
	}
	targets := make([]string, 0, len(added))
	for target := range added {
		targets = append(targets, target)
	}
	sort.Strings(targets)
	keys := make([]string, len(targets))
	for i, target := range targets {
		key, err := stub.CreateCompositeKey(countKeyType, []string{target})
		if err != nil {
			return err
		}
		keys[i] = key
	}
	values, err := getStates(stub, keys)
	if err != nil {
		return err
	}
	for i, target := range targets {
		count, err := parseCount(values[i])
		if err != nil {
			return fmt.Errorf("counter of %q: %w", target, err)
		}
		if err := stub.PutState(keys[i], []byte(strconv.FormatInt(count+added[target], 10))); err != nil {
			return err
		}
	}
	return nil
}

// getStates reads many keys in as few round trips as the peer allows.
func getStates(stub shim.ChaincodeStubInterface, keys []string) ([][]byte, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	values, err := stub.GetMultipleStates(keys...)
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	if len(values) != len(keys) {
		return nil, fmt.Errorf("read state: asked for %d keys, got %d values", len(keys), len(values))
	}
	for i := range values {
		if len(values[i]) == 0 { // absent (nothing here stores an empty value)
			values[i] = nil
		}
	}
	return values, nil
}

func parseCount(value []byte) (int64, error) {
	if len(value) == 0 {
		return 0, nil
	}
	count, err := strconv.ParseInt(string(value), 10, 64)
	if err != nil || count < 0 {
		return 0, fmt.Errorf("corrupt counter %q", value)
	}
	return count, nil
}

func marshal(v any) (string, error) {
	out, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return string(out), nil
}
