package sink

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// S3Options tune the S3 sink's streaming upload.
//
// An object smaller than Threshold is buffered (only as large as it is) and
// sent with a single PutObject on Commit. A larger one becomes a multipart
// upload; its memory is bounded by Threshold + (Concurrency+1) x PartSize.
type S3Options struct {
	// PartSize is the multipart part size (default 8 MiB, minimum 5 MiB).
	PartSize int64
	// Threshold is the size from which multipart is used (default 16 MiB).
	Threshold int64
	// Concurrency is the number of parts uploaded in parallel per object
	// (default 2).
	Concurrency int
	// FailTimeout bounds the AbortMultipartUpload that follows a failure,
	// run on a fresh context so it succeeds even when ctx was cancelled
	// (default 30 s).
	FailTimeout time.Duration
}

const (
	minPartSize        = 5 << 20
	defaultPartSize    = 8 << 20
	defaultThreshold   = 16 << 20
	defaultConcurrency = 2
	defaultFailTimeout = 30 * time.Second
)

// S3 is a Sink that streams objects to an S3 bucket under a key prefix
// through the SDK's transfer manager.
type S3 struct {
	client *s3.Client
	tm     *transfermanager.Client
	bucket string
	prefix string
	opts   S3Options
}

var _ Sink = (*S3)(nil)

// NewS3 returns a sink writing to bucket under prefix ("" or e.g. "msp/";
// a missing trailing slash is added).
func NewS3(client *s3.Client, bucket, prefix string, optFns ...func(*S3Options)) Sink {
	return newS3(client, bucket, prefix, optFns...)
}

func newS3(client *s3.Client, bucket, prefix string, optFns ...func(*S3Options)) *S3 {
	var o S3Options
	for _, fn := range optFns {
		fn(&o)
	}
	if o.PartSize == 0 {
		o.PartSize = defaultPartSize
	}
	if o.PartSize < minPartSize {
		o.PartSize = minPartSize
	}
	if o.Threshold <= 0 {
		o.Threshold = defaultThreshold
	}
	if o.Concurrency <= 0 {
		o.Concurrency = defaultConcurrency
	}
	if o.FailTimeout <= 0 {
		o.FailTimeout = defaultFailTimeout
	}
	prefix = strings.TrimLeft(prefix, "/")
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	tm := transfermanager.New(client, func(t *transfermanager.Options) {
		t.PartSizeBytes = o.PartSize
		t.MultipartUploadThreshold = o.Threshold
		t.Concurrency = o.Concurrency
		t.FailTimeout = o.FailTimeout
	})
	return &S3{client: client, tm: tm, bucket: bucket, prefix: prefix, opts: o}
}

// Bucket returns the bucket name.
func (s *S3) Bucket() string { return s.bucket }

// Prefix returns the key prefix ("" or ending in "/").
func (s *S3) Prefix() string { return s.prefix }

// String returns "s3://bucket/prefix".
func (s *S3) String() string { return "s3://" + s.bucket + "/" + s.prefix }

// Create starts a streamed upload of key. The upload runs under ctx.
func (s *S3) Create(ctx context.Context, key, contentType string) (Object, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	full := s.prefix + key
	pr, pw := io.Pipe()
	uctx, cancel := context.WithCancel(ctx)
	o := &s3Object{
		key: key, location: "s3://" + s.bucket + "/" + full,
		pw: pw, h: sha256.New(), cancel: cancel, done: make(chan struct{}),
	}
	in := &transfermanager.UploadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(full), Body: pr}
	if contentType != "" {
		in.ContentType = aws.String(contentType)
	}
	go func() {
		defer close(o.done)
		_, err := s.tm.UploadObject(uctx, in)
		if err == nil && o.aborted() {
			// Cannot happen (the body ends only on Commit), but never let
			// an aborted object pass as stored.
			err = ErrAborted
		}
		o.uerr = err
		// Unblock a writer if the upload stopped reading early.
		if err != nil {
			pr.CloseWithError(fmt.Errorf("sink: upload of %s stopped: %w", key, err))
		} else {
			pr.Close()
		}
	}()
	return o, nil
}

// Put writes body to key with one PutObject (seekable body).
func (s *S3) Put(ctx context.Context, key string, body []byte, contentType string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	in := &s3.PutObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.prefix + key), Body: bytes.NewReader(body)}
	if contentType != "" {
		in.ContentType = aws.String(contentType)
	}
	if _, err := s.client.PutObject(ctx, in); err != nil {
		return fmt.Errorf("sink: putting s3://%s/%s%s: %w", s.bucket, s.prefix, key, err)
	}
	return nil
}

// Get returns the object's bytes, or an error matching ErrNotFound.
func (s *S3) Get(ctx context.Context, key string) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.prefix + key)})
	if err != nil {
		var nsk *types.NoSuchKey
		var re *awshttp.ResponseError
		if errors.As(err, &nsk) || (errors.As(err, &re) && re.HTTPStatusCode() == 404) {
			return nil, fmt.Errorf("s3://%s/%s%s: %w", s.bucket, s.prefix, key, ErrNotFound)
		}
		return nil, fmt.Errorf("sink: reading s3://%s/%s%s: %w", s.bucket, s.prefix, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, fmt.Errorf("sink: reading s3://%s/%s%s: %w", s.bucket, s.prefix, key, err)
	}
	return b, nil
}

// List returns the keys under prefix with ListObjectsV2 (s3:ListBucket on
// the prefix), relative to the sink's prefix.
func (s *S3) List(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket), Prefix: aws.String(s.prefix + prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("sink: listing s3://%s/%s%s: %w", s.bucket, s.prefix, prefix, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, strings.TrimPrefix(aws.ToString(o.Key), s.prefix))
		}
	}
	return keys, nil
}

