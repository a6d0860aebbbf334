package credsecret

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/centralmsp/centralmsp/pkg/central"
)

type fakeSM struct {
	out *secretsmanager.GetSecretValueOutput
	err error
}

func (f fakeSM) GetSecretValue(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	return f.out, f.err
}

func TestFormat(t *testing.T) {
	for in, want := range map[string]central.Format{
		`{"unified":{}}`: central.FormatJSON, "  \n{": central.FormatJSON, "\xef\xbb\xbf{}": central.FormatJSON,
		"unified:\n  a: b": central.FormatYAML, "": central.FormatYAML,
	} {
		if got := Format([]byte(in)); got != want {
			t.Errorf("Format(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestRead(t *testing.T) {
	ctx := context.Background()
	const secret = "canary-secret-value-123"
	data, format, err := Read(ctx, fakeSM{out: &secretsmanager.GetSecretValueOutput{SecretString: aws.String(`{"unified":{"client_secret":"` + secret + `"}}`)}}, "creds", "ENV_NAME")
	if err != nil || format != central.FormatJSON || !strings.Contains(string(data), secret) {
		t.Fatalf("string secret: %q %s %v", data, format, err)
	}
	data, format, err = Read(ctx, fakeSM{out: &secretsmanager.GetSecretValueOutput{SecretBinary: []byte("unified:\n  client_id: x\n")}}, "creds", "ENV_NAME")
	if err != nil || format != central.FormatYAML || len(data) == 0 {
		t.Fatalf("binary secret: %q %s %v", data, format, err)
	}
	cases := map[string]fakeSM{
		"does not exist": {err: &types.ResourceNotFoundException{Message: aws.String("nope")}},
		"is empty":       {out: &secretsmanager.GetSecretValueOutput{SecretString: aws.String("  \n")}},
		"reading":        {err: errors.New("access denied")},
	}
	for want, api := range cases {
		_, _, err := Read(ctx, api, "creds-name", "ENV_NAME")
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "creds-name") || !strings.Contains(err.Error(), "ENV_NAME") {
			t.Errorf("%s: error %v must say what failed and name the secret and the variable", want, err)
		}
	}
}
