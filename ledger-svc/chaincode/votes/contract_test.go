package votes

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

var timestampBase = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func int64Duration(n int) time.Duration { return time.Duration(n) * time.Second }

type rec struct{ vote, target, tag string }

// makeBatch builds a RecordBatch argument whose root is right for its records.
func makeBatch(id string, seq int64, records ...rec) string {
	b := Batch{BatchID: id, Seq: seq, Records: make([]BatchRecord, len(records))}
	leaves := make([][]byte, len(records))
	for i, r := range records {
		raw := []byte(fmt.Sprintf(`{"vote_id":%q,"target":%q,"voter_tag":%q}`, r.vote, r.target, r.tag))
		leaves[i] = raw
		b.Records[i] = BatchRecord{VoteID: r.vote, Target: r.target, VoterTag: r.tag, Record: base64.StdEncoding.EncodeToString(raw)}
	}
	root := MerkleRoot(leaves)
	b.Root = hex.EncodeToString(root[:])
	out, _ := json.Marshal(b)
	return string(out)
}

func decode[T any](t *testing.T, payload string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(payload), &v); err != nil {
		t.Fatalf("payload %q is not the expected JSON: %v", payload, err)
	}
	return v
}

func count(t *testing.T, h *harness, target string) int64 {
	t.Helper()
	return decode[TargetCount](t, h.evaluate("CountTarget", target).mustOK(t)).Count
}

const (
	propA = "proposal:0b5f8a52-0f45-4d0c-9b1e-7f0e3c1d2a01"
	propB = "proposal:7c9e6679-7425-40de-944b-e07fc1f90ae7"
)

func TestRecordBatchStoresEveryRecordAndTheBatch(t *testing.T) {
	h := newHarness(t)
	arg := makeBatch("b-1", 1, rec{"v1", propA, "aa01"}, rec{"v2", propA, "aa02"}, rec{"v3", propB, "bb01"})
	res := h.submit("RecordBatch", arg)
	got := decode[BatchResult](t, res.mustOK(t))
	want := BatchResult{BatchID: "b-1", TxID: res.stub.txID, Recorded: []string{"v1", "v2", "v3"}, AlreadyRecorded: []string{}, Duplicates: []Duplicate{}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("result %+v, want %+v", got, want)
	}
	if !res.stub.batching {
		t.Error("RecordBatch should send its writes as a write batch")
	}

	stored := decode[StoredRecord](t, h.evaluate("GetRecord", propA, "aa02").mustOK(t))
	wantRaw := base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf(`{"vote_id":%q,"target":%q,"voter_tag":%q}`, "v2", propA, "aa02")))
	if stored != (StoredRecord{VoteID: "v2", Target: propA, VoterTag: "aa02", Record: wantRaw, BatchID: "b-1", TxID: res.stub.txID}) {
		t.Errorf("GetRecord = %+v", stored)
	}
	byVote := decode[StoredRecord](t, h.evaluate("GetRecordByVote", "v3").mustOK(t))
	if byVote.Target != propB || byVote.VoterTag != "bb01" || byVote.VoteID != "v3" {
		t.Errorf("GetRecordByVote = %+v", byVote)
	}

	batch := decode[StoredBatch](t, h.evaluate("GetBatch", "b-1").mustOK(t))
	var parsed Batch
	_ = json.Unmarshal([]byte(arg), &parsed)
	wantBatch := StoredBatch{BatchID: "b-1", Seq: 1, Root: parsed.Root, Size: 3, TxID: res.stub.txID, Recorded: 3, AlreadyRecorded: 0, Duplicates: []Duplicate{}}
	if !reflect.DeepEqual(batch, wantBatch) {
		t.Errorf("GetBatch = %+v, want %+v", batch, wantBatch)
	}
	// The stored batch has exactly the documented fields.
	var fields map[string]any
	_ = json.Unmarshal([]byte(h.evaluate("GetBatch", "b-1").payload), &fields)
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if strings.Join(keys, ",") != "already_recorded,batch_id,duplicates,recorded,root,seq,size,tx_id" {
		t.Errorf("stored batch fields: %v", keys)
	}

	if c := count(t, h, propA); c != 2 {
		t.Errorf("CountTarget(A) = %d, want 2", c)
	}
	if c := count(t, h, propB); c != 1 {
		t.Errorf("CountTarget(B) = %d, want 1", c)
	}
}