type s3Object struct {
	key, location string
	pw            *io.PipeWriter
	cancel        context.CancelFunc
	done          chan struct{}
	uerr          error // set before done is closed

	mu    sync.Mutex
	state int // 0 open, 1 committing/committed, 2 aborted
	h     hash.Hash
	n     int64
}

const (
	stateOpen = iota
	stateCommitted
	stateAborted
)

func (o *s3Object) aborted() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.state == stateAborted
}

func (o *s3Object) Write(p []byte) (int, error) {
	o.mu.Lock()
	if o.state != stateOpen {
		o.mu.Unlock()
		return 0, ErrClosed
	}
	o.mu.Unlock()
	// The pipe blocks until the uploader has taken the bytes; Abort (from
	// another goroutine) unblocks it with an error.
	n, err := o.pw.Write(p)
	o.mu.Lock()
	o.h.Write(p[:n])
	o.n += int64(n)
	o.mu.Unlock()
	if err != nil {
		return n, fmt.Errorf("sink: writing %s: %w", o.key, err)
	}
	return n, nil
}

func (o *s3Object) Commit(ctx context.Context) (Info, error) {
	o.mu.Lock()
	if o.state != stateOpen {
		o.mu.Unlock()
		return Info{}, ErrClosed
	}
	o.state = stateCommitted
	o.mu.Unlock()

	_ = o.pw.Close() // end of body: the uploader sends or completes
	select {
	case <-o.done:
	case <-ctx.Done():
		o.cancel() // the uploader aborts the multipart upload on a fresh context
		<-o.done
		if o.uerr == nil {
			// Completed just before the cancellation took effect.
			break
		}
		return Info{}, fmt.Errorf("sink: committing %s: %w", o.key, ctx.Err())
	}
	o.cancel()
	if o.uerr != nil {
		return Info{}, fmt.Errorf("sink: uploading %s: %w", o.key, o.uerr)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return Info{Key: o.key, Location: o.location, Bytes: o.n, SHA256: hex.EncodeToString(o.h.Sum(nil))}, nil
}

func (o *s3Object) Abort(ctx context.Context) error {
	o.mu.Lock()
	if o.state != stateOpen {
		o.mu.Unlock()
		return nil
	}
	o.state = stateAborted
	o.mu.Unlock()

	// The body read fails: a small object is never sent, a multipart upload
	// is aborted by the transfer manager (AbortMultipartUpload).
	_ = o.pw.CloseWithError(ErrAborted)
	select {
	case <-o.done:
	case <-ctx.Done():
		o.cancel()
		<-o.done
	}
	o.cancel()
	if o.uerr == nil {
		return fmt.Errorf("sink: abort of %s: %w", o.key, errors.New("upload completed"))
	}
	var mpe transfermanager.MultipartUploadError
	if errors.As(o.uerr, &mpe) && strings.Contains(o.uerr.Error(), "failed to abort multipart upload") {
		return fmt.Errorf("sink: aborting multipart upload %s of %s: %w", mpe.UploadID(), o.key, o.uerr)
	}
	return nil
}

// GetVersion returns the object's bytes and ETag, or an error matching
// ErrNotFound.
func (s *S3) GetVersion(ctx context.Context, key string) ([]byte, string, error) {
	if err := checkKey(key); err != nil {
		return nil, "", err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.prefix + key)})
	if err != nil {
		if isS3NotFound(err) {
			return nil, "", fmt.Errorf("s3://%s/%s%s: %w", s.bucket, s.prefix, key, ErrNotFound)
		}
		return nil, "", fmt.Errorf("sink: reading s3://%s/%s%s: %w", s.bucket, s.prefix, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, "", fmt.Errorf("sink: reading s3://%s/%s%s: %w", s.bucket, s.prefix, key, err)
	}
	return b, aws.ToString(out.ETag), nil
}

// PutIf writes data to key with one conditional PutObject: If-None-Match: *
// for IfAbsent, If-Match: <ETag> for IfMatch. S3 answers 412
// PreconditionFailed, or 409 ConditionalRequestConflict for a concurrent
// write, when the condition fails; both match ErrPreconditionFailed. The
// ETag of a small object is the MD5 of its bytes, so callers that need
// every write to change the version write distinct bytes each time.
func (s *S3) PutIf(ctx context.Context, key string, data []byte, cond Cond) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	in := &s3.PutObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.prefix + key), Body: bytes.NewReader(data)}
	if cond.Match == "" {
		in.IfNoneMatch = aws.String("*")
	} else {
		in.IfMatch = aws.String(cond.Match)
	}
	out, err := s.client.PutObject(ctx, in)
	if err != nil {
		var ae smithy.APIError
		code := ""
		if errors.As(err, &ae) {
			code = ae.ErrorCode()
		}
		if code == "PreconditionFailed" || code == "ConditionalRequestConflict" || cond.Match != "" && isS3NotFound(err) {
			return "", fmt.Errorf("s3://%s/%s%s: %w", s.bucket, s.prefix, key, ErrPreconditionFailed)
		}
		return "", fmt.Errorf("sink: putting s3://%s/%s%s: %w", s.bucket, s.prefix, key, err)
	}
	return aws.ToString(out.ETag), nil
}

func isS3NotFound(err error) bool {
	var nsk *types.NoSuchKey
	var re *awshttp.ResponseError
	var ae smithy.APIError
	return errors.As(err, &nsk) || (errors.As(err, &re) && re.HTTPStatusCode() == 404) ||
		errors.As(err, &ae) && (ae.ErrorCode() == "NoSuchKey" || ae.ErrorCode() == "NotFound")
}
