// Package dynamo is the state store's AWS backend: one DynamoDB table,
// written with conditional PutItem/DeleteItem and read with GetItem and
// Query. It uses no transactions and does not rely on TTL (dynalite, the
// local DynamoDB the tests run against, has neither): expires_at is the
// table's TTL attribute, for clean-up only.
package dynamo

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/supabridge/supabridge/shared/store"
)

// Attribute names of the table.
const (
	AttrPK        = "pk"
	AttrSK        = "sk"
	AttrVersion   = "version"
	AttrExpiresAt = "expires_at" // epoch seconds; the table's TTL attribute
	AttrData      = "data"
)

// indexAttrs maps each index to its key attributes; the GSIs are named as
// the store names them ("gsi1" ...).
var indexAttrs = map[store.Index][2]string{
	store.IndexPrimary: {AttrPK, AttrSK},
	store.IndexGSI1:    {"gsi1pk", "gsi1sk"},
	store.IndexGSI2:    {"gsi2pk", "gsi2sk"},
	store.IndexGSI3:    {"gsi3pk", "gsi3sk"},
}

// Backend is a store.Backend on one DynamoDB table (see TableInput for its
// definition). It is safe for concurrent use by many goroutines and many
// Lambdas: every conditional write is one conditional DynamoDB request.
// Reads of the table are strongly consistent; queries of the GSIs are
// eventually consistent, as DynamoDB offers nothing else there, so a
// listing may briefly miss a write that Get already sees.
//
// Errors wrap store.ErrNotFound and store.ErrConditionFailed as the
// store.Backend contract says; other failures wrap the SDK's error, whose
// API types (errors.As) are kept. Create one with New; the zero value is not
// usable.
type Backend struct {
	client *dynamodb.Client
	table  string
}

var _ store.Backend = (*Backend)(nil)

// New returns a Backend on the table through client.
func New(client *dynamodb.Client, table string) *Backend {
	return &Backend{client: client, table: table}
}

// Close implements store.Backend; the client needs no closing.
func (b *Backend) Close() error { return nil }

// Get implements store.Backend.
func (b *Backend) Get(ctx context.Context, pk, sk string) (*store.Item, error) {
	if pk == "" || sk == "" {
		return nil, fmt.Errorf("dynamo: get: empty key: %w", store.ErrNotFound)
	}
	out, err := b.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      &b.table,
		Key:            key(pk, sk),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, fmt.Errorf("dynamo: get %s/%s: %w", pk, sk, err)
	}
	if len(out.Item) == 0 {
		return nil, fmt.Errorf("dynamo: get %s/%s: %w", pk, sk, store.ErrNotFound)
	}
	it, err := decode(out.Item)
	if err != nil {
		return nil, fmt.Errorf("dynamo: get %s/%s: %w", pk, sk, err)
	}
	return it, nil
}

func key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		AttrPK: &types.AttributeValueMemberS{Value: pk},
		AttrSK: &types.AttributeValueMemberS{Value: sk},
	}
}

// conditionExpr renders cond; "" means unconditional.
func conditionExpr(cond store.Condition) (string, map[string]string, map[string]types.AttributeValue, error) {
	switch {
	case cond.IfAbsent && cond.IfVersion != 0:
		return "", nil, nil, errors.New("condition sets both IfAbsent and IfVersion")
	case cond.IfAbsent:
		return "attribute_not_exists(#pk)", map[string]string{"#pk": AttrPK}, nil, nil
	case cond.IfVersion != 0:
		return "#v = :v", map[string]string{"#v": AttrVersion},
			map[string]types.AttributeValue{":v": number(cond.IfVersion)}, nil
	}
	return "", nil, nil, nil
}

