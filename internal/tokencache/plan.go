package tokencache

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"
)

// Secrets Manager quotas and prices the plan is checked against
// (docs.aws.amazon.com/secretsmanager/latest/userguide/reference_limits.html,
// aws.amazon.com/secrets-manager/pricing).
const (
	// MaxVersionsPerDay: a secret with 100 versions created within 24 hours
	// reaches the version quota.
	MaxVersionsPerDay = 100
	// AccountWriteTPS is the combined write-API quota per account.
	AccountWriteTPS = 50
	// PricePerSecretMonth is the storage price in USD.
	PricePerSecretMonth = 0.40
	// PricePer10kCalls is the API price in USD per 10,000 calls.
	PricePer10kCalls = 0.05
	// HoursPerMonth is AWS's billing month.
	HoursPerMonth = 730
)

// Plan is the Secrets Manager footprint of the cache for a tenant count at a
// schedule, measured by laying out real entries (SampleToken-sized tokens)
// with the refresher's own assignment code.
type Plan struct {
	Tenants  int
	Schedule Schedule
	Layout   Layout

	// TenantSecrets is the number of tenant cache secrets; Secrets adds the MSP
	// object.
	TenantSecrets, Secrets int
	// MaxEntries is the most tenants in one secret.
	MaxEntries int
	// LargestBytes is the largest encoded secret (SecretString) in bytes.
	LargestBytes int
	// TokenBytes is the sample token size used.
	TokenBytes int
	// WritesPerSecretPerDay is the most versions one secret gets in 24 h:
	// one per collection window (the write token makes a second impossible).
	WritesPerSecretPerDay float64
	// MinVersionSpacing is the shortest time between two versions of a
	// secret at the schedule; VersionCeilingPerDay the most versions a day
	// whatever invokes the refresher (one per MinWriteInterval).
	MinVersionSpacing    time.Duration
	VersionCeilingPerDay int
	// PeakWriteTPS is the most write calls per second the refresher makes
	// (its write limiter); WriteSpread is how long the writes of one run
	// take at that rate.
	PeakWriteTPS float64
	WriteSpread  time.Duration
	// Calls per collection window: refresher and collector reads and writes.
	RefresherCallsPerRun, CollectorCallsPerRun int
	// CallsPerMonth is every Secrets Manager API call in a month.
	CallsPerMonth float64
	// Monthly cost in USD: storage, API calls and their sum.
	StorageUSD, APIUSD, TotalUSD float64
}

// PlanFor computes the plan at the default layout.
func PlanFor(tenants int, sched Schedule) Plan {
	return PlanWith(tenants, sched, DefaultLayout())
}

// PlanWith computes the plan for a layout.
func PlanWith(tenants int, sched Schedule, layout Layout) Plan {
	sched = sched.withDefaults()
	layout = layout.withDefaults()
	p := Plan{Tenants: tenants, Schedule: sched, Layout: layout}
	issued := time.Date(2026, 11, 24, 12, 55, 0, 0, time.UTC)
	ts := make([]Tenant, tenants)
	for i := range ts {
		h := sha256.Sum256(fmt.Appendf(nil, "tenant-%d", i))
		ts[i] = Tenant{ID: fmt.Sprintf("%x", h[:16]), Name: fmt.Sprintf("Customer %05d Managed Network Services Ltd", i)}
	}
	res := &Result{Counts: map[SkipReason]int{}}
	secrets := assign("plan", layout, nil, ts, true, res)
	p.TenantSecrets = len(secrets)
	p.Secrets = p.TenantSecrets + 1
	// Sample tokens all have the same size; a small pool keeps 10,000
	// tenants fast.
	pool := make([]string, 16)
	for i := range pool {
		pool[i] = SampleToken(i, issued)
	}
	for _, st := range secrets {
		for i := range st.entries {
			e := &st.entries[i]
			tok := pool[(i+st.index)%len(pool)]
			p.TokenBytes = len(tok)
			*e = Entry{TenantID: e.TenantID, Name: e.Name, Token: tok, TokenType: "Bearer", Expiry: issued.Add(899 * time.Second), Status: StatusOK, Updated: issued}
		}
		doc := &CacheSecret{Format: FormatName, Version: FormatVersion, Kind: KindTenants, Index: st.index, WrittenAt: issued, Window: issued, Entries: st.entries}
		p.LargestBytes = max(p.LargestBytes, encodedLen(doc))
		p.MaxEntries = max(p.MaxEntries, len(st.entries))
	}
	msp := &CacheSecret{Format: FormatName, Version: FormatVersion, Kind: KindMSP, Index: -1, WrittenAt: issued, Window: issued,
		Entries: []Entry{{TenantID: MSPEntryID, Name: "MSP", Token: SampleToken(-1, issued), TokenType: "Bearer", Expiry: issued.Add(899 * time.Second), Status: StatusOK, Updated: issued}}}
	p.LargestBytes = max(p.LargestBytes, encodedLen(msp))

	p.WritesPerSecretPerDay = sched.WindowsPerDay()
	p.MinVersionSpacing = sched.CollectorInterval
	p.VersionCeilingPerDay = sched.VersionCeilingPerDay()
	p.PeakWriteTPS = math.Min(sched.WriteRate, float64(p.Secrets))
	p.WriteSpread = time.Duration(float64(p.Secrets) / sched.WriteRate * float64(time.Second))

	lists := (p.TenantSecrets + 99) / 100
	// Refresher per run: list, read every secret and the MSP object, then per
	// written secret one DescribeSecret and one write (the MSP object is
	// created or put without a describe only on its first run), plus the
	// credentials secret.
	p.RefresherCallsPerRun = lists + p.TenantSecrets + 1 + (p.TenantSecrets + 1) + p.Secrets + 1
	// Collector per run: each of CollectorReadsPerSecret readers lists and
	// reads every secret and the MSP object.
	p.CollectorCallsPerRun = sched.CollectorReadsPerSecret * (lists + p.TenantSecrets + 1)
	runsPerMonth := float64(HoursPerMonth*time.Hour) / float64(sched.CollectorInterval)
	p.CallsPerMonth = runsPerMonth * float64(p.RefresherCallsPerRun+p.CollectorCallsPerRun)
	p.StorageUSD = float64(p.Secrets) * PricePerSecretMonth
	p.APIUSD = p.CallsPerMonth / 10000 * PricePer10kCalls
	p.TotalUSD = p.StorageUSD + p.APIUSD
	return p
}

