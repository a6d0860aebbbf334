package tokencache

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// SecretsManagerAPI is the part of *secretsmanager.Client the backend uses.
type SecretsManagerAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
	PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
	CreateSecret(ctx context.Context, in *secretsmanager.CreateSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.CreateSecretOutput, error)
	ListSecrets(ctx context.Context, in *secretsmanager.ListSecretsInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretsOutput, error)
}

var _ SecretsManagerAPI = (*secretsmanager.Client)(nil)

// SecretsManager is a Backend on AWS Secrets Manager. Build the client with
// config.LoadDefaultConfig so AWS_ENDPOINT_URL_SECRETS_MANAGER and the other
// standard settings apply.
type SecretsManager struct {
	api      SecretsManagerAPI
	kmsKeyID string
}

var _ Backend = (*SecretsManager)(nil)

// NewSecretsManager returns a backend on api. kmsKeyID (optional) is passed
// as KmsKeyId when a cache secret is created.
func NewSecretsManager(api SecretsManagerAPI, kmsKeyID string) *SecretsManager {
	return &SecretsManager{api: api, kmsKeyID: kmsKeyID}
}

// String implements Backend.
func (s *SecretsManager) String() string { return "secretsmanager" }

// List implements Backend with ListSecrets and a name filter. AWS's name
// filter is a case-insensitive prefix match, so results are filtered again
// exactly.
func (s *SecretsManager) List(ctx context.Context, prefix string) ([]string, error) {
	in := &secretsmanager.ListSecretsInput{
		Filters:    []types.Filter{{Key: types.FilterNameStringTypeName, Values: []string{prefix}}},
		MaxResults: aws.Int32(100),
	}
	var names []string
	p := secretsmanager.NewListSecretsPaginator(s.api, in)
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("tokencache: listing secrets under %q: %w", prefix, err)
		}
		for _, e := range out.SecretList {
			if n := aws.ToString(e.Name); strings.HasPrefix(n, prefix) {
				names = append(names, n)
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// Get implements Backend with GetSecretValue (AWSCURRENT).
func (s *SecretsManager) Get(ctx context.Context, name string) (*Object, error) {
	out, err := s.api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)})
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("tokencache: secret %q: %w", name, ErrNotFound)
		}
		return nil, fmt.Errorf("tokencache: reading secret %q: %w", name, err)
	}
	o := &Object{Name: name, VersionID: aws.ToString(out.VersionId), Written: aws.ToTime(out.CreatedDate)}
	switch {
	case out.SecretString != nil:
		o.Data = []byte(*out.SecretString)
	case out.SecretBinary != nil:
		o.Data = out.SecretBinary
	}
	return o, nil
}

// Latest implements Backend with DescribeSecret: the version holding
// AWSCURRENT and the secret's LastChangedDate (which changes on every new
// version). Local stand-ins may omit dates; callers treat a zero time as
// unknown and fall back to other evidence.
func (s *SecretsManager) Latest(ctx context.Context, name string) (*Latest, error) {
	out, err := s.api.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("tokencache: secret %q: %w", name, ErrNotFound)
		}
		return nil, fmt.Errorf("tokencache: describing secret %q: %w", name, err)
	}
	l := &Latest{Written: aws.ToTime(out.LastChangedDate)}
	for id, stages := range out.VersionIdsToStages {
		if slices.Contains(stages, "AWSCURRENT") {
			l.VersionID = id
		}
	}
	if out.DeletedDate != nil {
		return nil, fmt.Errorf("tokencache: secret %q is scheduled for deletion (since %s); restore or purge it", name, out.DeletedDate.UTC().Format(time.RFC3339))
	}
	return l, nil
}

// Put implements Backend with CreateSecret (opts.Create) or
// PutSecretValue, passing opts.Token as ClientRequestToken.
func (s *SecretsManager) Put(ctx context.Context, name string, data []byte, opts PutOptions) error {
	var tok *string
	if opts.Token != "" {
		tok = aws.String(opts.Token)
	}
	var err error
	if opts.Create {
		in := &secretsmanager.CreateSecretInput{
			Name:               aws.String(name),
			ClientRequestToken: tok,
			Description:        aws.String("centralmsp token cache (written by the token refresher; holds short-lived tenant tokens)"),
			SecretString:       aws.String(string(data)),
			Tags:               []types.Tag{{Key: aws.String("centralmsp:role"), Value: aws.String("token-cache")}},
		}
		if s.kmsKeyID != "" {
			in.KmsKeyId = aws.String(s.kmsKeyID)
		}
		_, err = s.api.CreateSecret(ctx, in)
	} else {
		_, err = s.api.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
			SecretId:           aws.String(name),
			ClientRequestToken: tok,
			SecretString:       aws.String(string(data)),
		})
	}
	if err != nil {
		var exists *types.ResourceExistsException
		if errors.As(err, &exists) {
			return fmt.Errorf("tokencache: writing secret %q: %w", name, ErrConflict)
		}
		return fmt.Errorf("tokencache: writing secret %q: %w", name, err)
	}
	return nil
}

func isNotFound(err error) bool {
	var nf *types.ResourceNotFoundException
	return errors.As(err, &nf)
}