func TestRecordBatchEmitsBatchRecordedEvent(t *testing.T) {
	h := newHarness(t)
	h.submit("RecordBatch", makeBatch("b-1", 1, rec{"v1", propA, "aa01"})).mustOK(t)
	res := h.submit("RecordBatch", makeBatch("b-2", 2, rec{"v2", propA, "aa01"}, rec{"v3", propA, "aa03"}, rec{"v1", propA, "aa01"}))
	res.mustOK(t)
	if len(res.events) != 1 || res.events[0].EventName != EventBatchRecorded {
		t.Fatalf("events %v, want one %s", res.events, EventBatchRecorded)
	}
	var parsed Batch
	_ = json.Unmarshal([]byte(makeBatch("b-2", 2, rec{"v2", propA, "aa01"}, rec{"v3", propA, "aa03"}, rec{"v1", propA, "aa01"})), &parsed)
	got := decode[BatchEvent](t, string(res.events[0].Payload))
	want := BatchEvent{BatchID: "b-2", Seq: 2, Root: parsed.Root, Size: 3, Recorded: 1, Duplicates: 1}
	if got != want {
		t.Errorf("event payload %+v, want %+v", got, want)
	}
}

func TestWrongRootIsRefusedAndNothingIsWritten(t *testing.T) {
	h := newHarness(t)
	var b Batch
	_ = json.Unmarshal([]byte(makeBatch("b-1", 1, rec{"v1", propA, "aa01"}, rec{"v2", propA, "aa02"})), &b)
	b.Root = strings.Repeat("ab", 32)
	arg, _ := json.Marshal(b)
	res := h.submit("RecordBatch", string(arg))
	if res.status == 200 || !strings.Contains(res.message, "merkle root mismatch") {
		t.Fatalf("wrong root accepted or wrong error: %d %q", res.status, res.message)
	}
	if len(res.stub.writes) != 0 || len(res.events) != 0 {
		t.Errorf("a refused batch wrote %d keys and %d events", len(res.stub.writes), len(res.events))
	}

	// Records swapped: same leaves, other order, other root.
	var ok Batch
	_ = json.Unmarshal([]byte(makeBatch("b-1", 1, rec{"v1", propA, "aa01"}, rec{"v2", propA, "aa02"})), &ok)
	ok.Records[0], ok.Records[1] = ok.Records[1], ok.Records[0]
	arg, _ = json.Marshal(ok)
	if res := h.submit("RecordBatch", string(arg)); res.status == 200 {
		t.Error("reordered records must not match the root")
	}
	// Not hex / wrong length.
	for _, root := range []string{"", "zz", strings.Repeat("a", 62)} {
		ok.Root = root
		arg, _ = json.Marshal(ok)
		if res := h.submit("RecordBatch", string(arg)); res.status == 200 || !strings.Contains(res.message, "root must be") {
			t.Errorf("root %q: status %d %q", root, res.status, res.message)
		}
	}
	if c := count(t, h, propA); c != 0 {
		t.Errorf("count after refused batches = %d", c)
	}
}

func TestUpperCaseRootIsAccepted(t *testing.T) {
	h := newHarness(t)
	var b Batch
	_ = json.Unmarshal([]byte(makeBatch("b-1", 1, rec{"v1", propA, "aa01"})), &b)
	lower := b.Root
	b.Root = strings.ToUpper(b.Root)
	arg, _ := json.Marshal(b)
	h.submit("RecordBatch", string(arg)).mustOK(t)
	if got := decode[StoredBatch](t, h.evaluate("GetBatch", "b-1").mustOK(t)).Root; got != lower {
		t.Errorf("stored root %q, want lower case %q", got, lower)
	}
}

