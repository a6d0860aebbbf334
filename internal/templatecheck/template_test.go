package templatecheck

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The two functions and what the handlers and the Makefile rely on.
// TestHandlersReadTemplateEnv checks the names against the handlers' source.
var functions = map[string]struct {
	codeURI    string
	handlerDir string   // the package that reads the environment
	envVars    []string // must be set
	allowed    []string // may be set (optional settings the handler reads)
}{
	"CollectorFunction": {
		codeURI:    "functions/collector",
		handlerDir: "internal/lambdafn/collectorfn",
		envVars: []string{"CENTRALMSP_BUCKET", "CENTRALMSP_PREFIX", "CENTRALMSP_CREDENTIALS_SECRET",
			"CENTRALMSP_TOKEN_CACHE_PREFIX", "CENTRALMSP_CONCURRENCY", "CENTRALMSP_DATASETS",
			"CENTRALMSP_SHARD_QUEUE_URL", "CENTRALMSP_SHARD_CONCURRENCY", "CENTRALMSP_EVENT_BUS"},
		allowed: []string{"CENTRALMSP_S3_FORCE_PATH_STYLE", "CENTRALMSP_SHARD_SIZE", "CENTRALMSP_SHARD_FRACTION",
			"CENTRALMSP_RUN_WINDOW", "CENTRALMSP_CENTRAL_SCOPE", "CENTRALMSP_GLP_SCOPE", "CENTRALMSP_CENTRAL_RATE",
			"CENTRALMSP_GLP_DEVICES_RATE", "CENTRALMSP_GLP_SUBSCRIPTIONS_RATE",
			"CENTRALMSP_AUDIT", "CENTRALMSP_AUDIT_RULES", "CENTRALMSP_AUDIT_TRAIL", "CENTRALMSP_AUDIT_LOOKBACK"},
	},
	"TokenRefreshFunction": {
		codeURI:    "functions/tokenrefresh",
		handlerDir: "internal/lambdafn/tokenrefresh",
		envVars: []string{"CENTRALMSP_CREDENTIALS_SECRET", "CENTRALMSP_TOKEN_CACHE_PREFIX",
			"CENTRALMSP_KMS_KEY_ID", "CENTRALMSP_REFRESH_CONCURRENCY"},
	},
}

// designEnvVars are the environment variable names docs/DESIGN.md fixes.
var designEnvVars = []string{
	"CENTRALMSP_CREDENTIALS_SECRET", "CENTRALMSP_TOKEN_CACHE_PREFIX", "CENTRALMSP_KMS_KEY_ID",
	"CENTRALMSP_REFRESH_CONCURRENCY", "CENTRALMSP_BUCKET", "CENTRALMSP_PREFIX", "CENTRALMSP_CONCURRENCY",
	"CENTRALMSP_DATASETS", "CENTRALMSP_S3_FORCE_PATH_STYLE", "CENTRALMSP_SHARD_QUEUE_URL",
}

// TestHandlersReadTemplateEnv checks that every variable the template sets
// is spelled, as a string literal, in the handler package that reads it,
// and that the two lists cover docs/DESIGN.md's names. (Source text rather
// than an import, so this package does not depend on the handlers building.)
func TestHandlersReadTemplateEnv(t *testing.T) {
	tp := loadTemplate(t)
	var all []string
	for id, f := range functions {
		all = append(all, f.envVars...)
		all = append(all, f.allowed...)
		files, _ := filepath.Glob(filepath.Join(repoRoot, f.handlerDir, "*.go"))
		var src strings.Builder
		for _, file := range files {
			if strings.HasSuffix(file, "_test.go") {
				continue
			}
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			src.Write(data)
		}
		if src.Len() == 0 {
			t.Errorf("%s: handler package %s has no source yet", id, f.handlerDir)
			continue
		}
		for _, kv := range entries(path(tp.resource(id), "Properties", "Environment", "Variables")) {
			if !strings.Contains(src.String(), `"`+kv[0].Value+`"`) {
				t.Errorf("%s sets %s, which %s never names", id, kv[0].Value, f.handlerDir)
			}
		}
	}
	for _, name := range designEnvVars {
		if !slices.Contains(all, name) {
			t.Errorf("no function is configured with %s (docs/DESIGN.md)", name)
		}
	}
}

