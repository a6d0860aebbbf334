package sink

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Open returns the sink for target: "s3://bucket[/prefix]" or a local
// directory (a plain path or "file://path").
//
// For S3 the AWS configuration comes from config.LoadDefaultConfig, so the
// standard environment applies (AWS_REGION, AWS_ENDPOINT_URL_S3, ...); the
// region defaults to us-east-1 when none is configured. forcePathStyle sets
// path-style addressing, needed by most S3-compatible stores.
func Open(ctx context.Context, target string, forcePathStyle bool, optFns ...func(*S3Options)) (Sink, error) {
	switch {
	case target == "":
		return nil, fmt.Errorf("sink: empty target (want s3://bucket/prefix or a directory)")
	case strings.HasPrefix(target, "s3://"):
		bucket, prefix, _ := strings.Cut(strings.TrimPrefix(target, "s3://"), "/")
		if bucket == "" {
			return nil, fmt.Errorf("sink: %q has no bucket", target)
		}
		cfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("sink: loading AWS configuration: %w", err)
		}
		if cfg.Region == "" {
			cfg.Region = "us-east-1"
		}
		client := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = forcePathStyle })
		return NewS3(client, bucket, prefix, optFns...), nil
	case strings.Contains(target, "://") && !strings.HasPrefix(target, "file://"):
		return nil, fmt.Errorf("sink: unsupported target %q (want s3://bucket/prefix or a directory)", target)
	default:
		return NewDir(strings.TrimPrefix(target, "file://")), nil
	}
}