func encodedLen(s *CacheSecret) int {
	b, err := s.Encode()
	if err != nil {
		return math.MaxInt
	}
	return len(b)
}

// Check reports every way the plan breaks a Secrets Manager limit.
func (p Plan) Check() error {
	var errs []error
	if err := p.Schedule.Validate(); err != nil {
		errs = append(errs, err)
	}
	if p.LargestBytes > MaxSecretBytes {
		errs = append(errs, fmt.Errorf("largest secret is %d bytes, over the %d-byte SecretString limit", p.LargestBytes, MaxSecretBytes))
	}
	if p.WritesPerSecretPerDay >= MaxVersionsPerDay {
		errs = append(errs, fmt.Errorf("%.0f versions per secret per day reach the %d-version quota", p.WritesPerSecretPerDay, MaxVersionsPerDay))
	}
	if p.VersionCeilingPerDay >= MaxVersionsPerDay {
		errs = append(errs, fmt.Errorf("up to %d versions per secret per day (one per %s) could reach the %d-version quota", p.VersionCeilingPerDay, p.Schedule.MinWriteInterval, MaxVersionsPerDay))
	}
	if p.MinVersionSpacing < p.Schedule.MinWriteInterval {
		errs = append(errs, fmt.Errorf("versions %s apart are closer than %s", p.MinVersionSpacing, p.Schedule.MinWriteInterval))
	}
	if p.PeakWriteTPS > AccountWriteTPS {
		errs = append(errs, fmt.Errorf("%.1f write calls/s exceed the %d TPS account quota", p.PeakWriteTPS, AccountWriteTPS))
	}
	if p.WriteSpread > p.Schedule.RefreshLead {
		errs = append(errs, fmt.Errorf("writing %d secrets at %.0f/s takes %s, longer than the refresh lead %s", p.Secrets, p.PeakWriteTPS, p.WriteSpread, p.Schedule.RefreshLead))
	}
	return errors.Join(errs...)
}

// WritePlanTable prints plans as an aligned table, followed by the schedule
// they assume.
func WritePlanTable(w io.Writer, plans []Plan) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "tenants\tsecrets\ttenants/secret\tlargest secret (B)\t% of 64 KiB\twrites/secret/day\tceiling/day\tpeak write calls/s\twrite spread\tAPI calls/month\tUSD/month\tlimits\t")
	for _, p := range plans {
		status := "ok"
		if err := p.Check(); err != nil {
			status = "EXCEEDED: " + strings.ReplaceAll(err.Error(), "\n", "; ")
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%.0f%%\t%.0f\t%d\t%.0f\t%s\t%s\t%.2f\t%s\t\n",
			group(p.Tenants), p.Secrets, p.MaxEntries, group(p.LargestBytes), 100*float64(p.LargestBytes)/MaxSecretBytes,
			p.WritesPerSecretPerDay, p.VersionCeilingPerDay, p.PeakWriteTPS, p.WriteSpread.Round(time.Second), group(int(p.CallsPerMonth)), p.TotalUSD, status)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(plans) == 0 {
		return nil
	}
	s := plans[0].Schedule
	col, ref, _ := s.Expressions()
	_, err := fmt.Fprintf(w, "\nschedule: collector every %s (%s), refresher %s earlier (%s), window %s, tokens %s;\n"+
		"limits: SecretString <= %d B, < %d versions/secret/24 h, >= 10m between versions (refresher keeps >= %s: ceiling/day), <= %d write TPS/account;\n"+
		"prices: $%.2f/secret/month + $%.2f/10,000 calls (%d-hour month); secrets = tenant cache secrets + 1 MSP object; %d B sample token;\n"+
		"calls: refresher lists+reads+describes+writes every secret once per window, collector reads every secret %d times per window.\n",
		s.CollectorInterval, col, s.RefreshLead, ref, s.Window, s.TokenLifetime,
		MaxSecretBytes, MaxVersionsPerDay, s.MinWriteInterval, AccountWriteTPS,
		PricePerSecretMonth, PricePer10kCalls, HoursPerMonth, plans[0].TokenBytes, s.CollectorReadsPerSecret)
	return err
}

// group formats n with thousands separators.
func group(n int) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