// statement is one IAM/KMS/S3 policy statement with where it was found.
type statement struct {
	where   string // "<LogicalId>.<property>"
	resType string
	node    *yaml.Node
}

func (s statement) effect() string { return scalar(get(s.node, "Effect")) }

func (s statement) actions() []string {
	var out []string
	for _, a := range items(get(s.node, "Action")) {
		out = append(out, a.Value)
	}
	return out
}

// statements finds every policy statement in the template (role policies,
// role trust policies, bucket/queue/topic policies, key policies, inline SAM
// policies), by walking for "Statement" lists of mappings with an Effect.
func (tp *tmpl) statements() []statement {
	var out []statement
	for _, kv := range entries(tp.resources) {
		id, res := kv[0].Value, kv[1]
		typ := scalar(get(res, "Type"))
		walk(get(res, "Properties"), func(n *yaml.Node) {
			for _, p := range entries(n) {
				if p[0].Value != "Statement" {
					continue
				}
				for _, st := range items(p[1]) {
					if get(st, "Effect") != nil {
						out = append(out, statement{where: id, resType: typ, node: st})
					}
				}
			}
		})
	}
	return out
}

func isWildcardAction(a string) bool {
	return a == "*" || strings.HasSuffix(a, ":*")
}

func TestNoWildcardActions(t *testing.T) {
	tp := loadTemplate(t)
	sts := tp.statements()
	if len(sts) < 10 {
		t.Fatalf("found only %d policy statements; the walker is broken", len(sts))
	}
	for _, st := range sts {
		if get(st.node, "NotAction") != nil {
			t.Errorf("%s: NotAction grants everything else; list actions instead", st.where)
		}
		if get(st.node, "NotResource") != nil {
			t.Errorf("%s: NotResource is not allowed", st.where)
		}
		for _, a := range st.actions() {
			if !isWildcardAction(a) {
				continue
			}
			// The only wildcard allowed is a Deny (it narrows access, never
			// grants it): the TLS-only bucket policy, AWS's documented pattern.
			if st.effect() == "Deny" && path(st.node, "Condition", "Bool", "aws:SecureTransport") != nil {
				continue
			}
			t.Errorf("%s: wildcard action %q in an %s statement", st.where, a, st.effect())
		}
	}
}

// resourceStarAllowed reports the places where AWS requires Resource "*".
func resourceStarAllowed(st statement) (bool, string) {
	if st.resType == "AWS::KMS::Key" {
		return true, "a key policy's Resource must be \"*\" (it means this key)"
	}
	acts := st.actions()
	if len(acts) > 0 && !slices.ContainsFunc(acts, func(a string) bool { return a != "secretsmanager:ListSecrets" }) {
		return true, "secretsmanager:ListSecrets has no resource-level permissions"
	}
	return false, ""
}

func TestPolicyResourcesScoped(t *testing.T) {
	tp := loadTemplate(t)
	secretPrefixARN := regexp.MustCompile(`^arn:(aws|\$\{AWS::Partition\}):secretsmanager:\$\{AWS::Region\}:\$\{AWS::AccountId\}:secret:\$\{TokenCachePrefix\}/\*$`)
	for _, st := range tp.statements() {
		if st.resType == "AWS::IAM::Role" && get(st.node, "Resource") == nil {
			continue // trust policy (AssumeRolePolicyDocument): principals, no resources
		}
		resNodes := items(get(st.node, "Resource"))
		if len(resNodes) == 0 {
			t.Errorf("%s: statement without Resource", st.where)
		}
		for _, r := range resNodes {
			if scalar(r) == "*" {
				if ok, why := resourceStarAllowed(st); ok {
					t.Logf("%s: Resource \"*\" allowed: %s", st.where, why)
					continue
				}
				t.Errorf("%s: Resource \"*\" for %v", st.where, st.actions())
				continue
			}
			if s := scalar(r); s != "" {
				t.Errorf("%s: literal resource %q; reference the template's resources or parameters", st.where, s)
				continue
			}
			if st.effect() != "Allow" || st.resType == "AWS::KMS::Key" || st.resType == "AWS::S3::BucketPolicy" {
				continue
			}
			// Role policies: every resource is one of ours, per service.
			for _, a := range st.actions() {
				service, _, _ := strings.Cut(a, ":")
				if msg := tp.checkScopedResource(service, r, secretPrefixARN); msg != "" {
					t.Errorf("%s: %s: %s", st.where, a, msg)
				}
			}
		}
	}
}

