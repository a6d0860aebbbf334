package audittrail

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/centralmsp/centralmsp/internal/sink"
	"github.com/centralmsp/centralmsp/internal/testenv"
	"github.com/centralmsp/centralmsp/pkg/centralsim"
)

func motoS3(t *testing.T) *s3.Client {
	t.Helper()
	mt := testenv.StartMoto(t)
	client := s3.NewFromConfig(mt.AWSConfig(t), func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("trail")}); err != nil {
		t.Fatal(err)
	}
	return client
}

// s3Objects reads every object under prefix.
func s3Objects(t *testing.T, c *s3.Client, prefix string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String("trail"), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			r, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("trail"), Key: o.Key})
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(r.Body)
			r.Body.Close()
			out[strings.TrimPrefix(aws.ToString(o.Key), prefix)] = b
		}
	}
	return out
}

// TestS3SinkStoreConditionalWrites: moto_server honours If-None-Match and
// If-Match on PutObject, and the S3 sink maps the refusals to ErrConflict.
func TestS3SinkStoreConditionalWrites(t *testing.T) {
	st := SinkStore{Sink: sink.NewS3(motoS3(t), "trail", "msp/").(sink.Conditional)}
	ctx := context.Background()
	if _, _, err := st.Get(ctx, "w.json"); !errors.Is(err, ErrNotExist) {
		t.Fatalf("get missing: %v", err)
	}
	v1, err := st.Put(ctx, "w.json", []byte(`1`), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(ctx, "w.json", []byte(`2`), ""); !errors.Is(err, ErrConflict) {
		t.Fatalf("second create: %v", err)
	}
	v3, err := st.Put(ctx, "w.json", []byte(`3`), v1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(ctx, "w.json", []byte(`4`), v1); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale version: %v", err)
	}
	if b, v, err := st.Get(ctx, "w.json"); err != nil || string(b) != "3" || v != v3 {
		t.Fatalf("get: %q %q %v", b, v, err)
	}
}

// TestExactlyOnceOnMotoS3: S3 sink and S3 watermarks on moto_server. Run 1
// has a tenant failing on its third page and another crashing between
// writing its records and committing its watermark; events arrive; runs 2
// and 3 (two of them at once) follow. The objects hold exactly the
// simulator's events, each once.
func TestExactlyOnceOnMotoS3(t *testing.T) {
	client := motoS3(t)
	e := newEnv(t, 3)
	snk := sink.NewS3(client, "trail", "msp/")
	s3store := SinkStore{Sink: sink.NewS3(client, "trail", "msp/").(sink.Conditional)}
	victim := e.tenants[2].HexID
	e.setRT(func(r *http.Request, tenant string, next http.RoundTripper) (*http.Response, error) {
		if tenant == victim && r.URL.Query().Get("offset") == "6" {
			return failResponse(r), nil
		}
		return next.RoundTrip(r)
	})
	crashed := e.tenants[0].HexID
	store := &failStore{Store: s3store, left: 1, match: func(body []byte, _ string) bool {
		return isCommit(body, "") && strings.Contains(string(body), crashed)
	}}
	res := run(t, e.config("r1", snk, store))
	st := statuses(res)
	if st[victim] != StatusFailed || st[crashed] != StatusFailed || st[e.tenants[1].HexID] != StatusWritten {
		t.Fatalf("run 1: %v", st)
	}
	e.setRT(nil)
	e.clk.Advance(time.Hour)
	for _, tn := range e.tenants {
		e.sim.AppendAuditLogs(tn.HexID, centralsim.AuditLogEntry{}, centralsim.AuditLogEntry{})
	}
	res = run(t, e.config("r2", snk, store))
	for _, tr := range res.Tenants {
		if tr.Status != StatusWritten || tr.Replayed != (tr.TenantID == crashed) {
			t.Fatalf("run 2: %+v", tr)
		}
	}
	exact(t, e.truth(t, centralsim.DatasetAuditLogs), written(t, s3Objects(t, client, "msp/")))

	// Two runs at once over new events. moto_server checks a condition and
	// then writes, so two racing conditional writes can both pass there;
	// S3 decides them atomically, which atomicPuts stands in for.
	e.clk.Advance(time.Hour)
	e.sim.AppendAuditLogs(e.tenants[1].HexID, centralsim.AuditLogEntry{}, centralsim.AuditLogEntry{})
	atomic := &atomicPuts{Store: s3store}
	var wg sync.WaitGroup
	out := make([]*Result, 2)
	for i := range 2 {
		wg.Go(func() {
			cfg := e.config([]string{"r3a", "r3b"}[i], snk, atomic)
			cfg.Tenants = []string{e.tenants[1].HexID}
			out[i] = run(t, cfg)
		})
	}
	wg.Wait()
	var won int
	for _, r := range out {
		switch r.Tenants[0].Status {
		case StatusWritten:
			won++
		case StatusLostRace, StatusUpToDate:
		default:
			t.Fatalf("overlapping run: %+v", r.Tenants[0])
		}
	}
	if won != 1 {
		t.Fatalf("%d overlapping runs wrote", won)
	}
	exact(t, e.truth(t, centralsim.DatasetAuditLogs), written(t, s3Objects(t, client, "msp/")))
	up, err := client.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String("trail")})
	if err != nil || len(up.Uploads) != 0 {
		t.Fatalf("pending multipart uploads: %v %v", up, err)
	}
}

// atomicPuts makes a Store's conditional writes atomic, as S3's are.
type atomicPuts struct {
	Store
	mu sync.Mutex
}

func (a *atomicPuts) Put(ctx context.Context, key string, body []byte, match string) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.Store.Put(ctx, key, body, match)
}