func TestRetryOfTheSameBatchReturnsTheStoredResultWithoutWrites(t *testing.T) {
	h := newHarness(t)
	h.submit("RecordBatch", makeBatch("b-0", 0, rec{"v0", propB, "bb00"})).mustOK(t)
	arg := makeBatch("b-1", 1,
		rec{"v1", propA, "aa01"}, rec{"v2", propA, "aa02"}, rec{"v0", propB, "bb00"}, rec{"v9", propA, "aa01"}, rec{"v1", propA, "aa01"})
	first := h.submit("RecordBatch", arg)
	firstResult := first.mustOK(t)
	want := BatchResult{
		BatchID: "b-1", TxID: first.stub.txID,
		Recorded: []string{"v1", "v2"}, AlreadyRecorded: []string{"v0", "v1"},
		Duplicates: []Duplicate{{VoteID: "v9", FirstVoteID: "v1"}},
	}
	if got := decode[BatchResult](t, firstResult); !reflect.DeepEqual(got, want) {
		t.Fatalf("first result %+v, want %+v", got, want)
	}

	retry := h.submit("RecordBatch", arg)
	if retry.mustOK(t) != firstResult {
		t.Errorf("retry returned %s, want the stored result %s", retry.payload, firstResult)
	}
	if len(retry.stub.writes) != 0 || len(retry.events) != 0 {
		t.Errorf("retry wrote %d keys and %d events", len(retry.stub.writes), len(retry.events))
	}
	if c := count(t, h, propA); c != 2 {
		t.Errorf("count after retry = %d, want 2", c)
	}
}

func TestSameBatchIDWithAnotherRootIsRefused(t *testing.T) {
	h := newHarness(t)
	h.submit("RecordBatch", makeBatch("b-1", 1, rec{"v1", propA, "aa01"})).mustOK(t)
	res := h.submit("RecordBatch", makeBatch("b-1", 1, rec{"v2", propA, "aa02"}))
	if res.status == 200 || !strings.Contains(res.message, "another root") {
		t.Fatalf("status %d %q", res.status, res.message)
	}
	if len(res.stub.writes) != 0 {
		t.Errorf("refused batch wrote %d keys", len(res.stub.writes))
	}
	if _, err := findRecord(h, propA, "aa02"); err == nil {
		t.Error("record of the refused batch was stored")
	}
}

func findRecord(h *harness, target, tag string) (StoredRecord, error) {
	res := h.evaluate("GetRecord", target, tag)
	if res.status != 200 {
		return StoredRecord{}, fmt.Errorf("%s", res.message)
	}
	var r StoredRecord
	err := json.Unmarshal([]byte(res.payload), &r)
	return r, err
}

func TestDuplicateIsRefusedButTheRestOfTheBatchIsRecorded(t *testing.T) {
	h := newHarness(t)
	h.submit("RecordBatch", makeBatch("b-1", 1, rec{"v1", propA, "aa01"})).mustOK(t)
	res := h.submit("RecordBatch", makeBatch("b-2", 2, rec{"v2", propA, "aa02"}, rec{"v1-again", propA, "aa01"}, rec{"v3", propB, "aa01"}))
	got := decode[BatchResult](t, res.mustOK(t))
	if !reflect.DeepEqual(got.Recorded, []string{"v2", "v3"}) || len(got.AlreadyRecorded) != 0 ||
		!reflect.DeepEqual(got.Duplicates, []Duplicate{{VoteID: "v1-again", FirstVoteID: "v1"}}) {
		t.Fatalf("result %+v", got)
	}
	first, err := findRecord(h, propA, "aa01")
	if err != nil || first.VoteID != "v1" || first.BatchID != "b-1" {
		t.Errorf("the first vote must stay: %+v %v", first, err)
	}
	if res := h.evaluate("GetRecordByVote", "v1-again"); res.status == 200 || !strings.Contains(res.message, "not found") {
		t.Errorf("refused vote is findable: %d %q", res.status, res.message)
	}
	if c := count(t, h, propA); c != 2 {
		t.Errorf("CountTarget(A) = %d, want 2", c)
	}
	if c := count(t, h, propB); c != 1 {
		t.Errorf("CountTarget(B) = %d, want 1", c)
	}
	stored := decode[StoredBatch](t, h.evaluate("GetBatch", "b-2").mustOK(t))
	if stored.Recorded != 2 || stored.AlreadyRecorded != 0 || len(stored.Duplicates) != 1 || stored.Size != 3 {
		t.Errorf("stored batch %+v", stored)
	}
}