// checkScopedResource returns "" when r is a resource the service may be
// granted on, or a description of the problem.
func (tp *tmpl) checkScopedResource(service string, r *yaml.Node, secretPrefixARN *regexp.Regexp) string {
	res, attr := getAtt(r)
	sub, _, isSub := subString(r)
	ref := refTarget(r)
	switch service {
	case "secretsmanager":
		if ref == "CredentialsSecretArn" || isSub && secretPrefixARN.MatchString(sub) {
			return ""
		}
		return "secrets must be the credentials secret or arn:...:secret:${TokenCachePrefix}/*"
	case "s3":
		if res == "InventoryBucket" && attr == "Arn" {
			return ""
		}
		if rest, ok := strings.CutPrefix(sub, "${InventoryBucket.Arn}/${OutputPrefix}"); isSub && ok {
			for _, p := range []string{"inventory/", "runs/", "baseline/", "drift/", "findings/", "audit/", "watermarks/"} {
				if strings.HasPrefix(rest, p) {
					return ""
				}
			}
		}
		return "S3 resources must be the bucket or its inventory/, runs/, baseline/, drift/, findings/, audit/ and watermarks/ prefixes"
	case "kms":
		if tp.resourceType(res) == "AWS::KMS::Key" && attr == "Arn" {
			return ""
		}
		return "KMS resources must be the template's key"
	case "sqs":
		if tp.resourceType(res) == "AWS::SQS::Queue" && attr == "Arn" {
			return ""
		}
		return "SQS resources must be the template's queues"
	case "events":
		if isSub && sub == eventBusARN {
			return ""
		}
		return "events resources must be the bus named by EventBusName"
	case "logs":
		if tp.resourceType(res) == "AWS::Logs::LogGroup" && attr == "Arn" {
			return ""
		}
		return "logs resources must be the functions' log groups"
	}
	return fmt.Sprintf("no scoping rule for service %q; add one to this test", service)
}

func TestRolesHaveInlinePoliciesOnly(t *testing.T) {
	tp := loadTemplate(t)
	for id, res := range tp.resourcesOfType("AWS::IAM::Role") {
		if get(get(res, "Properties"), "ManagedPolicyArns") != nil {
			t.Errorf("%s: ManagedPolicyArns; use inline statements", id)
		}
	}
	for id := range functions {
		props := get(tp.resource(id), "Properties")
		if get(props, "Policies") != nil {
			t.Errorf("%s: SAM Policies (may attach managed policies); use the explicit role", id)
		}
		role, attr := getAtt(get(props, "Role"))
		if tp.resourceType(role) != "AWS::IAM::Role" || attr != "Arn" {
			t.Errorf("%s: Role must be !GetAtt <explicit role>.Arn (so SAM adds no managed policies)", id)
		}
	}
}

