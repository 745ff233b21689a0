package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/report"
)

// countingDriver wraps go-sqlite3 and counts what reaches SQLite:
// statements prepared (a Prepare, or a query or exec run without one) and
// statements run (each exec or query, prepared or not).
type countingDriver struct {
	sqlite3.SQLiteDriver
	prepared, run atomic.Int64
}

func (d *countingDriver) Open(name string) (driver.Conn, error) {
	c, err := d.SQLiteDriver.Open(name)
	if err != nil {
		return nil, err
	}
	return &countingConn{c.(*sqlite3.SQLiteConn), d}, nil
}

type countingConn struct {
	*sqlite3.SQLiteConn
	d *countingDriver
}

func (c *countingConn) Prepare(q string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), q)
}

func (c *countingConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	c.d.prepared.Add(1)
	st, err := c.SQLiteConn.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	return &countingStmt{st.(*sqlite3.SQLiteStmt), c.d}, nil
}

func (c *countingConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	c.d.prepared.Add(1)
	c.d.run.Add(1)
	return c.SQLiteConn.ExecContext(ctx, q, args)
}

func (c *countingConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	c.d.prepared.Add(1)
	c.d.run.Add(1)
	return c.SQLiteConn.QueryContext(ctx, q, args)
}

type countingStmt struct {
	*sqlite3.SQLiteStmt
	d *countingDriver
}

func (s *countingStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	s.d.run.Add(1)
	return s.SQLiteStmt.ExecContext(ctx, args)
}

func (s *countingStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	s.d.run.Add(1)
	return s.SQLiteStmt.QueryContext(ctx, args)
}

var (
	counting     = &countingDriver{}
	registerOnce sync.Once
)

// openCounting opens a fresh store whose connections count statements.
func openCounting(t *testing.T) *Store {
	t.Helper()
	registerOnce.Do(func() { sql.Register("sqlite3-counting", counting) })
	s := openTemp(t)
	s.db.Close()
	db, err := sql.Open("sqlite3-counting", dsn(s.path))
	if err != nil {
		t.Fatal(err)
	}
	s.db = db
	return s
}

// statements returns how many statements fn prepares and runs.
func statements(t *testing.T, fn func() error) (prepared, run int64) {
	t.Helper()
	p0, r0 := counting.prepared.Load(), counting.run.Load()
	if err := fn(); err != nil {
		t.Fatal(err)
	}
	return counting.prepared.Load() - p0, counting.run.Load() - r0
}

// TestNoPerAddressStatements counts statements: review's queries and
// evidence for many addresses run as many as for a few, and AddReport
// prepares as many statements for many details as for one.
func TestNoPerAddressStatements(t *testing.T) {
	sqliteOnly(t, "the statement counter wraps the SQLite driver; the queries are the same on both engines")
	ctx := t.Context()
	type counts struct{ prepared, run int64 }
	measure := func(n int) map[string]counts {
		s := openCounting(t)
		ips := sharedReports(t, s, n)
		got := map[string]counts{}
		for name, fn := range map[string]func() error{
			"Failing":       func() error { _, err := s.Failing(ctx, time.Time{}); return err },
			"Failing since": func() error { _, err := s.Failing(ctx, day(5)); return err },
			"EvidenceAll":   func() error { _, err := s.EvidenceAll(ctx, time.Time{}); return err },
			"EvidenceAll since": func() error {
				_, err := s.EvidenceAll(ctx, day(5))
				return err
			},
			"EvidenceEach": func() error {
				return s.EvidenceEach(ctx, time.Time{}, func(netip.Addr, []Evidence) error { return nil })
			},
			"EvidenceFor one batch": func() error {
				_, err := s.EvidenceFor(ctx, ips[:min(len(ips), EvidenceBatch)])
				return err
			},
			"Evidence": func() error { _, err := s.Evidence(ctx, ips[0]); return err },
			"Stats":    func() error { _, err := s.Stats(ctx); return err },
		} {
			p, r := statements(t, fn)
			got[name] = counts{p, r}
		}
		return got
	}
	few, many := measure(3), measure(EvidenceBatch)
	for name, c := range few {
		if many[name] != c {
			t.Errorf("%s: %+v statements for 3 addresses, %+v for %d", name, c, many[name], EvidenceBatch)
		}
	}
	t.Logf("statements (prepared, run) per query: %+v", few)

	// EvidenceFor: one more run per batch, no more prepared.
	s := openCounting(t)
	ips := sharedReports(t, s, 2*EvidenceBatch+1)
	p1, r1 := statements(t, func() error { _, err := s.EvidenceFor(ctx, ips[:EvidenceBatch]); return err })
	p3, r3 := statements(t, func() error { _, err := s.EvidenceFor(ctx, ips); return err })
	if p3 != p1 || r3 != r1+2 {
		t.Errorf("EvidenceFor: (%d prepared, %d run) for one batch, (%d, %d) for three; want the same prepared, 2 more run", p1, r1, p3, r3)
	}

	// AddReport: the same statements prepared for 1 and 1000 details, one
	// more run per detail.
	add := func(id string, n int) (int64, int64) {
		ds := make([]report.FailureDetail, n)
		for i := range ds {
			ds[i] = detail(netip.AddrFrom4([4]byte{10, 9, byte(i >> 8), byte(i)}).String(), "validation-failure", 1)
		}
		return statements(t, func() error {
			_, _, err := s.AddReport(ctx, mkReport("Org", id, 1, ds...), arrival.Source{Submitter: "org.example"})
			return err
		})
	}
	pOne, rOne := add("one", 1)
	pMany, rMany := add("many", 1000)
	if pMany != pOne || rMany != rOne+999 {
		t.Errorf("AddReport: (%d prepared, %d run) for 1 detail, (%d, %d) for 1000; want the same prepared, 999 more run",
			pOne, rOne, pMany, rMany)
	}
	t.Logf("AddReport: %d statements prepared, %d + details run", pOne, rOne-1)
}

// sharedReports stores n addresses all named by the same three reports
// (days 1, 5 and 9), and returns them.
func sharedReports(t *testing.T, s *Store, n int) []netip.Addr {
	t.Helper()
	ips := make([]netip.Addr, n)
	var ds []report.FailureDetail
	for i := range ips {
		ips[i] = netip.AddrFrom4([4]byte{10, 2, byte(i >> 8), byte(i)})
		ds = append(ds, detail(ips[i].String(), "validation-failure", int64(i+1)))
	}
	for _, d := range []int{1, 5, 9} {
		r := mkReport("Org", fmt.Sprintf("shared-%d", d), d, ds...)
		if _, _, err := s.AddReport(t.Context(), r, arrival.Source{Submitter: "org.example"}); err != nil {
			t.Fatal(err)
		}
	}
	return ips
}
