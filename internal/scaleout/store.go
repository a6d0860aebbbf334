package scaleout

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// ErrNotFound is matched by Store.Get errors for a missing key.
var ErrNotFound = errors.New("scaleout: object not found")

// Store reads and writes the small run objects (plan, continuations,
// manifests, the latest pointer). Keys are relative to the same root as the
// collector's sink.
type Store interface {
	// Get returns the object's bytes or an error matching ErrNotFound.
	Get(ctx context.Context, key string) ([]byte, error)
	// Put writes the object atomically.
	Put(ctx context.Context, key string, body []byte, contentType string) error
	// List returns the keys that start with prefix.
	List(ctx context.Context, prefix string) ([]string, error)
}

// S3API is the part of the S3 client S3Store uses.
type S3API interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
}

// S3Store is a Store in an S3 bucket under a key prefix (the prefix rule of
// sink.NewS3: a missing trailing slash is added).
type S3Store struct {
	client S3API
	bucket string
	prefix string
}

var _ Store = (*S3Store)(nil)

// NewS3Store returns a Store in bucket under prefix.
func NewS3Store(client S3API, bucket, prefix string) *S3Store {
	prefix = strings.TrimLeft(prefix, "/")
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return &S3Store{client: client, bucket: bucket, prefix: prefix}
}

// Get implements Store.
func (s *S3Store) Get(ctx context.Context, key string) ([]byte, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.prefix + key)})
	if err != nil {
		var nsk *types.NoSuchKey
		var re *awshttp.ResponseError
		if errors.As(err, &nsk) || (errors.As(err, &re) && re.HTTPStatusCode() == 404) {
			return nil, fmt.Errorf("s3://%s/%s%s: %w", s.bucket, s.prefix, key, ErrNotFound)
		}
		return nil, fmt.Errorf("scaleout: reading s3://%s/%s%s: %w", s.bucket, s.prefix, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, fmt.Errorf("scaleout: reading s3://%s/%s%s: %w", s.bucket, s.prefix, key, err)
	}
	return b, nil
}

// Put implements Store.
func (s *S3Store) Put(ctx context.Context, key string, body []byte, contentType string) error {
	in := &s3.PutObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.prefix + key), Body: bytes.NewReader(body)}
	if contentType != "" {
		in.ContentType = aws.String(contentType)
	}
	if _, err := s.client.PutObject(ctx, in); err != nil {
		return fmt.Errorf("scaleout: writing s3://%s/%s%s: %w", s.bucket, s.prefix, key, err)
	}
	return nil
}

// List implements Store with ListObjectsV2 (s3:ListBucket on the prefix).
// Existence is decided by listing, not by a GET of a missing key: without an
// unconditional s3:ListBucket, S3 answers such a GET with 403, not 404.
func (s *S3Store) List(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket), Prefix: aws.String(s.prefix + prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("scaleout: listing s3://%s/%s%s: %w", s.bucket, s.prefix, prefix, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, strings.TrimPrefix(aws.ToString(o.Key), s.prefix))
		}
	}
	return keys, nil
}

// MemoryStore is an in-memory Store for tests.
type MemoryStore struct {
	mu      sync.Mutex
	objects map[string][]byte
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{objects: map[string][]byte{}} }

// Get implements Store.
func (m *MemoryStore) Get(ctx context.Context, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.objects[key]
	if !ok {
		return nil, fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	return bytes.Clone(b), nil
}

// Put implements Store.
func (m *MemoryStore) Put(ctx context.Context, key string, body []byte, contentType string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.objects[key] = bytes.Clone(body)
	return nil
}

// List implements Store.
func (m *MemoryStore) List(ctx context.Context, prefix string) ([]string, error) {
	var out []string
	for _, k := range m.Keys() {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	return out, ctx.Err()
}

// Keys returns the stored keys, sorted.
func (m *MemoryStore) Keys() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Sorted(maps.Keys(m.objects))
}
