// Package credsecret reads the MSP's unified credentials, which both Lambda
// functions keep in one Secrets Manager secret as JSON or YAML text, and
// opens the MSP client from them (OpenMSP).
package credsecret

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/centralmsp/centralmsp/pkg/central"
)

// GetSecretValueAPI is the one Secrets Manager call this package makes.
type GetSecretValueAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// Read returns the text of the secret name (SecretString, else SecretBinary)
// and its format: JSON when it starts with '{', YAML otherwise. envVar is the
// environment variable that named the secret, quoted in errors so an operator
// knows what to fix. Errors never contain the secret's value.
func Read(ctx context.Context, api GetSecretValueAPI, name, envVar string) ([]byte, central.Format, error) {
	out, err := api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)})
	if err != nil {
		var nf *types.ResourceNotFoundException
		if errors.As(err, &nf) {
			return nil, "", fmt.Errorf("the credentials secret %q (%s) does not exist or has no current value", name, envVar)
		}
		return nil, "", fmt.Errorf("reading the credentials secret %q (%s): %w", name, envVar, err)
	}
	var data []byte
	switch {
	case out.SecretString != nil && len(bytes.TrimSpace([]byte(*out.SecretString))) > 0:
		data = []byte(*out.SecretString)
	case out.SecretBinary != nil && len(bytes.TrimSpace(out.SecretBinary)) > 0:
		data = out.SecretBinary
	default:
		return nil, "", fmt.Errorf("the credentials secret %q (%s) is empty; store the unified credentials as JSON or YAML text", name, envVar)
	}
	return data, Format(data), nil
}

// Format tells JSON from YAML by the first non-space character, ignoring a
// UTF-8 byte-order mark.
func Format(data []byte) central.Format {
	data = bytes.TrimPrefix(bytes.TrimSpace(data), []byte("\xef\xbb\xbf"))
	if len(data) > 0 && data[0] == '{' {
		return central.FormatJSON
	}
	return central.FormatYAML
}
