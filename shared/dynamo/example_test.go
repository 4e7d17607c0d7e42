package dynamo_test

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/supabridge/supabridge/shared/dynamo"
	"github.com/supabridge/supabridge/shared/store"
)

// A Store on a DynamoDB table. On AWS the client comes from
// dynamodb.NewFromConfig and the SAM template creates the table; local
// tooling creates it with CreateTable.
func ExampleNew() {
	ctx := context.Background()
	client := srv.Client()
	if err := dynamo.CreateTable(ctx, client, "supabridge-example"); err != nil {
		panic(err)
	}
	defer client.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String("supabridge-example")})
	st := store.New(dynamo.New(client, "supabridge-example"))
	defer st.Close()

	l, err := st.AcquireLease(ctx, "refresh/example", "worker-1", 30*time.Second)
	if err != nil {
		panic(err)
	}
	_, err = st.AcquireLease(ctx, "refresh/example", "worker-2", 30*time.Second)
	fmt.Println(l.Owner, err != nil)
	// Output: worker-1 true
}
