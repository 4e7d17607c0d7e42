package dynamo_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/supabridge/supabridge/shared/dynamo"
	"github.com/supabridge/supabridge/shared/dynamo/dynamotest"
	"github.com/supabridge/supabridge/shared/store"
	"github.com/supabridge/supabridge/shared/store/storetest"
)

var srv *dynamotest.Server

func TestMain(m *testing.M) { os.Exit(dynamotest.Main(m, &srv)) }

func newBackend(t testing.TB) *dynamo.Backend {
	client, table := srv.NewTable(t)
	return dynamo.New(client, table)
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) *store.Store { return store.New(newBackend(t)) })
}

func TestBackend(t *testing.T) {
	storetest.RunBackend(t, func(t *testing.T) store.Backend { return newBackend(t) })
}

// TestTableShape reads the created table back: the definition the SAM
// template mirrors must be what DynamoDB (here dynalite) reports.
func TestTableShape(t *testing.T) {
	client, table := srv.NewTable(t)
	out, err := client.DescribeTable(t.Context(), &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	d := out.Table
	if d.BillingModeSummary == nil || d.BillingModeSummary.BillingMode != types.BillingModePayPerRequest {
		t.Errorf("billing mode: %+v, want PAY_PER_REQUEST", d.BillingModeSummary)
	}
	keys := func(ks []types.KeySchemaElement) []string {
		var out []string
		for _, k := range ks {
			out = append(out, aws.ToString(k.AttributeName)+":"+string(k.KeyType))
		}
		return out
	}
	if got := keys(d.KeySchema); !reflect.DeepEqual(got, []string{"pk:HASH", "sk:RANGE"}) {
		t.Errorf("table key %v", got)
	}
	gsis := map[string][]string{}
	for _, g := range d.GlobalSecondaryIndexes {
		if g.Projection == nil || g.Projection.ProjectionType != types.ProjectionTypeAll {
			t.Errorf("index %s does not project all attributes", aws.ToString(g.IndexName))
		}
		gsis[aws.ToString(g.IndexName)] = keys(g.KeySchema)
	}
	want := map[string][]string{
		"gsi1": {"gsi1pk:HASH", "gsi1sk:RANGE"},
		"gsi2": {"gsi2pk:HASH", "gsi2sk:RANGE"},
		"gsi3": {"gsi3pk:HASH", "gsi3sk:RANGE"},
	}
	if !reflect.DeepEqual(gsis, want) {
		t.Errorf("indexes %v, want %v", gsis, want)
	}
	for _, a := range d.AttributeDefinitions {
		if a.AttributeType != types.ScalarAttributeTypeS {
			t.Errorf("attribute %s has type %s, want S", aws.ToString(a.AttributeName), a.AttributeType)
		}
	}
	if len(d.AttributeDefinitions) != 8 {
		t.Errorf("%d attribute definitions, want 8", len(d.AttributeDefinitions))
	}
}

// TestStoredAttributes checks the item layout other tools (TTL, the
// console, exports) see: attribute names and types.
func TestStoredAttributes(t *testing.T) {
	client, table := srv.NewTable(t)
	b := dynamo.New(client, table)
	ctx := t.Context()
	it := &store.Item{PK: "p", SK: "s", GSI2PK: "g", GSI2SK: "k", GSI3PK: "lonely", Version: 3,
		ExpiresAt: mustTime(t, "2030-01-02T03:04:05.5Z"), Data: []byte(`{"a":1}`)}
	if err := b.Put(ctx, it, store.Condition{}); err != nil {
		t.Fatal(err)
	}
	out, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "p"}, "sk": &types.AttributeValueMemberS{Value: "s"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]types.AttributeValue{
		"pk":         &types.AttributeValueMemberS{Value: "p"},
		"sk":         &types.AttributeValueMemberS{Value: "s"},
		"gsi2pk":     &types.AttributeValueMemberS{Value: "g"},
		"gsi2sk":     &types.AttributeValueMemberS{Value: "k"},
		"version":    &types.AttributeValueMemberN{Value: "3"},
		"expires_at": &types.AttributeValueMemberN{Value: "1893553446"}, // 1893553445.5, rounded up
		"data":       &types.AttributeValueMemberB{Value: []byte(`{"a":1}`)},
	}
	if len(out.Item) != len(want) {
		t.Fatalf("stored attributes %v, want %v", keysOf(out.Item), keysOf(want))
	}
	for k, w := range want {
		if !reflect.DeepEqual(out.Item[k], w) {
			t.Errorf("attribute %s: %#v, want %#v", k, out.Item[k], w)
		}
	}
}

