package pgcluster_test

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/supabridge/supabridge/shared/localsupabase/pgcluster"
)

func TestStartQueryStop(t *testing.T) {
	ctx := context.Background()
	c, err := pgcluster.Start(ctx, pgcluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CreateDatabase(ctx, "scratch"); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, c.URL("scratch"))
	if err != nil {
		t.Fatal(err)
	}
	var level string
	if err := conn.QueryRow(ctx, "show wal_level").Scan(&level); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	if level != "logical" {
		t.Errorf("wal_level = %q, want logical", level)
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(c.Dir); !os.IsNotExist(err) {
		t.Errorf("cluster dir %s still exists after Stop", c.Dir)
	}
	if _, err := pgx.Connect(ctx, c.URL("postgres")); err == nil {
		t.Error("server still accepts connections after Stop")
	}
}
