package tokenrefresh

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"gopkg.in/yaml.v3"

	"github.com/centralmsp/centralmsp/internal/testenv"
	"github.com/centralmsp/centralmsp/internal/tokencache"
	"github.com/centralmsp/centralmsp/pkg/centralsim"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

const cachePrefix = "centralmsp/tokens"

// stack is moto (Secrets Manager) plus the GLP simulator, with the process
// environment pointing the AWS SDK's default configuration at moto.
type stack struct {
	sim *centralsim.Server
	sm  *secretsmanager.Client
}

func newStack(t *testing.T, tenants int) *stack {
	t.Helper()
	m := testenv.StartMoto(t)
	m.SetEnv(t)
	sim := centralsim.NewServer(func(o *centralsim.Options) { o.Tenants = tenants; o.Seed = 5 })
	t.Cleanup(sim.Close)
	return &stack{sim: sim, sm: secretsmanager.NewFromConfig(m.AWSConfig(t))}
}

func (s *stack) putCredentials(t *testing.T, name, text string) {
	t.Helper()
	if _, err := s.sm.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(text)}); err != nil {
		t.Fatal(err)
	}
}

// secretNames lists every secret in moto.
func (s *stack) secretNames(t *testing.T) []string {
	t.Helper()
	out, err := s.sm.ListSecrets(context.Background(), &secretsmanager.ListSecretsInput{MaxResults: aws.Int32(100)})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range out.SecretList {
		names = append(names, aws.ToString(e.Name))
	}
	return names
}

// invoke builds the handler from the environment, as the Lambda main does,
// and invokes it with an event fixture through aws-lambda-go's own decode
// and encode path.
func invoke(t *testing.T, fixture string, mod func(*Handler)) (*Summary, *strings.Builder, error) {
	t.Helper()
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "req-1"})
	h, err := NewFromEnv(ctx, os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	h.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	h.MSPOptions = []func(*msp.Options){func(o *msp.Options) { o.Logger = h.Logger }}
	if mod != nil {
		mod(h)
	}
	// The shared samples in events/ are what `sam local invoke -e` feeds.
	ev, err := os.ReadFile(filepath.Join("..", "..", "..", "events", fixture))
	if err != nil {
		t.Fatal(err)
	}
	out, err := lambda.NewHandler(h.Handle).Invoke(ctx, ev)
	if err != nil {
		return nil, &logs, err
	}
	var sum Summary
	if err := json.Unmarshal(out, &sum); err != nil {
		t.Fatalf("decoding %s: %v", out, err)
	}
	return &sum, &logs, nil
}

func setConfigEnv(t *testing.T, secret string) {
	t.Setenv(EnvCredentialsSecret, secret)
	t.Setenv(EnvTokenCachePrefix, cachePrefix)
	t.Setenv(EnvKMSKeyID, "alias/centralmsp-cache")
	t.Setenv(EnvRefreshConcurrency, "4")
}

