package store_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/quartz"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"

	"github.com/axiestudio/tenantpool/pool/jobs"
	"github.com/axiestudio/tenantpool/pool/store"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

// A delivery's password is made once per delivery key and account, kept sealed, and handed out
// the same on every call — from this process or another one on the same database.
func TestDeliveryPasswordIsMadeOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		s := open(nil)
		as := seedReady(t, s, "basic", 2)
		first, err := s.DeliveryPassword(ctx, "credentials:cs_1", "cs_1", as[0].ID)
		if err != nil || len(first) < 20 {
			t.Fatalf("password %d chars, %v", len(first), err)
		}
		for range 3 {
			if again, err := s.DeliveryPassword(ctx, "credentials:cs_1", "cs_1", as[0].ID); err != nil || again != first {
				t.Fatalf("repeat gave another password (%v)", err)
			}
		}
		other, _ := s.DeliveryPassword(ctx, "credentials:cs_1", "cs_1", as[1].ID)
		resend, _ := s.DeliveryPassword(ctx, "credentials:cs_1:resend-1", "cs_1", as[0].ID)
		if other == first || resend == first || other == resend || other == "" || resend == "" {
			t.Fatal("another account or another delivery key got the same password")
		}
		// At rest it is sealed, and bound to its row: copied to another, it does not open.
		var sealed string
		if err := s.DB().QueryRow(`SELECT secret FROM delivery_passwords WHERE order_id = 'cs_1' AND account_id = ` +
			strconv.FormatInt(as[0].ID, 10) + ` AND delivery_key = 'credentials:cs_1'`).Scan(&sealed); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(sealed, first) {
			t.Fatal("the password is stored in the clear")
		}
		if _, err := s.DB().Exec(`UPDATE delivery_passwords SET secret = '` + sealed + `' WHERE delivery_key = 'credentials:cs_1:resend-1'`); err != nil {
			t.Fatal(err)
		}
		if _, err := s.DeliveryPassword(ctx, "credentials:cs_1:resend-1", "cs_1", as[0].ID); err == nil {
			t.Fatal("a sealed password copied to another delivery opened")
		}
		if _, err := s.DeliveryPassword(ctx, "", "cs_1", as[0].ID); err == nil {
			t.Fatal("an empty delivery key was accepted")
		}
	})
}

// fetch has the job client called id take up to n available provisioning jobs, as river does
// (it appends id to each job's attempted_by and marks it running).
func fetch(t *testing.T, s *store.Store, id string, n int) []*rivertype.JobRow {
	t.Helper()
	res, err := s.Driver().GetExecutor().JobGetAvailable(context.Background(), &riverdriver.JobGetAvailableParams{
		ClientID: id, MaxAttemptedBy: 100, MaxToLock: n, Queue: jobs.QueueProvision,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Jobs) != n {
		t.Fatalf("%s fetched %d jobs, want %d", id, len(res.Jobs), n)
	}
	return res.Jobs
}

func jobState(t *testing.T, s *store.Store, id int64) rivertype.JobState {
	t.Helper()
	j, err := s.Driver().GetExecutor().JobGetByID(context.Background(), &riverdriver.JobGetByIDParams{ID: id})
	if err != nil {
		t.Fatal(err)
	}
	return j.State
}

// The running jobs of a process whose heartbeat stopped are made available at once; those of
// a live process, and a dead process's job that a live one took over since, are left alone.
func TestRescueDeadProcesses(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(quartz.Clock) *store.Store) {
		ctx := context.Background()
		clock := quartz.NewMock(t)
		s := open(clock)
		if _, err := s.CreateAccounts(ctx, "basic", "client", 4); err != nil { // four provisioning jobs
			t.Fatal(err)
		}
		for _, id := range []string{"alive", "dead"} {
			if err := s.Heartbeat(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
		alive := fetch(t, s, "alive", 1)
		dead := fetch(t, s, "dead", 2)
		if n, gone, err := s.RescueDeadProcesses(ctx, 15*time.Second); err != nil || n != 0 || len(gone) != 0 {
			t.Fatalf("with every heartbeat fresh: rescued %d of %v (%v)", n, gone, err)
		}
		clock.Advance(20 * time.Second)
		if err := s.Heartbeat(ctx, "alive"); err != nil {
			t.Fatal(err)
		}
		n, gone, err := s.RescueDeadProcesses(ctx, 15*time.Second)
		if err != nil || n != 2 || !slices.Equal(gone, []string{"dead"}) {
			t.Fatalf("rescued %d jobs of %v (%v), want the dead process's 2", n, gone, err)
		}
		for _, j := range dead {
			if st := jobState(t, s, j.ID); st != rivertype.JobStateAvailable {
				t.Errorf("dead process's job %d is %s, want available", j.ID, st)
			}
		}
		if st := jobState(t, s, alive[0].ID); st != rivertype.JobStateRunning {
			t.Errorf("live process's job is %s, want running", st)
		}
		// A live process takes one rescued job over; the dead one comes back to life and dies
		// again: only what it was the last to attempt is its own.
		late := fetch(t, s, "late", 1)
		if err := s.Heartbeat(ctx, "dead"); err != nil {
			t.Fatal(err)
		}
		clock.Advance(20 * time.Second)
		for _, id := range []string{"alive", "late"} {
			if err := s.Heartbeat(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
		if n, gone, err := s.RescueDeadProcesses(ctx, 15*time.Second); err != nil || n != 0 || !slices.Equal(gone, []string{"dead"}) {
			t.Fatalf("rescued %d jobs of %v (%v), want none", n, gone, err)
		}
		if st := jobState(t, s, late[0].ID); st != rivertype.JobStateRunning {
			t.Errorf("the job a live process took over is %s, want running", st)
		}
		// A clean shutdown leaves: nothing of it is ever rescued.
		if err := s.LeaveProcesses(ctx, "late"); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Minute)
		if n, gone, err := s.RescueDeadProcesses(ctx, 15*time.Second); err != nil || n != 1 || !slices.Equal(gone, []string{"alive"}) {
			t.Fatalf("rescued %d jobs of %v (%v), want alive's one (late left)", n, gone, err)
		}
	})
}