func TestBucketSecurity(t *testing.T) {
	tp := loadTemplate(t)
	buckets := tp.resourcesOfType("AWS::S3::Bucket")
	if len(buckets) == 0 {
		t.Fatal("no S3 bucket")
	}
	policies := tp.resourcesOfType("AWS::S3::BucketPolicy")
	for id, b := range buckets {
		props := get(b, "Properties")
		algo := scalar(path(props, "BucketEncryption", "ServerSideEncryptionConfiguration"))
		for _, rule := range items(path(props, "BucketEncryption", "ServerSideEncryptionConfiguration")) {
			algo = scalar(path(rule, "ServerSideEncryptionByDefault", "SSEAlgorithm"))
		}
		if algo != "AES256" && algo != "aws:kms" && algo != "aws:kms:dsse" {
			t.Errorf("%s: default encryption %q, want AES256 or aws:kms", id, algo)
		}
		pab := get(props, "PublicAccessBlockConfiguration")
		for _, k := range []string{"BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"} {
			if !isTrue(get(pab, k)) {
				t.Errorf("%s: PublicAccessBlockConfiguration.%s is not true", id, k)
			}
		}
		// TLS-only bucket policy.
		tlsOnly := false
		for _, p := range policies {
			pp := get(p, "Properties")
			if refTarget(get(pp, "Bucket")) != id {
				continue
			}
			for _, st := range items(path(pp, "PolicyDocument", "Statement")) {
				c := path(st, "Condition", "Bool", "aws:SecureTransport")
				if scalar(get(st, "Effect")) == "Deny" && c != nil && strings.EqualFold(c.Value, "false") {
					tlsOnly = true
				}
			}
		}
		if !tlsOnly {
			t.Errorf("%s: no bucket policy denying aws:SecureTransport false", id)
		}
		// Lifecycle expiring old runs under inventory/ and runs/, parameterised.
		for _, want := range []string{"inventory/", "runs/"} {
			found := false
			for _, rule := range items(path(props, "LifecycleConfiguration", "Rules")) {
				prefix, _, _ := subString(get(rule, "Prefix"))
				if prefix == "" {
					prefix = scalar(get(rule, "Prefix"))
				}
				days := refTarget(get(rule, "ExpirationInDays"))
				if strings.HasSuffix(prefix, want) && scalar(get(rule, "Status")) == "Enabled" && tp.isParam(days) {
					found = true
				}
			}
			if !found {
				t.Errorf("%s: no enabled lifecycle rule expiring %q after a parameterised number of days", id, want)
			}
		}
	}
}

func TestTokenCacheKey(t *testing.T) {
	tp := loadTemplate(t)
	// The token cache key is the one the refresher creates shards with;
	// every customer-managed key of the template rotates.
	for id, k := range tp.resourcesOfType("AWS::KMS::Key") {
		if !isTrue(path(k, "Properties", "EnableKeyRotation")) {
			t.Errorf("%s: EnableKeyRotation is not true", id)
		}
	}
	id := tokenCacheKeyID(tp)
	if tp.resourceType(id) != "AWS::KMS::Key" {
		t.Fatalf("TokenRefreshFunction CENTRALMSP_KMS_KEY_ID is not a KMS key of the template (%q)", id)
	}
	{
		k := tp.resource(id)
		props := get(k, "Properties")
		if !isTrue(get(props, "EnableKeyRotation")) {
			t.Errorf("%s: EnableKeyRotation is not true", id)
		}
		// The key policy names the account root and both function roles.
		var principals []string
		for _, st := range items(path(props, "KeyPolicy", "Statement")) {
			for _, p := range items(path(st, "Principal", "AWS")) {
				if res, _ := getAtt(p); res != "" {
					principals = append(principals, res)
				} else if s, _, ok := subString(p); ok && strings.HasSuffix(s, ":root") {
					principals = append(principals, "root")
				}
			}
		}
		for id := range functions {
			role, _ := getAtt(get(get(tp.resource(id), "Properties"), "Role"))
			if !slices.Contains(principals, role) {
				t.Errorf("key policy does not allow %s's role %s", id, role)
			}
		}
		if !slices.Contains(principals, "root") {
			t.Error("key policy does not allow the account root")
		}
	}
}

// tokenCacheKeyID returns the logical id of the key the refresher is told to
// create shards with (CENTRALMSP_KMS_KEY_ID: !GetAtt Key.Arn or !Ref Key).
func tokenCacheKeyID(tp *tmpl) string {
	env := path(tp.resource("TokenRefreshFunction"), "Properties", "Environment", "Variables", "CENTRALMSP_KMS_KEY_ID")
	if res, _ := getAtt(env); res != "" {
		return res
	}
	return refTarget(env)
}