func number(n int64) *types.AttributeValueMemberN {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

// Put implements store.Backend.
func (b *Backend) Put(ctx context.Context, it *store.Item, cond store.Condition) error {
	if it == nil || it.PK == "" || it.SK == "" {
		return errors.New("dynamo: put: item has an empty key")
	}
	expr, names, values, err := conditionExpr(cond)
	if err != nil {
		return fmt.Errorf("dynamo: put %s/%s: %w", it.PK, it.SK, err)
	}
	in := &dynamodb.PutItemInput{TableName: &b.table, Item: encode(it)}
	if expr != "" {
		in.ConditionExpression = &expr
		in.ExpressionAttributeNames = names
		in.ExpressionAttributeValues = values
	}
	if _, err := b.client.PutItem(ctx, in); err != nil {
		return fmt.Errorf("dynamo: put %s/%s: %w", it.PK, it.SK, mapErr(err))
	}
	return nil
}

// Delete implements store.Backend.
func (b *Backend) Delete(ctx context.Context, pk, sk string, cond store.Condition) error {
	if pk == "" || sk == "" {
		return errors.New("dynamo: delete: empty key")
	}
	expr, names, values, err := conditionExpr(cond)
	if err != nil {
		return fmt.Errorf("dynamo: delete %s/%s: %w", pk, sk, err)
	}
	in := &dynamodb.DeleteItemInput{TableName: &b.table, Key: key(pk, sk)}
	if expr != "" {
		in.ConditionExpression = &expr
		in.ExpressionAttributeNames = names
		in.ExpressionAttributeValues = values
	}
	if _, err := b.client.DeleteItem(ctx, in); err != nil {
		return fmt.Errorf("dynamo: delete %s/%s: %w", pk, sk, mapErr(err))
	}
	return nil
}

// mapErr turns a failed condition into store.ErrConditionFailed, dropping
// DynamoDB's own message for it.
func mapErr(err error) error {
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return store.ErrConditionFailed
	}
	return err
}

// Query implements store.Backend. With both bounds it asks DynamoDB for
// BETWEEN (the one two-sided key condition, inclusive) and drops the
// endpoints; it follows LastEvaluatedKey until it has q.Limit items or the
// partition is exhausted.
func (b *Backend) Query(ctx context.Context, q store.Query) ([]*store.Item, error) {
	attrs, ok := indexAttrs[q.Index]
	if !ok {
		return nil, fmt.Errorf("dynamo: query: unknown index %q", q.Index)
	}
	if q.PK == "" || q.Limit <= 0 {
		return nil, fmt.Errorf("dynamo: query %s: needs a partition key and a positive limit", q.Index)
	}
	if q.After != "" && q.Before != "" && q.After >= q.Before {
		return []*store.Item{}, nil
	}
	names := map[string]string{"#p": attrs[0]}
	values := map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: q.PK}}
	cond := "#p = :p"
	between := q.After != "" && q.Before != ""
	switch {
	case between:
		cond += " AND #s BETWEEN :a AND :b"
	case q.After != "":
		cond += " AND #s > :a"
	case q.Before != "":
		cond += " AND #s < :b"
	}
	if q.After != "" {
		names["#s"] = attrs[1]
		values[":a"] = &types.AttributeValueMemberS{Value: q.After}
	}
	if q.Before != "" {
		names["#s"] = attrs[1]
		values[":b"] = &types.AttributeValueMemberS{Value: q.Before}
	}
	in := &dynamodb.QueryInput{
		TableName:                 &b.table,
		KeyConditionExpression:    &cond,
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
		ScanIndexForward:          aws.Bool(!q.Descending),
	}
	if q.Index == store.IndexPrimary {
		in.ConsistentRead = aws.Bool(true)
	} else {
		in.IndexName = aws.String(string(q.Index))
	}
	out := make([]*store.Item, 0, min(q.Limit, 128))
	for {
		page := q.Limit - len(out)
		if between {
			page += 2 // room for the two endpoints, which are dropped
		}
		in.Limit = aws.Int32(int32(min(page, math.MaxInt32)))
		resp, err := b.client.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("dynamo: query %s %s: %w", q.Index, q.PK, err)
		}
		for _, av := range resp.Items {
			it, err := decode(av)
			if err != nil {
				return nil, fmt.Errorf("dynamo: query %s %s: %w", q.Index, q.PK, err)
			}
			if between {
				if sk := sortKey(it, q.Index); sk == q.After || sk == q.Before {
					continue
				}
			}
			out = append(out, it)
			if len(out) == q.Limit {
				return out, nil
			}
		}
		if len(resp.LastEvaluatedKey) == 0 {
			return out, nil
		}
		in.ExclusiveStartKey = resp.LastEvaluatedKey
	}
}

