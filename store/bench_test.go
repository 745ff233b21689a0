package store

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"
)

func BenchmarkAddReport(b *testing.B) {
	s := openTemp(b)
	ctx := context.Background()
	src := Source{Transport: "mail", Submitter: "google.com", Auth: Auth{Authenticated: true, Method: "dkim", Domain: "google.com"}}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r := mkReport("Google Inc.", fmt.Sprintf("bench-%d", i), 1,
			detail("192.0.2.10", "certificate-expired", 5),
			detail("2001:db8::1", "validation-failure", 2),
			detail("", "sts-policy-fetch-error", 1))
		if _, dup, err := s.AddReport(ctx, r, src); err != nil || dup {
			b.Fatalf("AddReport: dup %v, err %v", dup, err)
		}
		i++
	}
}

func BenchmarkAddReportDuplicate(b *testing.B) {
	s := openTemp(b)
	ctx := context.Background()
	r := mkReport("Google Inc.", "dup", 1, detail("192.0.2.10", "certificate-expired", 5))
	if _, _, err := s.AddReport(ctx, r, Source{}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, dup, err := s.AddReport(ctx, r, Source{}); err != nil || !dup {
			b.Fatalf("AddReport: dup %v, err %v", dup, err)
		}
	}
}

// TestWaitsForLock checks that a writer waits for another process's write
// transaction instead of failing with "database is locked".
func TestWaitsForLock(t *testing.T) {
	s := openTemp(t)
	other, err := sql.Open("sqlite3", dsn(s.File()))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	tx, err := other.Begin() // BEGIN IMMEDIATE: holds the write lock
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`INSERT INTO dns_cache (key, value, expires) VALUES ('held', x'', 0)`); err != nil {
		t.Fatal(err)
	}
	const hold = 300 * time.Millisecond
	go func() {
		time.Sleep(hold)
		tx.Commit()
	}()
	start := time.Now()
	if _, _, err := s.AddReport(context.Background(), mkReport("Org", "waited", 1), Source{}); err != nil {
		t.Fatalf("AddReport while another writer holds the lock: %v", err)
	}
	if d := time.Since(start); d < hold-50*time.Millisecond {
		t.Errorf("AddReport returned after %v, before the other writer released the lock (%v)", d, hold)
	}
	if _, _, ok, err := s.CacheGet(context.Background(), "held"); err != nil || !ok {
		t.Errorf("the other writer's row is missing: ok %v, err %v", ok, err)
	}
}