func TestCredentialsSecretReferencedNotCreated(t *testing.T) {
	tp := loadTemplate(t)
	if !tp.isParam("CredentialsSecretArn") {
		t.Fatal("no CredentialsSecretArn parameter")
	}
	if s := tp.resourcesOfType("AWS::SecretsManager::Secret"); len(s) > 0 {
		t.Errorf("the template creates secrets %v; the credentials secret must be referenced, and token cache shards are created by the refresher", keys(s))
	}
	walk(tp.resources, func(n *yaml.Node) {
		for _, kv := range entries(n) {
			if kv[0].Value == "SecretString" || kv[0].Value == "GenerateSecretString" {
				t.Errorf("line %d: %s in the template", kv[0].Line, kv[0].Value)
			}
		}
	})
	for id := range functions {
		env := path(tp.resource(id), "Properties", "Environment", "Variables", "CENTRALMSP_CREDENTIALS_SECRET")
		if refTarget(env) != "CredentialsSecretArn" {
			t.Errorf("%s: CENTRALMSP_CREDENTIALS_SECRET is not !Ref CredentialsSecretArn", id)
		}
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestFunctions(t *testing.T) {
	tp := loadTemplate(t)
	if got := tp.resourcesOfType("AWS::Serverless::Function"); len(got) != len(functions) {
		t.Errorf("functions %v, want %v", keys(got), keys(functions))
	}
	for id, want := range functions {
		t.Run(id, func(t *testing.T) {
			res := tp.resource(id)
			if scalar(get(res, "Type")) != "AWS::Serverless::Function" {
				t.Fatalf("%s is not an AWS::Serverless::Function", id)
			}
			props := get(res, "Properties")
			for k, v := range map[string]string{"Runtime": "provided.al2023", "Handler": "bootstrap"} {
				if got := scalar(get(props, k)); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if a := items(get(props, "Architectures")); len(a) != 1 || a[0].Value != "arm64" {
				t.Errorf("Architectures must be [arm64]")
			}
			if got := scalar(path(res, "Metadata", "BuildMethod")); got != "makefile" {
				t.Errorf("Metadata.BuildMethod = %q, want makefile", got)
			}
			if got := strings.TrimSuffix(scalar(get(props, "CodeUri")), "/"); got != want.codeURI {
				t.Errorf("CodeUri = %q, want %q", got, want.codeURI)
			}
			// JSON logging into an explicit log group with retention.
			if got := scalar(path(props, "LoggingConfig", "LogFormat")); got != "JSON" {
				t.Errorf("LoggingConfig.LogFormat = %q, want JSON", got)
			}
			lg := refTarget(path(props, "LoggingConfig", "LogGroup"))
			if tp.resourceType(lg) != "AWS::Logs::LogGroup" {
				t.Errorf("LoggingConfig.LogGroup must !Ref an AWS::Logs::LogGroup of the template")
			} else if get(get(tp.resource(lg), "Properties"), "RetentionInDays") == nil {
				t.Errorf("log group %s has no RetentionInDays", lg)
			}
			// On-failure destination.
			dest := path(props, "EventInvokeConfig", "DestinationConfig", "OnFailure")
			dres, _ := getAtt(get(dest, "Destination"))
			dtype := scalar(get(dest, "Type"))
			switch {
			case dtype == "SQS" && tp.resourceType(dres) == "AWS::SQS::Queue":
			case dtype == "SNS" && (tp.resourceType(refTarget(get(dest, "Destination"))) == "AWS::SNS::Topic"):
			default:
				t.Errorf("EventInvokeConfig.DestinationConfig.OnFailure must be a template SQS queue or SNS topic")
			}
			// Environment: the documented names, all present.
			vars := path(props, "Environment", "Variables")
			for _, name := range want.envVars {
				if get(vars, name) == nil {
					t.Errorf("environment variable %s is not set", name)
				}
			}
			for _, kv := range entries(vars) {
				if !slices.Contains(want.envVars, kv[0].Value) && !slices.Contains(want.allowed, kv[0].Value) {
					t.Errorf("environment variable %s is not read by the handler", kv[0].Value)
				}
			}
		})
	}
}

func TestAlarms(t *testing.T) {
	tp := loadTemplate(t)
	alarms := tp.resourcesOfType("AWS::CloudWatch::Alarm")
	has := func(ns, metric, dimName, dimValue string) bool {
		for _, a := range alarms {
			p := get(a, "Properties")
			if scalar(get(p, "Namespace")) != ns || scalar(get(p, "MetricName")) != metric {
				continue
			}
			for _, d := range items(get(p, "Dimensions")) {
				if scalar(get(d, "Name")) != dimName {
					continue
				}
				v := get(d, "Value")
				if scalar(v) == dimValue || refTarget(v) == dimValue {
					return len(items(get(p, "AlarmActions"))) > 0
				}
			}
		}
		return false
	}
	for id := range functions {
		if !has("AWS/Lambda", "Errors", "FunctionName", id) {
			t.Errorf("no alarm (with an action) on AWS/Lambda Errors of %s", id)
		}
	}
	// The collector's EMF run summary: namespace CentralMSP, metric
	// TenantsFailed, dimension Function=collector.
	if !has("CentralMSP", "TenantsFailed", "Function", "collector") {
		t.Error("no alarm on CentralMSP TenantsFailed Function=collector")
	}
}

func TestScaleOutQueue(t *testing.T) {
	tp := loadTemplate(t)
	coll := tp.resource("CollectorFunction")
	timeout, err := strconv.Atoi(scalar(path(coll, "Properties", "Timeout")))
	if err != nil {
		t.Fatalf("CollectorFunction Timeout: %v", err)
	}
	var sqsEvents int
	for _, ev := range entries(path(coll, "Properties", "Events")) {
		if scalar(get(ev[1], "Type")) != "SQS" {
			continue
		}
		sqsEvents++
		p := get(ev[1], "Properties")
		q, _ := getAtt(get(p, "Queue"))
		if tp.resourceType(q) != "AWS::SQS::Queue" {
			t.Fatalf("event %s: Queue is not a template queue", ev[0].Value)
		}
		if scalar(get(p, "BatchSize")) != "1" {
			t.Errorf("event %s: BatchSize must be 1 (one shard per invocation)", ev[0].Value)
		}
		if fr := items(get(p, "FunctionResponseTypes")); len(fr) != 1 || fr[0].Value != "ReportBatchItemFailures" {
			t.Errorf("event %s: FunctionResponseTypes must be [ReportBatchItemFailures]", ev[0].Value)
		}
		mc := path(p, "ScalingConfig", "MaximumConcurrency")
		if param := refTarget(mc); param != "" {
			min, _ := strconv.Atoi(scalar(path(tp.params, param, "MinValue")))
			if !tp.isParam(param) || min < 2 {
				t.Errorf("MaximumConcurrency parameter %s must exist with MinValue >= 2", param)
			}
		} else if n, _ := strconv.Atoi(scalar(mc)); n < 2 {
			t.Errorf("event %s: ScalingConfig.MaximumConcurrency must be >= 2", ev[0].Value)
		}
		qp := get(tp.resource(q), "Properties")
		vis, _ := strconv.Atoi(scalar(get(qp, "VisibilityTimeout")))
		if vis < 6*timeout {
			t.Errorf("queue %s VisibilityTimeout %d < 6 x function timeout %d", q, vis, timeout)
		}
		dlq, _ := getAtt(path(qp, "RedrivePolicy", "deadLetterTargetArn"))
		if tp.resourceType(dlq) != "AWS::SQS::Queue" {
			t.Errorf("queue %s has no RedrivePolicy to a template dead-letter queue", q)
		}
		vars := path(coll, "Properties", "Environment", "Variables")
		if refTarget(get(vars, "CENTRALMSP_SHARD_QUEUE_URL")) != q {
			t.Errorf("%s must be !Ref %s (the queue URL)", "CENTRALMSP_SHARD_QUEUE_URL", q)
		}
		// The collector divides the account budgets by the same number of
		// concurrent shards the event source mapping allows.
		if got, want := refTarget(get(vars, "CENTRALMSP_SHARD_CONCURRENCY")), refTarget(mc); got == "" || got != want {
			t.Errorf("%s = Ref %q, want the MaximumConcurrency parameter %q", "CENTRALMSP_SHARD_CONCURRENCY", got, want)
		}
	}
	if sqsEvents != 1 {
		t.Errorf("collector has %d SQS events, want 1", sqsEvents)
	}
}

func TestEventsUseScheduleParameters(t *testing.T) {
	tp := loadTemplate(t)
	schedules := 0
	audit := false
	for id := range functions {
		for _, ev := range entries(path(tp.resource(id), "Properties", "Events")) {
			p := get(ev[1], "Properties")
			switch scalar(get(ev[1], "Type")) {
			case "Schedule", "ScheduleV2":
				schedules++
				expr := get(p, "Schedule")
				if expr == nil {
					expr = get(p, "ScheduleExpression")
				}
				refs := tp.referencedNames(expr)
				if len(refs) == 0 {
					t.Errorf("%s.%s: schedule is a literal; make it a parameter", id, ev[0].Value)
				}
				for _, r := range refs {
					if !tp.isParam(r) && get(tp.mappings, r) == nil && get(tp.conditions, r) == nil {
						t.Errorf("%s.%s: schedule refers to %q, not a parameter", id, ev[0].Value, r)
					}
				}
			case "EventBridgeRule":
				src := items(path(p, "Pattern", "source"))
				dt := items(path(p, "Pattern", "detail-type"))
				if id == "CollectorFunction" && len(src) == 1 && src[0].Value == "centralmsp.audit" &&
					len(dt) == 1 && dt[0].Value == "AuditRequest" {
					audit = true
				}
			}
		}
	}
	if schedules < 2 {
		t.Errorf("%d schedule events, want one per function", schedules)
	}
	if !audit {
		t.Error("no EventBridge rule source centralmsp.audit detail-type AuditRequest on the collector")
	}
	// The refresh schedule is derived from the lead time for the default
	// hourly collection: every mapped schedule runs at minute 60-lead.
	for _, kv := range entries(path(tp.mappings, "RefreshLead")) {
		lead, _ := strconv.Atoi(kv[0].Value)
		want := fmt.Sprintf("cron(%d * * * ? *)", 60-lead)
		if got := scalar(get(kv[1], "Schedule")); got != want {
			t.Errorf("RefreshLead %s: %q, want %q", kv[0].Value, got, want)
		}
		if lead < 1 || lead > 14 {
			t.Errorf("RefreshLead %d: must leave the ~15 min tokens valid at collection", lead)
		}
	}
}

// referencedNames lists the names an expression refers to (Ref targets,
// FindInMap maps and the Ref inside, If conditions).
func (tp *tmpl) referencedNames(n *yaml.Node) []string {
	var out []string
	walk(n, func(c *yaml.Node) {
		if r := refTarget(c); r != "" {
			out = append(out, r)
		}
		switch c.Tag {
		case "!FindInMap", "!If":
			if len(c.Content) > 0 && c.Content[0].Kind == yaml.ScalarNode {
				out = append(out, c.Content[0].Value)
			}
		}
	})
	return out
}

func TestIntrinsicTargetsExist(t *testing.T) {
	tp := loadTemplate(t)
	known := func(name string) bool {
		return strings.HasPrefix(name, "AWS::") || tp.isParam(name) || tp.resource(name) != nil
	}
	var checked int
	walk(tp.root, func(n *yaml.Node) {
		if r := refTarget(n); r != "" {
			checked++
			if !known(r) {
				t.Errorf("line %d: Ref %q is neither a parameter nor a resource", n.Line, r)
			}
		}
		if res, attr := getAtt(n); res != "" {
			checked++
			if tp.resource(res) == nil || attr == "" {
				t.Errorf("line %d: GetAtt %s.%s: no such resource", n.Line, res, attr)
			}
		}
		if s, locals, ok := subString(n); ok {
			for _, v := range subVars(s) {
				checked++
				name, _, _ := strings.Cut(v, ".") // ${X.Attr}: X must be a resource
				if strings.Contains(v, ".") && !strings.HasPrefix(v, "AWS::") {
					if tp.resource(name) == nil {
						t.Errorf("line %d: Sub ${%s}: no resource %s", n.Line, v, name)
					}
					continue
				}
				if !locals[v] && !known(v) {
					t.Errorf("line %d: Sub ${%s} is neither a parameter, a resource nor a local variable", n.Line, v)
				}
			}
		}
		switch n.Tag {
		case "!If":
			if len(n.Content) > 0 && get(tp.conditions, n.Content[0].Value) == nil {
				t.Errorf("line %d: If condition %q is not defined", n.Line, n.Content[0].Value)
			}
		case "!FindInMap":
			if len(n.Content) > 0 && get(tp.mappings, n.Content[0].Value) == nil {
				t.Errorf("line %d: FindInMap map %q is not defined", n.Line, n.Content[0].Value)
			}
			if len(n.Content) == 3 {
				if p := refTarget(n.Content[1]); p != "" {
					// Every allowed value of the parameter must be a key of the map.
					for _, v := range items(path(tp.params, p, "AllowedValues")) {
						if path(tp.mappings, n.Content[0].Value, v.Value, n.Content[2].Value) == nil {
							t.Errorf("line %d: FindInMap %s has no entry for %s=%s", n.Line, n.Content[0].Value, p, v.Value)
						}
					}
				}
			}
		}
	})
	for _, kv := range entries(tp.resources) {
		if c := scalar(get(kv[1], "Condition")); c != "" && get(tp.conditions, c) == nil {
			t.Errorf("%s: Condition %q is not defined", kv[0].Value, c)
		}
		for _, d := range items(get(kv[1], "DependsOn")) {
			if tp.resource(d.Value) == nil {
				t.Errorf("%s: DependsOn %q is not a resource", kv[0].Value, d.Value)
			}
		}
	}
	if checked < 20 {
		t.Errorf("checked only %d references; the walker is broken", checked)
	}
}

func TestSubVars(t *testing.T) {
	got := subVars("arn:${AWS::Partition}:x:${Bucket.Arn}/${!Literal}/${ Prefix }")
	want := []string{"AWS::Partition", "Bucket.Arn", "Prefix"}
	if !slices.Equal(got, want) {
		t.Fatalf("subVars = %q, want %q", got, want)
	}
}

// TestCodeURIHasMainPackage reports which function directories are missing
// or have no main package yet (they land from the handler authors).
func TestCodeURIHasMainPackage(t *testing.T) {
	tp := loadTemplate(t)
	for id := range functions {
		uri := scalar(path(tp.resource(id), "Properties", "CodeUri"))
		dir := filepath.Join(repoRoot, uri)
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			t.Errorf("%s: CodeUri %s does not exist", id, uri)
			continue
		}
		if !hasMainPackage(t, dir) {
			t.Errorf("%s: CodeUri %s has no non-test .go file with package main (not written yet?)", id, uri)
		}
	}
}

var packageMain = regexp.MustCompile(`(?m)^package main\b`)

func hasMainPackage(t *testing.T, dir string) bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if packageMain.Match(data) {
			return true
		}
	}
	return false
}

