package audit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/centralmsp/centralmsp/internal/sink"
)

// ErrNotFound is matched by Store.Get errors for a missing object.
var ErrNotFound = errors.New("audit: object not found")

// Store reads back the small state objects the Auditor wrote (baselines and
// finding states), from the same root as its sink.
type Store interface {
	// Get returns the object, at most max bytes of it (more is an error),
	// or an error matching ErrNotFound.
	Get(ctx context.Context, key string, max int64) ([]byte, error)
}

// readCapped reads at most max bytes of r, failing when there is more.
func readCapped(r io.Reader, key string, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("audit: reading %s: %w", key, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("audit: %s is larger than %d bytes", key, max)
	}
	return b, nil
}

// DirStore reads objects of a sink.Dir.
type DirStore struct{ Dir *sink.Dir }

// Get implements Store.
func (d DirStore) Get(ctx context.Context, key string, max int64) ([]byte, error) {
	f, err := os.Open(d.Dir.Path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	return readCapped(f, key, max)
}

// MemoryStore reads objects of a sink.Memory.
type MemoryStore struct{ Mem *sink.Memory }

// Get implements Store.
func (m MemoryStore) Get(ctx context.Context, key string, max int64) ([]byte, error) {
	b, ok := m.Mem.Object(key)
	if !ok {
		return nil, fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("audit: %s is larger than %d bytes", key, max)
	}
	return b, nil
}

// S3GetAPI is the part of the S3 client S3Store uses.
type S3GetAPI interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// S3Store reads objects under a bucket and prefix (the prefix rule of
// sink.NewS3: a missing trailing slash is added). A missing object must be
// answered 404, which needs s3:ListBucket on the prefix.
type S3Store struct {
	Client S3GetAPI
	Bucket string
	Prefix string
}

// Get implements Store.
func (s S3Store) Get(ctx context.Context, key string, max int64) ([]byte, error) {
	prefix := strings.TrimLeft(s.Prefix, "/")
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	loc := "s3://" + s.Bucket + "/" + prefix + key
	out, err := s.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(prefix + key)})
	if err != nil {
		var nsk *types.NoSuchKey
		var re *awshttp.ResponseError
		if errors.As(err, &nsk) || (errors.As(err, &re) && re.HTTPStatusCode() == 404) {
			return nil, fmt.Errorf("%s: %w", loc, ErrNotFound)
		}
		return nil, fmt.Errorf("audit: reading %s: %w", loc, err)
	}
	defer out.Body.Close()
	return readCapped(out.Body, loc, max)
}

// OpenStore returns the Store reading what snk (from sink.Open with the
// same target) writes: a directory, a memory sink, or S3.
func OpenStore(ctx context.Context, snk sink.Sink, forcePathStyle bool) (Store, error) {
	switch s := snk.(type) {
	case *sink.Dir:
		return DirStore{Dir: s}, nil
	case *sink.Memory:
		return MemoryStore{Mem: s}, nil
	case *sink.S3:
		cfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("audit: loading AWS configuration: %w", err)
		}
		if cfg.Region == "" {
			cfg.Region = "us-east-1"
		}
		client := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = forcePathStyle })
		return S3Store{Client: client, Bucket: s.Bucket(), Prefix: s.Prefix()}, nil
	}
	return nil, fmt.Errorf("audit: no reader for sink %s", snk)
}

// SinkStore reads objects back through the sink that wrote them (any
// sink.Sink: directory, memory or S3), failing for objects over max bytes.
type SinkStore struct{ Sink sink.Sink }

// Get implements Store.
func (s SinkStore) Get(ctx context.Context, key string, max int64) ([]byte, error) {
	b, err := s.Sink.Get(ctx, key)
	if errors.Is(err, sink.ErrNotFound) {
		return nil, fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("audit: %s is larger than %d bytes", key, max)
	}
	return b, nil
}
