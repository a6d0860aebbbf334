package sink

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/centralmsp/centralmsp/internal/testenv"
)

// s3Env is one S3 stand-in: a client and whether it can list pending
// multipart uploads faithfully.
type s3Env struct {
	client       *s3.Client
	endpoint     string
	env          []string
	listsUploads bool
}

func newGofakes3(t *testing.T) s3Env {
	t.Helper()
	faker := gofakes3.New(s3mem.New(), gofakes3.WithLogger(gofakes3.DiscardLog()))
	srv := httptest.NewServer(faker.Server())
	t.Cleanup(srv.Close)
	client := s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider("k", "s", ""),
	})
	return s3Env{client: client, endpoint: srv.URL}
}

func newMoto(t *testing.T, m *testenv.Moto) s3Env {
	t.Helper()
	client := s3.NewFromConfig(m.AWSConfig(t), func(o *s3.Options) { o.UsePathStyle = true })
	return s3Env{client: client, endpoint: m.Endpoint, env: m.Env(), listsUploads: true}
}

func createBucket(t *testing.T, c *s3.Client, bucket string) {
	t.Helper()
	if _, err := c.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("CreateBucket: %v", err)
	}
}

func listKeys(t *testing.T, c *s3.Client, bucket string) []string {
	t.Helper()
	out, err := c.ListObjectsV2(t.Context(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatalf("ListObjectsV2: %v", err)
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	return keys
}

func pendingUploads(t *testing.T, c *s3.Client, bucket string) int {
	t.Helper()
	out, err := c.ListMultipartUploads(t.Context(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatalf("ListMultipartUploads: %v", err)
	}
	return len(out.Uploads)
}

func getObject(t *testing.T, c *s3.Client, bucket, key string) ([]byte, string) {
	t.Helper()
	out, err := c.GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("GetObject %s: %v", key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b, aws.ToString(out.ContentType)
}

// randomBytes returns n incompressible, reproducible bytes.
func randomBytes(n int) []byte {
	r := rand.NewChaCha8([32]byte{1, 2, 3})
	b := make([]byte, n)
	r.Read(b)
	return b
}

func writeChunks(t *testing.T, w io.Writer, data []byte, chunk int) {
	t.Helper()
	for c := range slices.Chunk(data, chunk) {
		if _, err := w.Write(c); err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
}

func TestS3Gofakes3(t *testing.T) { runS3Suite(t, newGofakes3(t)) }

// TestS3Moto runs the suite against moto_server, then (same server) opens
// the sink from the environment and reads its output with the aws CLI.
func TestS3Moto(t *testing.T) {
	m := testenv.StartMoto(t)
	runS3Suite(t, newMoto(t, m))
	t.Run("open-and-cli", func(t *testing.T) { testOpenAndCLI(t, m) })
}

func runS3Suite(t *testing.T, e s3Env) {
	const bucket = "inventory"
	createBucket(t, e.client, bucket)

	t.Run("small", func(t *testing.T) {
		ctx := t.Context()
		s := NewS3(e.client, bucket, "msp")
		data := []byte(strings.Repeat(`{"serialNumber":"SN1"}`+"\n", 500))
		obj, err := s.Create(ctx, "small/a.ndjson", "application/x-ndjson")
		if err != nil {
			t.Fatal(err)
		}
		writeChunks(t, obj, data, 1000)
		if keys := listKeys(t, e.client, bucket); slices.Contains(keys, "msp/small/a.ndjson") {
			t.Fatal("object visible before Commit")
		}
		info, err := obj.Commit(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := Info{Key: "small/a.ndjson", Location: "s3://inventory/msp/small/a.ndjson", Bytes: int64(len(data)), SHA256: sum(data)}
		if info != want {
			t.Fatalf("info = %+v, want %+v", info, want)
		}
		got, ct := getObject(t, e.client, bucket, "msp/small/a.ndjson")
		if !bytes.Equal(got, data) || ct != "application/x-ndjson" {
			t.Fatalf("read back %d bytes, content type %q", len(got), ct)
		}
		if err := obj.Abort(ctx); err != nil {
			t.Fatalf("Abort after Commit: %v", err)
		}
		if _, err := obj.Write([]byte("x")); !errors.Is(err, ErrClosed) {
			t.Fatalf("Write after Commit = %v", err)
		}
	})

	t.Run("empty", func(t *testing.T) {
		ctx := t.Context()
		obj, err := NewS3(e.client, bucket, "").Create(ctx, "empty/x", "")
		if err != nil {
			t.Fatal(err)
		}
		info, err := obj.Commit(ctx)
		if err != nil || info.Bytes != 0 {
			t.Fatalf("%+v %v", info, err)
		}
		if got, _ := getObject(t, e.client, bucket, "empty/x"); len(got) != 0 {
			t.Fatalf("got %d bytes", len(got))
		}
	})

	t.Run("large-multipart", func(t *testing.T) {
		ctx := t.Context()
		// Default options: 16 MiB threshold, 8 MiB parts.
		s := NewS3(e.client, bucket, "big")
		data := randomBytes(17 << 20) // > 16 MiB threshold: parts of 8, 8 and 1 MiB
		obj, err := s.Create(ctx, "blob.bin", "application/octet-stream")
		if err != nil {
			t.Fatal(err)
		}
		writeChunks(t, obj, data, 256<<10)
		info, err := obj.Commit(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.Bytes != int64(len(data)) || info.SHA256 != sum(data) {
			t.Fatalf("info = %+v", info)
		}
		head, err := e.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("big/blob.bin")})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToInt64(head.ContentLength) != int64(len(data)) {
			t.Fatalf("ContentLength = %d", aws.ToInt64(head.ContentLength))
		}
		if e.listsUploads && !strings.HasSuffix(strings.Trim(aws.ToString(head.ETag), `"`), "-3") {
			t.Errorf("ETag %s: want a 3-part multipart ETag", aws.ToString(head.ETag))
		}
		got, _ := getObject(t, e.client, bucket, "big/blob.bin")
		if !bytes.Equal(got, data) {
			t.Fatal("large object differs")
		}
	})

	t.Run("abort-small", func(t *testing.T) {
		ctx := t.Context()
		obj, err := NewS3(e.client, bucket, "abort1").Create(ctx, "x.gz", "")
		if err != nil {
			t.Fatal(err)
		}
		writeChunks(t, obj, randomBytes(100<<10), 4096)
		if err := obj.Abort(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := obj.Commit(ctx); !errors.Is(err, ErrClosed) {
			t.Fatalf("Commit after Abort = %v", err)
		}
		for _, k := range listKeys(t, e.client, bucket) {
			if strings.HasPrefix(k, "abort1/") {
				t.Fatalf("aborted object listed: %s", k)
			}
		}
	})

	t.Run("abort-multipart", func(t *testing.T) {
		ctx := t.Context()
		s := NewS3(e.client, bucket, "abort2", func(o *S3Options) {
			o.PartSize = 5 << 20
			o.Threshold = 5 << 20
		})
		obj, err := s.Create(ctx, "x.bin", "")
		if err != nil {
			t.Fatal(err)
		}
		// Past the threshold plus one byte of the next part: Write returns
		// only once the uploader read it, which it does only after
		// CreateMultipartUpload succeeded, so the upload is now pending.
		writeChunks(t, obj, randomBytes(6<<20+1), 1<<20)
		if e.listsUploads {
			if n := pendingUploads(t, e.client, bucket); n != 1 {
				t.Fatalf("pending uploads before Abort = %d, want 1", n)
			}
		}
		if err := obj.Abort(ctx); err != nil {
			t.Fatal(err)
		}
		if e.listsUploads {
			if n := pendingUploads(t, e.client, bucket); n != 0 {
				t.Fatalf("pending uploads after Abort = %d, want 0", n)
			}
		}
		for _, k := range listKeys(t, e.client, bucket) {
			if strings.HasPrefix(k, "abort2/") {
				t.Fatalf("aborted object listed: %s", k)
			}
		}
	})

	t.Run("abort-unblocks-writer", func(t *testing.T) {
		ctx := t.Context()
		obj, err := NewS3(e.client, bucket, "abort3").Create(ctx, "x", "")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			// Larger than the threshold: blocks in the pipe until read.
			_, err := obj.Write(make([]byte, 40<<20))
			done <- err
		}()
		if err := obj.Abort(ctx); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err == nil {
			t.Fatal("Write succeeded after Abort")
		}
	})

	t.Run("cancelled-ctx", func(t *testing.T) {
		cctx, cancel := context.WithCancel(t.Context())
		obj, err := NewS3(e.client, bucket, "cancel").Create(cctx, "x", "")
		if err != nil {
			t.Fatal(err)
		}
		obj.Write([]byte("data"))
		cancel()
		if _, err := obj.Commit(cctx); err == nil {
			t.Fatal("Commit succeeded with a cancelled context")
		}
		for _, k := range listKeys(t, e.client, bucket) {
			if strings.HasPrefix(k, "cancel/") {
				t.Fatalf("object listed: %s", k)
			}
		}
	})

	t.Run("missing-bucket", func(t *testing.T) {
		ctx := t.Context()
		obj, err := NewS3(e.client, "no-such-bucket", "").Create(ctx, "x", "")
		if err != nil {
			t.Fatal(err)
		}
		obj.Write([]byte("data"))
		if _, err := obj.Commit(ctx); err == nil {
			t.Fatal("Commit to a missing bucket succeeded")
		}
		if err := NewS3(e.client, "no-such-bucket", "").Put(ctx, "k", []byte("x"), ""); err == nil {
			t.Fatal("Put to a missing bucket succeeded")
		}
	})

	t.Run("put", func(t *testing.T) {
		ctx := t.Context()
		if err := NewS3(e.client, bucket, "p/").Put(ctx, "runs/r1/manifest.json", []byte(`{"ok":true}`), "application/json"); err != nil {
			t.Fatal(err)
		}
		got, ct := getObject(t, e.client, bucket, "p/runs/r1/manifest.json")
		if string(got) != `{"ok":true}` || ct != "application/json" {
			t.Fatalf("%q %q", got, ct)
		}
	})
}

// testOpenAndCLI opens the sink the way the Lambda and the CLI do
// (environment-driven configuration), writes objects, and reads them back
// with the aws CLI.
func testOpenAndCLI(t *testing.T, m *testenv.Moto) {
	awsBin := testenv.RequireTool(t, "aws")
	dir := t.TempDir()
	m.SetEnv(t)
	t.Setenv("AWS_CONFIG_FILE", dir+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", dir+"/none")
	ctx := t.Context()
	client := s3.NewFromConfig(m.AWSConfig(t), func(o *s3.Options) { o.UsePathStyle = true })
	createBucket(t, client, "out")

	s, err := Open(ctx, "s3://out/prod", true)
	if err != nil {
		t.Fatal(err)
	}
	key := "inventory/dataset=aps/dt=2026-11-23/run=r1/tenant=abc.ndjson.gz"
	data := randomBytes(300 << 10)
	obj, err := s.Create(ctx, key, "application/gzip")
	if err != nil {
		t.Fatal(err)
	}
	writeChunks(t, obj, data, 32<<10)
	if _, err := obj.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	run := func(args ...string) []byte {
		t.Helper()
		cmd := exec.CommandContext(ctx, awsBin, append([]string{"--endpoint-url", m.Endpoint}, args...)...)
		cmd.Env = append(os.Environ(), m.Env()...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("aws %v: %v\n%s", args, err, stderr.String())
		}
		return out
	}
	ls := string(run("s3", "ls", "--recursive", "s3://out/prod/"))
	if !strings.Contains(ls, "prod/"+key) || !strings.Contains(ls, "307200") {
		t.Fatalf("aws s3 ls:\n%s", ls)
	}
	got := run("s3", "cp", "s3://out/prod/"+key, "-")
	if !bytes.Equal(got, data) {
		t.Fatalf("aws s3 cp returned %d bytes, want %d identical", len(got), len(data))
	}
}