// TestMakefileBuildTargets checks that the root Makefile has the
// build-<LogicalId> target SAM's makefile builder calls for each function, and
// that it builds what a Lambda on provided.al2023 needs (arm64, lambda.norpc,
// trimmed, bootstrap).
func TestMakefileBuildTargets(t *testing.T) {
	tp := loadTemplate(t)
	data, err := os.ReadFile(filepath.Join(repoRoot, "Makefile"))
	if err != nil {
		t.Fatalf("read Makefile: %v", err)
	}
	mk := string(data)
	for id, fn := range functions {
		if ctx := scalar(path(tp.resource(id), "Metadata", "ContextPath")); ctx != "." {
			t.Errorf("%s: Metadata.ContextPath = %q, want . (the root Makefile)", id, ctx)
		}
		if root := scalar(path(tp.resource(id), "Metadata", "ProjectRootDirectory")); root != "." {
			t.Errorf("%s: Metadata.ProjectRootDirectory = %q, want . (the Go module root)", id, root)
		}
		target := regexp.MustCompile(`(?m)^build-` + id + `:.*\n((?:\t.*\n)+)`)
		m := target.FindStringSubmatch(mk)
		if m == nil {
			t.Errorf("Makefile has no build-%s target", id)
			continue
		}
		recipe := m[1]
		for _, want := range []string{"GOARCH=arm64", "-tags lambda.norpc", "-trimpath", "-s -w", "$(ARTIFACTS_DIR)/bootstrap", "./" + fn.codeURI} {
			if !strings.Contains(recipe, want) {
				t.Errorf("Makefile build-%s does not contain %q", id, want)
			}
		}
	}
}
