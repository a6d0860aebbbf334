package tokencache

import (
	"testing"
	"time"
)

func TestWindowAt(t *testing.T) {
	s := DefaultSchedule()
	at := func(h, m int) time.Time { return time.Date(2026, 11, 24, h, m, 0, 0, time.UTC) }
	for _, c := range []struct{ now, start time.Time }{
		{at(12, 55), at(13, 0)},
		{at(12, 0), at(12, 0)},
		{at(12, 7), at(12, 0)},
		{at(12, 8), at(13, 0)},
		{at(12, 30), at(13, 0)},
		{at(23, 59), at(24, 0)},
	} {
		start, end := s.WindowAt(c.now)
		if !start.Equal(c.start) || !end.Equal(c.start.Add(8*time.Minute)) {
			t.Errorf("%s: %s..%s, want start %s", c.now, start, end, c.start)
		}
	}
	s.CollectorInterval, s.CollectorOffset = 4*time.Hour, 30*time.Minute
	if start, _ := s.WindowAt(at(12, 0)); !start.Equal(at(12, 30)) {
		t.Errorf("offset: %s", start)
	}
	if start, _ := s.WindowAt(at(12, 40)); !start.Equal(at(16, 30)) {
		t.Errorf("offset after window: %s", start)
	}
}

func TestScheduleValidateAndExpressions(t *testing.T) {
	if err := DefaultSchedule().Validate(); err != nil {
		t.Fatal(err)
	}
	c, r, ok := DefaultSchedule().Expressions()
	if !ok || c != "cron(0 * * * ? *)" || r != "cron(55 * * * ? *)" {
		t.Errorf("%s %s %v", c, r, ok)
	}
	s := DefaultSchedule()
	s.CollectorInterval = 30 * time.Minute
	if c, r, ok := s.Expressions(); !ok || c != "cron(0/30 * * * ? *)" || r != "cron(25/30 * * * ? *)" {
		t.Errorf("%s %s %v", c, r, ok)
	}
	s.CollectorInterval = 6 * time.Hour
	if c, r, ok := s.Expressions(); !ok || c != "cron(0 0/6 * * ? *)" || r != "cron(55 5/6 * * ? *)" {
		t.Errorf("%s %s %v", c, r, ok)
	}
	for _, bad := range []Schedule{
		{CollectorInterval: 5 * time.Minute},
		{RefreshLead: 10 * time.Minute, Window: 10 * time.Minute},
		{CollectorOffset: 2 * time.Hour},
		{MinWriteInterval: 5 * time.Minute},
		{MinWriteInterval: 14 * time.Minute, CollectorInterval: time.Hour},
	} {
		if bad.Validate() == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}
