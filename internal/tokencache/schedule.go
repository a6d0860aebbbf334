package tokencache

import (
	"errors"
	"fmt"
	"time"
)

// Schedule ties the refresher to the collector's timetable. Times are
// aligned to UTC: with the defaults the collector starts at every full hour
// and the refresher five minutes before.
type Schedule struct {
	// CollectorInterval is the time between collector runs (default 1h).
	CollectorInterval time.Duration
	// CollectorOffset is the collector's start within the interval
	// (default 0: at :00).
	CollectorOffset time.Duration
	// RefreshLead is how long before the collector starts the refresher
	// runs (default 5m).
	RefreshLead time.Duration
	// Window is how long after the collector starts the cache must serve
	// tokens: an entry that expires before the window ends is refreshed
	// (default 8m).
	Window time.Duration
	// TokenLifetime is the expected tenant token lifetime (default 899s, as
	// GLP returns); the schedule must let a token exchanged at refresh time
	// outlive the window.
	TokenLifetime time.Duration
	// MinWriteInterval is the shortest time between two versions of one
	// secret (default 15m: stricter than AWS's 10-minute guidance, and
	// 24h/15m = 96 versions a day stays under the 100-version quota however
	// often the refresher is invoked).
	MinWriteInterval time.Duration
	// WriteRate caps the refresher's Secrets Manager writes per second
	// (default 5, a tenth of the 50 TPS account-wide write quota).
	WriteRate float64
	// CollectorReadsPerSecret is how many times per collection run the
	// collector reads each secret, for the cost plan (default 4: up to four
	// collector invocations per run each load every secret).
	CollectorReadsPerSecret int
}

// DefaultSchedule returns the default timetable.
func DefaultSchedule() Schedule {
	return Schedule{
		CollectorInterval:       time.Hour,
		RefreshLead:             5 * time.Minute,
		Window:                  8 * time.Minute,
		TokenLifetime:           899 * time.Second,
		MinWriteInterval:        15 * time.Minute,
		WriteRate:               5,
		CollectorReadsPerSecret: 4,
	}
}

// withDefaults fills zero fields from DefaultSchedule.
func (s Schedule) withDefaults() Schedule {
	d := DefaultSchedule()
	if s.CollectorInterval <= 0 {
		s.CollectorInterval = d.CollectorInterval
	}
	if s.RefreshLead <= 0 {
		s.RefreshLead = d.RefreshLead
	}
	if s.Window <= 0 {
		s.Window = d.Window
	}
	if s.TokenLifetime <= 0 {
		s.TokenLifetime = d.TokenLifetime
	}
	if s.MinWriteInterval <= 0 {
		s.MinWriteInterval = d.MinWriteInterval
	}
	if s.WriteRate <= 0 {
		s.WriteRate = d.WriteRate
	}
	if s.CollectorReadsPerSecret <= 0 {
		s.CollectorReadsPerSecret = d.CollectorReadsPerSecret
	}
	return s
}

// Validate checks that the schedule can work at all: tokens fetched at
// refresh time outlive the window, and windows are further apart than
// MinWriteInterval (so one write per window respects it).
func (s Schedule) Validate() error {
	s = s.withDefaults()
	var errs []error
	if s.CollectorOffset < 0 || s.CollectorOffset >= s.CollectorInterval {
		errs = append(errs, fmt.Errorf("collector offset %s must lie within the interval %s", s.CollectorOffset, s.CollectorInterval))
	}
	if s.RefreshLead+s.Window > s.TokenLifetime {
		errs = append(errs, fmt.Errorf("refresh lead %s + window %s exceed the token lifetime %s: cached tokens would expire inside the window", s.RefreshLead, s.Window, s.TokenLifetime))
	}
	if s.MinWriteInterval < 10*time.Minute {
		errs = append(errs, fmt.Errorf("minimum write interval %s is below AWS's 10-minute guidance", s.MinWriteInterval))
	}
	if s.VersionCeilingPerDay() >= MaxVersionsPerDay {
		errs = append(errs, fmt.Errorf("minimum write interval %s allows %d versions a day, reaching the %d-version quota", s.MinWriteInterval, s.VersionCeilingPerDay(), MaxVersionsPerDay))
	}
	if s.CollectorInterval < s.MinWriteInterval {
		errs = append(errs, fmt.Errorf("collector interval %s is shorter than the minimum write interval %s", s.CollectorInterval, s.MinWriteInterval))
	}
	if s.RefreshLead >= s.CollectorInterval {
		errs = append(errs, fmt.Errorf("refresh lead %s must be shorter than the collector interval %s", s.RefreshLead, s.CollectorInterval))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("tokencache: invalid schedule: %w", err)
	}
	return nil
}

// WindowAt returns the collection window a refresh at now serves: the first
// window (start, end) that has not ended yet.
func (s Schedule) WindowAt(now time.Time) (start, end time.Time) {
	s = s.withDefaults()
	now = now.UTC()
	start = now.Add(-s.CollectorOffset).Truncate(s.CollectorInterval).Add(s.CollectorOffset)
	for !start.Add(s.Window).After(now) {
		start = start.Add(s.CollectorInterval)
	}
	for start.Add(s.Window - s.CollectorInterval).After(now) {
		start = start.Add(-s.CollectorInterval)
	}
	return start, start.Add(s.Window)
}

// WindowsPerDay is how many collection windows (so at most how many writes
// per secret) fall into 24 hours.
func (s Schedule) WindowsPerDay() float64 {
	s = s.withDefaults()
	return float64(24*time.Hour) / float64(s.CollectorInterval)
}

// VersionCeilingPerDay is the most versions a secret can get in 24 hours
// whatever invokes the refresher: one per MinWriteInterval.
func (s Schedule) VersionCeilingPerDay() int {
	s = s.withDefaults()
	return int((24*time.Hour + s.MinWriteInterval - 1) / s.MinWriteInterval)
}

// Expressions returns EventBridge schedule expressions for the collector and
// the refresher when the interval is a whole number of minutes dividing an
// hour, or whole hours dividing a day; ok is false otherwise.
func (s Schedule) Expressions() (collector, refresher string, ok bool) {
	s = s.withDefaults()
	iv, off := s.CollectorInterval, s.CollectorOffset
	refOff := (off - s.RefreshLead + iv) % iv
	switch {
	case iv%time.Minute == 0 && iv <= time.Hour && time.Hour%iv == 0 && off%time.Minute == 0 && refOff%time.Minute == 0:
		step := int(iv / time.Minute)
		if step == 60 {
			return fmt.Sprintf("cron(%d * * * ? *)", int(off/time.Minute)), fmt.Sprintf("cron(%d * * * ? *)", int(refOff/time.Minute)), true
		}
		return fmt.Sprintf("cron(%d/%d * * * ? *)", int(off/time.Minute), step),
			fmt.Sprintf("cron(%d/%d * * * ? *)", int(refOff/time.Minute), step), true
	case iv%time.Hour == 0 && (24*time.Hour)%iv == 0 && off%time.Minute == 0 && refOff%time.Minute == 0:
		step := int(iv / time.Hour)
		cm, ch := int(off%time.Hour/time.Minute), int(off/time.Hour)
		rm, rh := int(refOff%time.Hour/time.Minute), int(refOff/time.Hour)
		return fmt.Sprintf("cron(%d %d/%d * * ? *)", cm, ch, step), fmt.Sprintf("cron(%d %d/%d * * ? *)", rm, rh, step), true
	}
	return "", "", false
}