func TestHandlerEndToEnd(t *testing.T) {
	s := newStack(t, 45)
	setConfigEnv(t, "centralmsp/credentials")
	s.putCredentials(t, "centralmsp/credentials", string(s.sim.CredentialsYAML()))
	fail := s.sim.Tenants()[7].HexID
	s.sim.SetFaults(centralsim.Faults{Rules: []centralsim.FaultRule{{Endpoint: centralsim.EndpointToken, Tenant: fail, ServerErrorRate: 1, ServerErrorStatus: 403}}})

	var metrics strings.Builder
	sum, logs, err := invoke(t, "tokenrefresh-scheduled.json", func(h *Handler) { h.Stdout = &metrics })
	if err != nil {
		t.Fatalf("%v\n%s", err, logs)
	}
	// The failed tenant is published for template.yaml's alarm on
	// CentralMSP/TenantsFailed with Function=tokenrefresh.
	var emfDoc struct {
		Function      string
		TenantsFailed int
		Tenants       int
	}
	if err := json.Unmarshal([]byte(metrics.String()), &emfDoc); err != nil || emfDoc.Function != "tokenrefresh" || emfDoc.TenantsFailed != 1 || emfDoc.Tenants != 45 {
		t.Errorf("EMF line %q: %+v %v", metrics.String(), emfDoc, err)
	}
	if sum.RequestID != "req-1" || sum.Tenants != 45 || sum.Exchanged != 44 || len(sum.Failures) != 1 || sum.Failures[0].TenantID != fail || sum.Failures[0].Class != "forbidden" {
		t.Fatalf("summary %+v", sum)
	}
	if len(sum.Written) != sum.TenantSecrets+1 || sum.TenantSecrets < 2 {
		t.Errorf("written %v", sum.Written)
	}
	// The collector's reader finds every tenant but the failed one, with
	// tokens the simulator accepts.
	rd, err := tokencache.NewReader(tokencache.ReaderOptions{Prefix: cachePrefix, Backend: tokencache.NewSecretsManager(s.sm, "")})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tn := range s.sim.Tenants() {
		tok, err := rd.TenantToken(ctx, tn.HexID, time.Minute)
		if tn.HexID == fail {
			if !errors.Is(err, tokencache.ErrMiss) {
				t.Errorf("failed tenant: %v", err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("tenant %s: %v", tn.Name, err)
		}
		if strings.Contains(logs.String(), tok.AccessToken) {
			t.Fatal("a tenant token is in the logs")
		}
	}
	if st := rd.Stats(); st.Hits != 44 || st.Misses != 1 {
		t.Errorf("reader stats %+v", st)
	}
	if st := s.sim.Stats(); st.Exchanges != 44 { // successful ones
		t.Errorf("simulator saw %d exchanges", st.Exchanges)
	}
	desc, err := s.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(tokencache.CacheSecretName(cachePrefix, 0))})
	if err != nil || aws.ToString(desc.KmsKeyId) != "alias/centralmsp-cache" {
		t.Errorf("kms key %q %v", aws.ToString(desc.KmsKeyId), err)
	}
	if strings.Contains(logs.String(), s.sim.MSP().ClientSecret) {
		t.Error("the client secret is in the logs")
	}

	// A second invocation in the same window writes nothing.
	sum2, _, err := invoke(t, "scheduler.json", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(sum2.Written) != 0 || sum2.Exchanged != 0 {
		t.Errorf("second run: %+v", sum2)
	}
}

func TestHandlerJSONCredentials(t *testing.T) {
	s := newStack(t, 3)
	setConfigEnv(t, "creds-json")
	var doc map[string]any
	if err := yaml.Unmarshal(s.sim.CredentialsYAML(), &doc); err != nil {
		t.Fatal(err)
	}
	js, _ := json.MarshalIndent(doc, "", "  ")
	s.putCredentials(t, "creds-json", "\n"+string(js))
	sum, logs, err := invoke(t, "scheduler.json", nil)
	if err != nil || sum.Exchanged != 3 {
		t.Fatalf("%+v %v\n%s", sum, err, logs)
	}
}

func TestHandlerBadInputWritesNothing(t *testing.T) {
	s := newStack(t, 3)
	secret := s.sim.MSP().ClientSecret
	cases := map[string]struct {
		secret string // "" = no secret created
		want   []string
	}{
		"missing secret": {"", []string{"centralmsp/nope", EnvCredentialsSecret, "does not exist"}},
		"glp only": {"glp:\n  client_id: a\n  client_secret: " + secret + "\n  base_url: " + s.sim.URL + "\n",
			[]string{"unified"}},
		"malformed yaml": {"unified: [\n  client_secret: " + secret, []string{"invalid YAML"}},
		"malformed json": {`{"unified": {"client_id": "a", "client_secret": "` + secret + `"`, []string{"invalid JSON"}},
		"missing field":  {"unified:\n  client_id: a\n  client_secret: " + secret + "\n", []string{"workspace_id"}},
		"empty":          {"   ", []string{"empty"}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			secretName := "centralmsp/nope"
			if c.secret != "" {
				secretName = "creds-" + strings.ReplaceAll(name, " ", "-")
				s.putCredentials(t, secretName, c.secret)
			}
			setConfigEnv(t, secretName)
			before := len(s.secretNames(t))
			_, logs, err := invoke(t, "tokenrefresh-scheduled.json", nil)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(logs.String(), secret) {
				t.Error("the client secret leaked")
			}
			for _, n := range s.secretNames(t) {
				if strings.HasPrefix(n, cachePrefix) {
					t.Errorf("cache secret %s was written", n)
				}
			}
			if after := len(s.secretNames(t)); after != before {
				t.Errorf("secrets %d -> %d", before, after)
			}
			if st := s.sim.Stats(); st.Exchanges != 0 {
				t.Errorf("%d exchanges", st.Exchanges)
			}
		})
	}
}

func TestHandlerMSPTokenFailure(t *testing.T) {
	s := newStack(t, 3)
	setConfigEnv(t, "creds")
	creds := strings.Replace(string(s.sim.CredentialsYAML()), s.sim.MSP().ClientSecret, "wrong-secret", 1)
	s.putCredentials(t, "creds", creds)
	_, _, err := invoke(t, "tokenrefresh-scheduled.json", nil)
	if err == nil || !strings.Contains(err.Error(), "MSP token") {
		t.Fatalf("err = %v", err)
	}
	for _, n := range s.secretNames(t) {
		if strings.HasPrefix(n, cachePrefix) {
			t.Errorf("cache secret %s was written", n)
		}
	}
}
