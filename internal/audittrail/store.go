package audittrail

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strconv"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// Store keeps small objects (the watermarks) with conditional writes.
type Store interface {
	// Get returns the object and its version token, or ErrNotExist.
	Get(ctx context.Context, key string) (body []byte, version string, err error)
	// Put writes the object only if its current version is match, or, when
	// match is "", only if it does not exist; otherwise it returns
	// ErrConflict and writes nothing. It returns the new version.
	Put(ctx context.Context, key string, body []byte, match string) (version string, err error)
}

var (
	// ErrNotExist: no object at the key.
	ErrNotExist = errors.New("audittrail: object does not exist")
	// ErrConflict: the object changed since it was read (or exists, for a
	// create); another run wrote it.
	ErrConflict = errors.New("audittrail: conditional write lost: the object was changed by another run")
)

// MemStore is an in-memory Store.
type MemStore struct {
	mu   sync.Mutex
	objs map[string]memObj
	seq  int
}

type memObj struct {
	body    []byte
	version string
}

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore { return &MemStore{objs: map[string]memObj{}} }

// Get implements Store.
func (m *MemStore) Get(_ context.Context, key string) ([]byte, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.objs[key]
	if !ok {
		return nil, "", ErrNotExist
	}
	return bytes.Clone(o.body), o.version, nil
}

// Put implements Store.
func (m *MemStore) Put(_ context.Context, key string, body []byte, match string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.objs[key]
	if match == "" && ok || match != "" && (!ok || o.version != match) {
		return "", ErrConflict
	}
	m.seq++
	v := "v" + strconv.Itoa(m.seq)
	m.objs[key] = memObj{body: bytes.Clone(body), version: v}
	return v, nil
}

// S3Store is a Store on an S3 bucket under a prefix. Conditional writes use
// PutObject's If-None-Match: * (create) and If-Match: <ETag> (replace); S3
// answers 412 PreconditionFailed, or 409 ConditionalRequestConflict for a
// concurrent write, when the condition fails. The ETag of a small object is
// the MD5 of its bytes: every watermark holds its run id and time, so two
// writes never share one.
type S3Store struct {
	Client *s3.Client
	Bucket string
	// Prefix is prepended to keys ("" or ending with "/").
	Prefix string
}

// Get implements Store.
func (s *S3Store) Get(ctx context.Context, key string) ([]byte, string, error) {
	out, err := s.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(s.Prefix + key)})
	if err != nil {
		var nk *types.NoSuchKey
		if errors.As(err, &nk) || apiCode(err) == "NoSuchKey" || apiCode(err) == "NotFound" {
			return nil, "", ErrNotExist
		}
		return nil, "", err
	}
	defer out.Body.Close()
	body, err := io.ReadAll(io.LimitReader(out.Body, MaxWatermarkBytes+1))
	if err != nil {
		return nil, "", err
	}
	return body, aws.ToString(out.ETag), nil
}

// Put implements Store.
func (s *S3Store) Put(ctx context.Context, key string, body []byte, match string) (string, error) {
	in := &s3.PutObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(s.Prefix + key),
		Body: bytes.NewReader(body), ContentType: aws.String("application/json")}
	if match == "" {
		in.IfNoneMatch = aws.String("*")
	} else {
		in.IfMatch = aws.String(match)
	}
	out, err := s.Client.PutObject(ctx, in)
	if err != nil {
		switch apiCode(err) {
		case "PreconditionFailed", "ConditionalRequestConflict":
			return "", ErrConflict
		}
		return "", err
	}
	return aws.ToString(out.ETag), nil
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}