func sortKey(it *store.Item, idx store.Index) string {
	switch idx {
	case store.IndexGSI1:
		return it.GSI1SK
	case store.IndexGSI2:
		return it.GSI2SK
	case store.IndexGSI3:
		return it.GSI3SK
	}
	return it.SK
}

// expiresSeconds renders t as epoch seconds, rounded up so that TTL never
// removes an item early; 0 for the zero time.
func expiresSeconds(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	return s
}

// encode renders it as a DynamoDB item. Index keys are written only in
// pairs (DynamoDB refuses empty key strings, and indexes only items with
// both), and empty data is left out.
func encode(it *store.Item) map[string]types.AttributeValue {
	av := make(map[string]types.AttributeValue, 11)
	av[AttrPK] = &types.AttributeValueMemberS{Value: it.PK}
	av[AttrSK] = &types.AttributeValueMemberS{Value: it.SK}
	pair := func(idx store.Index, pk, sk string) {
		if pk != "" && sk != "" {
			a := indexAttrs[idx]
			av[a[0]] = &types.AttributeValueMemberS{Value: pk}
			av[a[1]] = &types.AttributeValueMemberS{Value: sk}
		}
	}
	pair(store.IndexGSI1, it.GSI1PK, it.GSI1SK)
	pair(store.IndexGSI2, it.GSI2PK, it.GSI2SK)
	pair(store.IndexGSI3, it.GSI3PK, it.GSI3SK)
	av[AttrVersion] = number(it.Version)
	if s := expiresSeconds(it.ExpiresAt); s != 0 {
		av[AttrExpiresAt] = number(s)
	}
	if len(it.Data) > 0 {
		av[AttrData] = &types.AttributeValueMemberB{Value: it.Data}
	}
	return av
}

func decode(av map[string]types.AttributeValue) (*store.Item, error) {
	it := &store.Item{Data: []byte{}}
	str := func(name string, dst *string) error {
		v, ok := av[name]
		if !ok {
			return nil
		}
		s, ok := v.(*types.AttributeValueMemberS)
		if !ok {
			return fmt.Errorf("attribute %s is %T, not a string", name, v)
		}
		*dst = s.Value
		return nil
	}
	num := func(name string) (int64, error) {
		v, ok := av[name]
		if !ok {
			return 0, nil
		}
		n, ok := v.(*types.AttributeValueMemberN)
		if !ok {
			return 0, fmt.Errorf("attribute %s is %T, not a number", name, v)
		}
		return strconv.ParseInt(n.Value, 10, 64)
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{
		{AttrPK, &it.PK}, {AttrSK, &it.SK},
		{"gsi1pk", &it.GSI1PK}, {"gsi1sk", &it.GSI1SK},
		{"gsi2pk", &it.GSI2PK}, {"gsi2sk", &it.GSI2SK},
		{"gsi3pk", &it.GSI3PK}, {"gsi3sk", &it.GSI3SK},
	} {
		if err := str(f.name, f.dst); err != nil {
			return nil, err
		}
	}
	var err error
	if it.Version, err = num(AttrVersion); err != nil {
		return nil, err
	}
	exp, err := num(AttrExpiresAt)
	if err != nil {
		return nil, err
	}
	if exp != 0 {
		it.ExpiresAt = time.Unix(exp, 0).UTC()
	}
	if v, ok := av[AttrData]; ok {
		b, ok := v.(*types.AttributeValueMemberB)
		if !ok {
			return nil, fmt.Errorf("attribute %s is %T, not binary", AttrData, v)
		}
		it.Data = b.Value
	}
	return it, nil
}