// TestDecodeErrors: an item written by something else with the wrong
// types is an error, not a panic or a silently wrong item.
func TestDecodeErrors(t *testing.T) {
	client, table := srv.NewTable(t)
	b := dynamo.New(client, table)
	ctx := t.Context()
	for _, tc := range []struct {
		name string
		attr string
		val  types.AttributeValue
	}{
		{"version as string", "version", &types.AttributeValueMemberS{Value: "1"}},
		{"version not an integer", "version", &types.AttributeValueMemberN{Value: "1.5"}},
		{"data as string", "data", &types.AttributeValueMemberS{Value: "x"}},
		{"index key as number", "gsi1pk", &types.AttributeValueMemberN{Value: "1"}},
	} {
		item := map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: "bad"}, "sk": &types.AttributeValueMemberS{Value: tc.name},
			"version": &types.AttributeValueMemberN{Value: "1"},
		}
		item[tc.attr] = tc.val
		if tc.attr == "gsi1pk" {
			// An index key of the wrong type is refused by DynamoDB itself.
			_, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item})
			if err == nil {
				t.Errorf("%s: DynamoDB accepted it", tc.name)
			}
			continue
		}
		if _, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
			t.Fatal(err)
		}
		_, err := b.Get(ctx, "bad", tc.name)
		if err == nil || errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: get returned %v, want a decode error", tc.name, err)
		}
	}
}

// TestConditionErrorIsClean: a failed condition is the sentinel alone,
// without DynamoDB's message, and other API errors keep their type.
func TestConditionErrorIsClean(t *testing.T) {
	client, table := srv.NewTable(t)
	b := dynamo.New(client, table)
	ctx := t.Context()
	it := &store.Item{PK: "p", SK: "s", Version: 1, Data: []byte("x")}
	if err := b.Put(ctx, it, store.Condition{IfAbsent: true}); err != nil {
		t.Fatal(err)
	}
	err := b.Put(ctx, it, store.Condition{IfAbsent: true})
	var ccf *types.ConditionalCheckFailedException
	if !errors.Is(err, store.ErrConditionFailed) || errors.As(err, &ccf) {
		t.Fatalf("failed condition: %v", err)
	}
	missing := dynamo.New(client, "no-such-table")
	_, err = missing.Get(ctx, "p", "s")
	var rnf *types.ResourceNotFoundException
	if !errors.As(err, &rnf) {
		t.Fatalf("get from a missing table: %v, want ResourceNotFoundException", err)
	}
}

func TestCreateTableTwice(t *testing.T) {
	client, table := srv.NewTable(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var inUse *types.ResourceInUseException
	if err := dynamo.CreateTable(ctx, client, table); !errors.As(err, &inUse) {
		t.Fatalf("create an existing table: %v, want ResourceInUseException", err)
	}
}

func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) *store.Store { return store.New(newBackend(b)) })
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func keysOf(m map[string]types.AttributeValue) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// countingTransport counts DynamoDB requests by operation.
type countingTransport struct {
	mu  sync.Mutex
	ops map[string]int
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	op := r.Header.Get("X-Amz-Target")
	c.mu.Lock()
	c.ops[op[strings.LastIndexByte(op, '.')+1:]]++
	c.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

// TestQueryFollowsPages: more than 1 MB of matching items makes DynamoDB
// cut its response short; Query must follow LastEvaluatedKey rather than
// return fewer than Limit items, which would read as "exhausted".
func TestQueryFollowsPages(t *testing.T) {
	_, table := srv.NewTable(t)
	counter := &countingTransport{ops: map[string]int{}}
	client := dynamodb.New(dynamodb.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.Endpoint()),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
		HTTPClient:  &http.Client{Transport: counter},
	})
	b := dynamo.New(client, table)
	ctx := t.Context()
	const n = 45
	for i := range n {
		sk := fmt.Sprintf("k%03d", i)
		if err := b.Put(ctx, &store.Item{PK: "big", SK: sk, Version: 1, Data: bytes.Repeat([]byte("x"), 30<<10)}, store.Condition{}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := b.Query(ctx, store.Query{PK: "big", Limit: 44})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 44 || got[43].SK != "k043" {
		t.Fatalf("%d items, want 44 ending at k043", len(got))
	}
	if counter.ops["Query"] < 2 {
		t.Fatalf("%d Query requests for 1.3 MB; the test no longer crosses a response page", counter.ops["Query"])
	}
}
