// Package store is Supabridge's state store: API keys, environment
// settings, integrated accounts, link sessions, webhooks, events and their
// deliveries, leases and idempotency records, written once over a small
// Backend interface that two real backends implement
// (package sqlite for one machine, package dynamo for AWS).
//
// Every record is an Item addressed by (PK, SK), optionally projected into
// three secondary indexes. Writes are conditional on absence or on the
// stored Version, which gives optimistic concurrency without transactions:
// neither dynalite nor a single conditional write needs them. Expiry is
// always checked in code; ExpiresAt only lets the backend clean up.
package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors every Backend returns (possibly wrapped).
var (
	// ErrNotFound: no item has the key.
	ErrNotFound = errors.New("store: item not found")
	// ErrConditionFailed: a write's condition did not hold.
	ErrConditionFailed = errors.New("store: condition failed")
)

// Index names an index to query.
type Index string

// Indexes. IndexPrimary queries the table itself by PK, ordered by SK.
const (
	IndexPrimary Index = ""
	IndexGSI1    Index = "gsi1"
	IndexGSI2    Index = "gsi2"
	IndexGSI3    Index = "gsi3"
)

// Item is one stored record. Empty index keys keep the item out of that
// index. Sort keys within one partition (PK, or an index's partition key)
// must be unique, so that range bounds alone paginate.
type Item struct {
	PK, SK         string
	GSI1PK, GSI1SK string
	GSI2PK, GSI2SK string
	GSI3PK, GSI3SK string
	// Version is the stored version; Put sets it from the condition.
	Version int64
	// ExpiresAt, when set, allows the backend to delete the item some time
	// after it (DynamoDB TTL). Readers must still check expiry themselves.
	ExpiresAt time.Time
	// Data is the record, JSON-encoded.
	Data []byte
}

// Condition guards a write. The zero value writes unconditionally.
type Condition struct {
	// IfAbsent requires that no item with the key exists.
	IfAbsent bool
	// IfVersion, when non-zero, requires that the item exists with exactly
	// this Version.
	IfVersion int64
}

// Query reads one partition of one index in sort-key order.
type Query struct {
	Index Index
	// PK is the partition key (of the index, or of the table).
	PK string
	// After and Before are exclusive sort-key bounds; empty means unbounded.
	After, Before string
	// Limit is the most items to return (required, > 0).
	Limit int
	// Descending reverses the order.
	Descending bool
}

// Backend is the storage underneath a Store. Implementations must be safe
// for concurrent use by many goroutines and, where they are shared, by many
// processes: conditional writes are atomic.
type Backend interface {
	// Get returns the item with the key, or ErrNotFound.
	Get(ctx context.Context, pk, sk string) (*Item, error)
	// Put writes item if cond holds, or returns ErrConditionFailed. The
	// stored Version is item.Version, which the caller sets.
	Put(ctx context.Context, item *Item, cond Condition) error
	// Delete removes the item if cond holds, or returns
	// ErrConditionFailed. Deleting a missing item unconditionally succeeds.
	Delete(ctx context.Context, pk, sk string, cond Condition) error
	// Query returns up to q.Limit items of the partition strictly between
	// the bounds, in order. Fewer than q.Limit items means there are no more.
	Query(ctx context.Context, q Query) ([]*Item, error)
	// Close releases the backend's resources.
	Close() error
}