func TestDuplicatesInsideOneBatch(t *testing.T) {
	h := newHarness(t)
	// Fabric does not let a transaction read its own writes, so these must be caught in memory.
	res := h.submit("RecordBatch", makeBatch("b-1", 1,
		rec{"v1", propA, "aa01"}, rec{"v2", propA, "aa01"}, rec{"v1", propA, "aa01"}, rec{"v3", propA, "aa03"}))
	got := decode[BatchResult](t, res.mustOK(t))
	want := BatchResult{BatchID: "b-1", TxID: res.stub.txID, Recorded: []string{"v1", "v3"}, AlreadyRecorded: []string{"v1"},
		Duplicates: []Duplicate{{VoteID: "v2", FirstVoteID: "v1"}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("result %+v, want %+v", got, want)
	}
	if c := count(t, h, propA); c != 2 {
		t.Errorf("CountTarget = %d, want 2", c)
	}
}

func TestAlreadyRecordedVoteIsReportedAndNotCountedTwice(t *testing.T) {
	h := newHarness(t)
	h.submit("RecordBatch", makeBatch("b-1", 1, rec{"v1", propA, "aa01"}, rec{"v2", propA, "aa02"})).mustOK(t)
	// A later batch carries v2 again (e.g. redelivered after a crash) with a new vote.
	res := h.submit("RecordBatch", makeBatch("b-2", 2, rec{"v2", propA, "aa02"}, rec{"v4", propA, "aa04"}))
	got := decode[BatchResult](t, res.mustOK(t))
	if !reflect.DeepEqual(got.Recorded, []string{"v4"}) || !reflect.DeepEqual(got.AlreadyRecorded, []string{"v2"}) || len(got.Duplicates) != 0 {
		t.Fatalf("result %+v", got)
	}
	if r, _ := findRecord(h, propA, "aa02"); r.BatchID != "b-1" {
		t.Errorf("already recorded vote was rewritten: %+v", r)
	}
	if c := count(t, h, propA); c != 3 {
		t.Errorf("CountTarget = %d, want 3", c)
	}
	if b := decode[StoredBatch](t, h.evaluate("GetBatch", "b-2").mustOK(t)); b.Recorded != 1 || b.AlreadyRecorded != 1 {
		t.Errorf("stored batch %+v", b)
	}
}

func TestVoteIDAlreadyUsedForAnotherRecordIsRefused(t *testing.T) {
	h := newHarness(t)
	h.submit("RecordBatch", makeBatch("b-1", 1, rec{"v1", propA, "aa01"})).mustOK(t)
	res := h.submit("RecordBatch", makeBatch("b-2", 2, rec{"v1", propB, "bb01"}, rec{"v5", propB, "bb05"}, rec{"v5", propB, "bb06"}))
	got := decode[BatchResult](t, res.mustOK(t))
	want := []Duplicate{{VoteID: "v1", FirstVoteID: "v1"}, {VoteID: "v5", FirstVoteID: "v5"}}
	if !reflect.DeepEqual(got.Recorded, []string{"v5"}) || !reflect.DeepEqual(got.Duplicates, want) {
		t.Fatalf("result %+v", got)
	}
	if r := decode[StoredRecord](t, h.evaluate("GetRecordByVote", "v1").mustOK(t)); r.Target != propA {
		t.Errorf("vote index moved: %+v", r)
	}
}

func TestCounterIsMaintainedWithoutScans(t *testing.T) {
	h := newHarness(t)
	total := 0
	for b := 0; b < 5; b++ {
		records := make([]rec, 0, 40)
		for i := 0; i < 40; i++ {
			records = append(records, rec{fmt.Sprintf("v%d-%d", b, i), propA, fmt.Sprintf("t%d-%d", b, i)})
		}
		h.submit("RecordBatch", makeBatch(fmt.Sprintf("b-%d", b), int64(b), records...)).mustOK(t)
		total += len(records)
	}
	h.ledger.reads = 0
	if c := count(t, h, propA); c != int64(total) {
		t.Errorf("CountTarget = %d, want %d", c, total)
	}
	if h.ledger.scans != 0 {
		t.Errorf("%d range scans were used; the counter must be read, not computed", h.ledger.scans)
	}
	if h.ledger.reads != 1 {
		t.Errorf("CountTarget read %d keys, want 1", h.ledger.reads)
	}
	if got := decode[TargetCount](t, h.evaluate("CountTarget", "proposal:none").mustOK(t)); got != (TargetCount{Target: "proposal:none", Count: 0}) {
		t.Errorf("unknown target: %+v", got)
	}
}

func TestRecordsByTargetPaginates(t *testing.T) {
	h := newHarness(t)
	records := []rec{}
	for i := 0; i < 5; i++ {
		records = append(records, rec{fmt.Sprintf("v%d", i), "proposal:a", fmt.Sprintf("tag%d", i)})
	}
	// A target that is a string prefix of the first must not leak into its pages.
	records = append(records, rec{"vx", "proposal:ab", "tag0"})
	h.submit("RecordBatch", makeBatch("b-1", 1, records...)).mustOK(t)

	var seen []string
	bookmark := ""
	pages := 0
	for {
		page := decode[RecordPage](t, h.evaluate("RecordsByTarget", "proposal:a", "2", bookmark).mustOK(t))
		pages++
		if len(page.Records) > 2 {
			t.Fatalf("page of %d records, asked for 2", len(page.Records))
		}
		for _, r := range page.Records {
			if r.Target != "proposal:a" {
				t.Errorf("record of %q in the pages of proposal:a", r.Target)
			}
			seen = append(seen, r.VoteID)
		}
		if page.Bookmark == "" {
			break
		}
		bookmark = page.Bookmark
		if pages > 10 {
			t.Fatal("pagination does not end")
		}
	}
	if pages != 3 || strings.Join(seen, ",") != "v0,v1,v2,v3,v4" {
		t.Errorf("%d pages, records %v", pages, seen)
	}
	empty := decode[RecordPage](t, h.evaluate("RecordsByTarget", "proposal:none", "", "").mustOK(t))
	if empty.Records == nil || len(empty.Records) != 0 || empty.Bookmark != "" {
		t.Errorf("empty page %+v (records must be [] not null)", empty)
	}
	if res := h.evaluate("RecordsByTarget", "proposal:a", "-1", ""); res.status == 200 {
		t.Error("a negative page size must be refused")
	}
}

func TestNotFoundErrors(t *testing.T) {
	h := newHarness(t)
	for _, call := range [][]string{
		{"GetRecord", propA, "nobody"}, {"GetRecordByVote", "v404"}, {"GetBatch", "b-404"},
	} {
		res := h.evaluate(call[0], call[1:]...)
		if res.status == 200 || !strings.Contains(res.message, "not found") {
			t.Errorf("%v: status %d %q", call, res.status, res.message)
		}
	}
}

func TestHistoryListsCommittedVersions(t *testing.T) {
	h := newHarness(t)
	res := h.submit("RecordBatch", makeBatch("b-1", 1, rec{"v1", propA, "aa01"}))
	res.mustOK(t)
	hist := decode[[]HistoryEntry](t, h.evaluate("History", propA, "aa01").mustOK(t))
	if len(hist) != 1 || hist[0].TxID != res.stub.txID || hist[0].IsDelete {
		t.Fatalf("history %+v", hist)
	}
	if _, err := time.Parse(time.RFC3339Nano, hist[0].Timestamp); err != nil {
		t.Errorf("timestamp %q: %v", hist[0].Timestamp, err)
	}
	var value StoredRecord
	if err := json.Unmarshal(hist[0].Value, &value); err != nil || value.VoteID != "v1" {
		t.Errorf("history value %s: %v", hist[0].Value, err)
	}
	if got := h.evaluate("History", propA, "nobody").mustOK(t); got != "[]" {
		t.Errorf("history of an unknown key = %s, want []", got)
	}
}

func TestInvalidBatchesAreRefused(t *testing.T) {
	h := newHarness(t)
	valid := makeBatch("b-1", 1, rec{"v1", propA, "aa01"})
	mutate := func(f func(b *Batch)) string {
		var b Batch
		_ = json.Unmarshal([]byte(valid), &b)
		f(&b)
		out, _ := json.Marshal(b)
		return string(out)
	}
	cases := map[string]string{
		"not json":      "{",
		"no batch id":   mutate(func(b *Batch) { b.BatchID = "" }),
		"no records":    mutate(func(b *Batch) { b.Records = nil }),
		"no vote id":    mutate(func(b *Batch) { b.Records[0].VoteID = "" }),
		"no target":     mutate(func(b *Batch) { b.Records[0].Target = "" }),
		"no voter tag":  mutate(func(b *Batch) { b.Records[0].VoterTag = "" }),
		"bad base64":    mutate(func(b *Batch) { b.Records[0].Record = "not base64!" }),
		"nul in target": mutate(func(b *Batch) { b.Records[0].Target = "proposal:\x00x" }),
		"negative seq":  mutate(func(b *Batch) { b.Seq = -1 }),
	}
	for name, arg := range cases {
		res := h.submit("RecordBatch", arg)
		if res.status == 200 {
			t.Errorf("%s: accepted", name)
		}
		if len(res.stub.writes) != 0 {
			t.Errorf("%s: wrote %d keys", name, len(res.stub.writes))
		}
	}
}

// Two organisations' peers execute the same proposal independently; their results, write sets
// and events must be byte-identical or the transaction fails endorsement.
func TestEndorsementsAreDeterministic(t *testing.T) {
	records := []rec{}
	for i := 0; i < 60; i++ {
		records = append(records, rec{fmt.Sprintf("v%02d", i), fmt.Sprintf("proposal:%02d", i%17), fmt.Sprintf("tag%02d", i%23)})
	}
	arg := makeBatch("b-det", 7, records...)
	var reference *txResult
	for run := 0; run < 10; run++ {
		h := newHarness(t)
		h.submit("RecordBatch", makeBatch("b-seed", 1, rec{"seed", "proposal:03", "tag03"})).mustOK(t)
		res := h.submit("RecordBatch", arg)
		res.mustOK(t)
		if reference == nil {
			reference = &res
			continue
		}
		if res.payload != reference.payload {
			t.Fatalf("run %d: payload differs", run)
		}
		if !sameWrites(res.stub, reference.stub) {
			t.Fatalf("run %d: write set differs", run)
		}
		if !bytes.Equal(res.events[0].Payload, reference.events[0].Payload) {
			t.Fatalf("run %d: event differs", run)
		}
	}
}

func sameWrites(a, b *fakeStub) bool {
	if len(a.order) != len(b.order) {
		return false
	}
	for i := range a.order {
		if a.order[i] != b.order[i] || !bytes.Equal(a.writes[a.order[i]], b.writes[b.order[i]]) {
			return false
		}
	}
	return true
}

func TestUnknownFunctionIsAnError(t *testing.T) {
	h := newHarness(t)
	if res := h.evaluate("DeleteEverything"); res.status == 200 {
		t.Error("unknown function succeeded")
	}
}
