package templatecheck

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestAlarmTopicEncryptionUsableByCloudWatch checks that every SNS topic is
// encrypted with a customer-managed key of the template whose policy lets
// CloudWatch alarms publish (kms:Decrypt and kms:GenerateDataKey* for
// cloudwatch.amazonaws.com, limited to this account) and the account root
// administer it. A topic on the AWS-managed alias/aws/sns key would silence
// every alarm: that key's policy cannot grant CloudWatch anything.
func TestAlarmTopicEncryptionUsableByCloudWatch(t *testing.T) {
	tp := loadTemplate(t)
	topics := tp.resourcesOfType("AWS::SNS::Topic")
	if len(topics) == 0 {
		t.Fatal("no SNS topic")
	}
	usable := map[string]bool{} // topics whose key CloudWatch can use
	for id, topic := range topics {
		kid := path(topic, "Properties", "KmsMasterKeyId")
		if s := scalar(kid); strings.Contains(s, "alias/aws/") {
			t.Errorf("%s: KmsMasterKeyId %q is an AWS-managed key; CloudWatch alarms cannot publish to it", id, s)
			continue
		}
		key, attr := getAtt(kid)
		if key == "" {
			key, attr = refTarget(kid), "Ref"
		}
		if tp.resourceType(key) != "AWS::KMS::Key" || (attr != "Arn" && attr != "Ref" && attr != "KeyId") {
			t.Errorf("%s: KmsMasterKeyId must be !GetAtt <template key>.Arn or !Ref <template key>", id)
			continue
		}
		props := get(tp.resource(key), "Properties")
		if !isTrue(get(props, "EnableKeyRotation")) {
			t.Errorf("%s: key %s has no EnableKeyRotation: true", id, key)
		}
		var cloudwatch, rootAdmin bool
		for _, st := range items(path(props, "KeyPolicy", "Statement")) {
			if scalar(get(st, "Effect")) != "Allow" {
				continue
			}
			acts := actionsOf(st)
			if slices.ContainsFunc(items(path(st, "Principal", "Service")), func(n *yaml.Node) bool {
				return n.Value == "cloudwatch.amazonaws.com"
			}) {
				for _, want := range []string{"kms:Decrypt", "kms:GenerateDataKey*"} {
					if !slices.Contains(acts, want) {
						t.Errorf("%s: key %s grants cloudwatch.amazonaws.com %v, missing %s", id, key, acts, want)
					}
				}
				for _, a := range acts {
					if a != "kms:Decrypt" && a != "kms:GenerateDataKey*" {
						t.Errorf("%s: key %s grants cloudwatch.amazonaws.com %s, which publishing does not need", id, key, a)
					}
				}
				if refTarget(path(st, "Condition", "StringEquals", "aws:SourceAccount")) != "AWS::AccountId" {
					t.Errorf("%s: key %s: the cloudwatch.amazonaws.com grant has no StringEquals aws:SourceAccount !Ref AWS::AccountId", id, key)
				}
				if get(get(st, "Principal"), "AWS") != nil {
					t.Errorf("%s: key %s: the cloudwatch.amazonaws.com statement names other principals", id, key)
				}
				cloudwatch = true
			}
			for _, p := range items(path(st, "Principal", "AWS")) {
				if s, _, ok := subString(p); ok && strings.HasSuffix(s, ":${AWS::AccountId}:root") &&
					slices.Contains(acts, "kms:PutKeyPolicy") && slices.Contains(acts, "kms:ScheduleKeyDeletion") {
					rootAdmin = true
				}
				if res, _ := getAtt(p); tp.resourceType(res) == "AWS::IAM::Role" {
					t.Errorf("%s: key %s grants role %s; the functions never use the alarm key", id, key, res)
				}
			}
		}
		if !cloudwatch {
			t.Errorf("%s: key %s: no key policy statement lets cloudwatch.amazonaws.com use it", id, key)
		}
		if !rootAdmin {
			t.Errorf("%s: key %s: the account root cannot administer it (PutKeyPolicy, ScheduleKeyDeletion)", id, key)
		}
		usable[id] = cloudwatch
	}
	alarms := tp.resourcesOfType("AWS::CloudWatch::Alarm")
	if len(alarms) == 0 {
		t.Fatal("no alarms")
	}
	for id, a := range alarms {
		for _, act := range items(path(a, "Properties", "AlarmActions")) {
			if topic := refTarget(act); !usable[topic] {
				t.Errorf("%s: alarm action %q is not a topic whose key CloudWatch can use", id, topic)
			}
		}
	}
}

// TestBucketVersioningAndNoncurrentExpiry checks that the output bucket is
// versioned, that noncurrent versions expire after a bounded number of days
// across the whole bucket, and that incomplete multipart uploads are aborted.
func TestBucketVersioningAndNoncurrentExpiry(t *testing.T) {
	tp := loadTemplate(t)
	for id, b := range tp.resourcesOfType("AWS::S3::Bucket") {
		props := get(b, "Properties")
		if got := scalar(path(props, "VersioningConfiguration", "Status")); got != "Enabled" {
			t.Errorf("%s: VersioningConfiguration.Status = %q, want Enabled", id, got)
		}
		var noncurrent, abort bool
		for _, rule := range items(path(props, "LifecycleConfiguration", "Rules")) {
			if scalar(get(rule, "Status")) != "Enabled" {
				continue
			}
			// Bucket-wide: no Prefix and no Filter narrows the rule.
			if get(rule, "Prefix") != nil || get(rule, "Filter") != nil {
				continue
			}
			if days := path(rule, "NoncurrentVersionExpiration", "NoncurrentDays"); days != nil {
				if ok, why := tp.boundedDays(days, 365); ok {
					noncurrent = true
				} else {
					t.Errorf("%s: NoncurrentDays: %s", id, why)
				}
			}
			if days := path(rule, "AbortIncompleteMultipartUpload", "DaysAfterInitiation"); days != nil {
				if ok, why := tp.boundedDays(days, 7); ok {
					abort = true
				} else {
					t.Errorf("%s: DaysAfterInitiation: %s", id, why)
				}
			}
		}
		if !noncurrent {
			t.Errorf("%s: no enabled bucket-wide lifecycle rule expiring noncurrent versions", id)
		}
		if !abort {
			t.Errorf("%s: no enabled bucket-wide lifecycle rule aborting incomplete multipart uploads", id)
		}
	}
}

// boundedDays reports whether n is a literal number of days in [1, max], or
// a Number parameter whose default is, with MinValue >= 1 and a MaxValue.
func (tp *tmpl) boundedDays(n *yaml.Node, max int) (bool, string) {
	if p := refTarget(n); p != "" {
		param := get(tp.params, p)
		if param == nil {
			return false, fmt.Sprintf("Ref %s is not a parameter", p)
		}
		def, _ := strconv.Atoi(scalar(get(param, "Default")))
		min, _ := strconv.Atoi(scalar(get(param, "MinValue")))
		if scalar(get(param, "Type")) != "Number" || min < 1 || get(param, "MaxValue") == nil || def < 1 || def > max {
			return false, fmt.Sprintf("parameter %s must be a Number with MinValue >= 1, a MaxValue and a default in [1, %d]", p, max)
		}
		return true, ""
	}
	d, err := strconv.Atoi(scalar(n))
	if err != nil || d < 1 || d > max {
		return false, fmt.Sprintf("%q, want a number of days in [1, %d]", scalar(n), max)
	}
	return true, ""
}

// numberParam returns a Number parameter's Default, MinValue and MaxValue;
// ok is false unless all three are set.
func (tp *tmpl) numberParam(name string) (def, min, max int, ok bool) {
	p := get(tp.params, name)
	if p == nil || scalar(get(p, "Type")) != "Number" {
		return 0, 0, 0, false
	}
	var errs [3]error
	def, errs[0] = strconv.Atoi(scalar(get(p, "Default")))
	min, errs[1] = strconv.Atoi(scalar(get(p, "MinValue")))
	max, errs[2] = strconv.Atoi(scalar(get(p, "MaxValue")))
	return def, min, max, errs[0] == nil && errs[1] == nil && errs[2] == nil
}

// TestCollectorReservedConcurrency checks that the collector has a reserved
// concurrency from a bounded parameter (scheduled runs, audit requests and
// shards together cannot start unbounded runs, each with the full API
// budgets), and that the SQS event source's MaximumConcurrency stays below it
// for every allowed pair of values: shards above the reserved concurrency
// would only be throttled, and one slot stays free for the scheduled run.
func TestCollectorReservedConcurrency(t *testing.T) {
	tp := loadTemplate(t)
	props := get(tp.resource("CollectorFunction"), "Properties")
	rc := get(props, "ReservedConcurrentExecutions")
	param := refTarget(rc)
	if param == "" {
		t.Fatal("CollectorFunction: ReservedConcurrentExecutions must be !Ref a parameter")
	}
	rDef, rMin, rMax, ok := tp.numberParam(param)
	if !ok {
		t.Fatalf("parameter %s must be a Number with Default, MinValue and MaxValue", param)
	}
	if rDef < 1 || rDef > 20 {
		t.Errorf("%s default %d, want a small limit in [1, 20]", param, rDef)
	}
	if rMin < 1 || rMax < rMin || rMax > 1000 {
		t.Errorf("%s: MinValue %d, MaxValue %d; want 1 <= MinValue <= MaxValue <= 1000", param, rMin, rMax)
	}
	var sqsEvents int
	for _, ev := range entries(get(props, "Events")) {
		if scalar(get(ev[1], "Type")) != "SQS" {
			continue
		}
		sqsEvents++
		mc := path(ev[1], "Properties", "ScalingConfig", "MaximumConcurrency")
		mcParam := refTarget(mc)
		var mDef, mMax int
		if mcParam != "" {
			var ok bool
			mDef, _, mMax, ok = tp.numberParam(mcParam)
			if !ok {
				t.Fatalf("MaximumConcurrency parameter %s must be a Number with Default, MinValue and MaxValue", mcParam)
			}
		} else {
			n, err := strconv.Atoi(scalar(mc))
			if err != nil {
				t.Fatalf("event %s: ScalingConfig.MaximumConcurrency must be a number or a parameter", ev[0].Value)
			}
			mDef, mMax = n, n
		}
		if mDef > rDef {
			t.Errorf("defaults: MaximumConcurrency %d > reserved concurrency %d", mDef, rDef)
		}
		// Every allowed pair: the largest MaximumConcurrency against the
		// smallest reserved concurrency.
		if mMax > rMin {
			t.Errorf("MaximumConcurrency may be %d but reserved concurrency %d: MaximumConcurrency must be <= reserved concurrency", mMax, rMin)
		}
		if mMax >= rMin {
			t.Errorf("MaximumConcurrency may reach the reserved concurrency (%d >= %d): shards could take every slot", mMax, rMin)
		}
	}
	if sqsEvents == 0 {
		t.Error("collector has no SQS event source")
	}
}

// grantUse is one permission a function role holds and why: the code path
// that needs it. Each is backed by evidence the test checks: source text the
// code path contains (every code entry must be found in its file), or a
// template property (for permissions the Lambda service itself uses with the
// execution role).
type grantUse struct {
	role     string
	action   string
	resource string // resourceLabel of the granted resource
	why      string
	code     []codeRef
	tmpl     func(tp *tmpl) bool
}

type codeRef struct{ file, text string }

const (
	tokenCacheARN = "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${TokenCachePrefix}/*"
	datasetsARN   = "${InventoryBucket.Arn}/${OutputPrefix}inventory/*"
	runsARN       = "${InventoryBucket.Arn}/${OutputPrefix}runs/*"
	listRuns      = "InventoryBucket [s3:prefix ${OutputPrefix}runs/*]"
)

const (
	collectorHandler = "internal/lambdafn/collectorfn/handler.go"
	refreshHandler   = "internal/lambdafn/tokenrefresh/handler.go"
	credsecretOpen   = "internal/lambdafn/credsecret/open.go"
	smBackend        = "internal/tokencache/secretsmanager.go"
	s3Store          = "internal/sink/s3.go"
	sqsSender        = "internal/scaleout/sender.go"
)

func logGroupOf(fn, group string) func(*tmpl) bool {
	return func(tp *tmpl) bool {
		return refTarget(path(tp.resource(fn), "Properties", "LoggingConfig", "LogGroup")) == group
	}
}

func onFailureTo(fn, queue string) func(*tmpl) bool {
	return func(tp *tmpl) bool {
		d, _ := getAtt(path(tp.resource(fn), "Properties", "EventInvokeConfig", "DestinationConfig", "OnFailure", "Destination"))
		return d == queue
	}
}

func sqsEventOn(fn, queue string) func(*tmpl) bool {
	return func(tp *tmpl) bool {
		for _, ev := range entries(path(tp.resource(fn), "Properties", "Events")) {
			if q, _ := getAtt(path(ev[1], "Properties", "Queue")); scalar(get(ev[1], "Type")) == "SQS" && q == queue {
				return true
			}
		}
		return false
	}
}

// grantUses is every permission the function roles may hold. A granted
// action missing here fails TestGrantsMatchCodePaths (no code path uses
// it: remove the grant), and so does an entry whose evidence is gone.
var grantUses = []grantUse{
	// ---------------------------------------------------------- collector
	{role: "CollectorRole", action: "logs:CreateLogStream", resource: "CollectorLogGroup",
		why: "the Lambda runtime writes the function's logs", tmpl: logGroupOf("CollectorFunction", "CollectorLogGroup")},
	{role: "CollectorRole", action: "logs:PutLogEvents", resource: "CollectorLogGroup",
		why: "the Lambda runtime writes the function's logs", tmpl: logGroupOf("CollectorFunction", "CollectorLogGroup")},
	{role: "CollectorRole", action: "s3:PutObject", resource: datasetsARN,
		why: "sink.S3 streams each tenant's dataset object (PutObject or a multipart upload)",
		code: []codeRef{{collectorHandler, "sink.NewS3("}, {"internal/collector/engine.go", `"inventory/dataset="`},
			{"internal/collector/engine.go", "Sink.Create(ctx, key"}, {"internal/sink/s3.go", "s.tm.UploadObject("}}},
	{role: "CollectorRole", action: "s3:AbortMultipartUpload", resource: datasetsARN,
		why:  "the transfer manager aborts a failed or abandoned multipart upload of a dataset object",
		code: []codeRef{{"internal/sink/s3.go", "t.MultipartUploadThreshold"}, {"internal/sink/s3.go", "s.tm.UploadObject("}}},
	{role: "CollectorRole", action: "s3:PutObject", resource: runsARN,
		why: "run manifests, shard manifests, plans, continuations and runs/latest.json are written whole",
		code: []codeRef{{"internal/collector/engine.go", `"runs/" + runID + "/manifest.json"`}, {"internal/sink/s3.go", "s.client.PutObject("},
			{collectorHandler, "sink.NewS3("}, {s3Store, "s.client.PutObject("}}},
	{role: "CollectorRole", action: "s3:GetObject", resource: runsARN,
		why: "scale-out reads the plan, continuations and shard manifests back (never dataset objects)",
		code: []codeRef{{collectorHandler, "sink.NewS3("}, {s3Store, "s.client.GetObject("},
			{"internal/scaleout/join.go", `"runs/" + runID + "/plan.json"`}}},
	{role: "CollectorRole", action: "s3:ListBucket", resource: listRuns,
		why:  "scale-out lists a run's objects under runs/<run-id>/ to decide what exists",
		code: []codeRef{{s3Store, "s3.NewListObjectsV2Paginator("}, {"internal/scaleout/join.go", `listed(ctx, st, "runs/"`}}},
	{role: "CollectorRole", action: "s3:PutObject", resource: "${InventoryBucket.Arn}/${OutputPrefix}baseline/*",
		why:  "the audit writes each tenant's baselines and finding state after comparing",
		code: []codeRef{{"internal/audit/baseline.go", `"baseline/tenant="`}, {"internal/lambdafn/collectorfn/scaleout.go", "audit.RunHook("}, {s3Store, "s.client.PutObject("}}},
	{role: "CollectorRole", action: "s3:GetObject", resource: "${InventoryBucket.Arn}/${OutputPrefix}baseline/*",
		why:  "the audit reads each tenant's previous baselines and finding state",
		code: []codeRef{{"internal/audit/store.go", "s.Sink.Get(ctx, key)"}, {"internal/lambdafn/collectorfn/scaleout.go", "audit.SinkStore{Sink: h.Store}"}, {s3Store, "s.client.GetObject("}}},
	{role: "CollectorRole", action: "s3:ListBucket", resource: "InventoryBucket [s3:prefix ${OutputPrefix}baseline/*]",
		why:  "a missing baseline (a tenant's first audit) must be answered 404, not 403",
		code: []codeRef{{"internal/audit/store.go", "sink.ErrNotFound"}, {"internal/audit/baseline.go", `"baseline/tenant="`}}},
	{role: "CollectorRole", action: "s3:PutObject", resource: "${InventoryBucket.Arn}/${OutputPrefix}drift/*",
		why:  "the audit streams each changed tenant's drift records",
		code: []codeRef{{"internal/audit/auditor.go", `"drift/dt="`}, {s3Store, "s.tm.UploadObject("}}},
	{role: "CollectorRole", action: "s3:AbortMultipartUpload", resource: "${InventoryBucket.Arn}/${OutputPrefix}drift/*",
		why:  "a failed multipart upload of drift records is aborted",
		code: []codeRef{{"internal/audit/auditor.go", `"drift/dt="`}, {"internal/sink/s3.go", "t.MultipartUploadThreshold"}}},
	{role: "CollectorRole", action: "s3:PutObject", resource: "${InventoryBucket.Arn}/${OutputPrefix}findings/*",
		why:  "the audit streams each tenant's findings",
		code: []codeRef{{"internal/audit/findstate.go", `"findings/dt="`}, {s3Store, "s.tm.UploadObject("}}},
	{role: "CollectorRole", action: "s3:AbortMultipartUpload", resource: "${InventoryBucket.Arn}/${OutputPrefix}findings/*",
		why:  "a failed multipart upload of findings is aborted",
		code: []codeRef{{"internal/audit/findstate.go", `"findings/dt="`}, {"internal/sink/s3.go", "t.MultipartUploadThreshold"}}},
	{role: "CollectorRole", action: "s3:PutObject", resource: "${InventoryBucket.Arn}/${OutputPrefix}watermarks/*",
		why: "the audit trail claims and commits each tenant's watermark with a conditional write",
		code: []codeRef{{"internal/audittrail/trail.go", `"watermarks/audit-logs/tenant="`}, {collectorHandler, "audittrail.SinkStore{Sink: store.(sink.Conditional)}"},
			{"internal/audittrail/store.go", "s.Sink.PutIf("}, {"internal/sink/s3.go", `in.IfNoneMatch = aws.String("*")`}}},
	{role: "CollectorRole", action: "s3:GetObject", resource: "${InventoryBucket.Arn}/${OutputPrefix}watermarks/*",
		why: "the audit trail reads each tenant's watermark and its ETag",
		code: []codeRef{{"internal/audittrail/trail.go", `"watermarks/audit-logs/tenant="`}, {collectorHandler, "audittrail.SinkStore{Sink: store.(sink.Conditional)}"},
			{"internal/audittrail/store.go", "s.Sink.GetVersion("}, {"internal/sink/s3.go", "out.ETag), nil"}}},
	{role: "CollectorRole", action: "s3:ListBucket", resource: "InventoryBucket [s3:prefix ${OutputPrefix}watermarks/*]",
		why:  "a missing watermark (a tenant's first trail run) must be answered 404, not 403",
		code: []codeRef{{"internal/sink/s3.go", `ae.ErrorCode() == "NoSuchKey"`}, {"internal/audittrail/trail.go", `"watermarks/audit-logs/tenant="`}}},
	{role: "CollectorRole", action: "s3:PutObject", resource: "${InventoryBucket.Arn}/${OutputPrefix}audit/*",
		why:  "the audit writes each run's (or shard's) summary and HTML report",
		code: []codeRef{{"internal/audit/auditor.go", `"audit/run="`}, {"internal/audit/report.go", `"audit/run="`}, {s3Store, "s.client.PutObject("}}},
	{role: "CollectorRole", action: "secretsmanager:GetSecretValue", resource: "CredentialsSecretArn",
		why:  "the handler reads the MSP credentials secret",
		code: []codeRef{{collectorHandler, "credsecret.OpenMSP("}, {credsecretOpen, "Read(ctx, c.SecretsManager"}, {"internal/lambdafn/credsecret/credsecret.go", "api.GetSecretValue("}}},
	{role: "CollectorRole", action: "secretsmanager:GetSecretValue", resource: tokenCacheARN,
		why: "the token cache reader loads shard secrets",
		code: []codeRef{{collectorHandler, "TokenCachePrefix: h.Config.TokenCachePrefix"}, {credsecretOpen, "tokencache.NewReader("},
			{"internal/tokencache/reader.go", "Backend.Get(ctx"}, {smBackend, "s.api.GetSecretValue("}}},
	{role: "CollectorRole", action: "secretsmanager:ListSecrets", resource: "*",
		why:  "the token cache reader finds the shard secrets by name prefix",
		code: []codeRef{{"internal/tokencache/reader.go", "Backend.List(ctx"}, {smBackend, "secretsmanager.NewListSecretsPaginator("}}},
	{role: "CollectorRole", action: "kms:Decrypt", resource: "TokenCacheKey",
		why:  "Secrets Manager decrypts the token cache shards for GetSecretValue",
		code: []codeRef{{collectorHandler, "TokenCachePrefix: h.Config.TokenCachePrefix"}, {credsecretOpen, "tokencache.NewReader("}, {smBackend, "s.api.GetSecretValue("}}},
	{role: "CollectorRole", action: "sqs:SendMessage", resource: "ShardQueue",
		why:  "a sharded run sends its shards (SendMessageBatch is authorised by sqs:SendMessage)",
		code: []codeRef{{collectorHandler, "sqs.NewFromConfig("}, {sqsSender, "Client.SendMessageBatch("}}},
	{role: "CollectorRole", action: "sqs:GetQueueAttributes", resource: "ShardQueue",
		why:  "a scheduled run reads the queue's backlog; the event source mapping reads the queue",
		code: []codeRef{{sqsSender, "client.GetQueueAttributes("}}},
	{role: "CollectorRole", action: "sqs:ChangeMessageVisibility", resource: "ShardQueue",
		why:  "a failed shard's message is delayed before its retry",
		code: []codeRef{{sqsSender, "client.ChangeMessageVisibility("}}},
	{role: "CollectorRole", action: "sqs:ReceiveMessage", resource: "ShardQueue",
		why:  "the SQS event source mapping polls the queue with the execution role",
		tmpl: sqsEventOn("CollectorFunction", "ShardQueue")},
	{role: "CollectorRole", action: "sqs:DeleteMessage", resource: "ShardQueue",
		why:  "the SQS event source mapping deletes handled messages with the execution role",
		tmpl: sqsEventOn("CollectorFunction", "ShardQueue")},
	{role: "CollectorRole", action: "events:PutEvents", resource: "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${EventBusName}",
		why:  "audit runs publish InventoryChange, AuditFinding and AuditRunCompleted events to the configured bus",
		code: []codeRef{{"internal/events/publisher.go", "p.api.PutEvents("}, {collectorHandler, "events.NewFromConfig(awsCfg, cfg.EventBus)"}, {"internal/lambdafn/collectorfn/config.go", "r.Get(EnvEventBus)"}}},
	{role: "CollectorRole", action: "sqs:SendMessage", resource: "FailureQueue",
		why:  "Lambda sends a failed asynchronous invocation to the on-failure destination",
		tmpl: onFailureTo("CollectorFunction", "FailureQueue")},

	// ------------------------------------------------------- token refresh
	{role: "TokenRefreshRole", action: "logs:CreateLogStream", resource: "TokenRefreshLogGroup",
		why: "the Lambda runtime writes the function's logs", tmpl: logGroupOf("TokenRefreshFunction", "TokenRefreshLogGroup")},
	{role: "TokenRefreshRole", action: "logs:PutLogEvents", resource: "TokenRefreshLogGroup",
		why: "the Lambda runtime writes the function's logs", tmpl: logGroupOf("TokenRefreshFunction", "TokenRefreshLogGroup")},
	{role: "TokenRefreshRole", action: "secretsmanager:GetSecretValue", resource: "CredentialsSecretArn",
		why:  "the handler reads the MSP credentials secret",
		code: []codeRef{{refreshHandler, "credsecret.OpenMSP("}, {credsecretOpen, "Read(ctx, c.SecretsManager"}, {"internal/lambdafn/credsecret/credsecret.go", "api.GetSecretValue("}}},
	{role: "TokenRefreshRole", action: "secretsmanager:CreateSecret", resource: tokenCacheARN,
		why:  "the refresher creates a missing shard secret",
		code: []codeRef{{refreshHandler, "tokencache.NewRefresher("}, {"internal/tokencache/refresher.go", "Backend.Put(ctx"}, {smBackend, "s.api.CreateSecret("}}},
	{role: "TokenRefreshRole", action: "secretsmanager:TagResource", resource: tokenCacheARN,
		why:  "CreateSecret with Tags needs TagResource",
		code: []codeRef{{smBackend, "s.api.CreateSecret("}, {smBackend, "Tags:"}}},
	{role: "TokenRefreshRole", action: "secretsmanager:PutSecretValue", resource: tokenCacheARN,
		why:  "the refresher writes a new version of a shard secret",
		code: []codeRef{{"internal/tokencache/refresher.go", "Backend.Put(ctx"}, {smBackend, "s.api.PutSecretValue("}}},
	{role: "TokenRefreshRole", action: "secretsmanager:DescribeSecret", resource: tokenCacheARN,
		why:  "the refresher reads a shard's current version before writing",
		code: []codeRef{{"internal/tokencache/refresher.go", "Backend.Latest(ctx"}, {smBackend, "s.api.DescribeSecret("}}},
	{role: "TokenRefreshRole", action: "secretsmanager:GetSecretValue", resource: tokenCacheARN,
		why:  "the refresher reads a shard's entries before rewriting it",
		code: []codeRef{{"internal/tokencache/refresher.go", "Backend.Get(ctx"}, {smBackend, "s.api.GetSecretValue("}}},
	{role: "TokenRefreshRole", action: "secretsmanager:ListSecrets", resource: "*",
		why:  "the refresher discovers existing shard secrets",
		code: []codeRef{{"internal/tokencache/refresher.go", "Backend.List(ctx"}, {smBackend, "secretsmanager.NewListSecretsPaginator("}}},
	{role: "TokenRefreshRole", action: "kms:GenerateDataKey", resource: "TokenCacheKey",
		why:  "Secrets Manager encrypts a new shard version (CreateSecret with KmsKeyId, PutSecretValue)",
		code: []codeRef{{refreshHandler, "tokencache.NewSecretsManager(h.SecretsManager, h.Config.KMSKeyID)"}, {smBackend, "in.KmsKeyId = "}}},
	{role: "TokenRefreshRole", action: "kms:Decrypt", resource: "TokenCacheKey",
		why:  "Secrets Manager decrypts shard secrets for GetSecretValue",
		code: []codeRef{{"internal/tokencache/refresher.go", "Backend.Get(ctx"}, {smBackend, "s.api.GetSecretValue("}}},
	{role: "TokenRefreshRole", action: "sqs:SendMessage", resource: "FailureQueue",
		why:  "Lambda sends a failed asynchronous invocation to the on-failure destination",
		tmpl: onFailureTo("TokenRefreshFunction", "FailureQueue")},
}

// grant is one (role, action, resource) a policy in the template allows.
type grant struct{ role, action, resource, where string }

// resourceLabel names a granted resource: "*", the logical id of !GetAtt
// X.Arn or !Ref X, or the text of a !Sub.
func resourceLabel(n *yaml.Node) string {
	if s := scalar(n); s != "" {
		return s
	}
	if res, _ := getAtt(n); res != "" {
		return res
	}
	if r := refTarget(n); r != "" {
		return r
	}
	if s, _, ok := subString(n); ok {
		return s
	}
	return fmt.Sprintf("<unrecognised resource at line %d>", n.Line)
}

// roleGrants lists what every policy of the template allows the roles:
// inline role policies, AWS::IAM::RolePolicy and AWS::IAM::Policy resources,
// and key policy statements naming a role. s3:ListBucket with an s3:prefix
// condition is labelled with the prefix.
func (tp *tmpl) roleGrants(t *testing.T) []grant {
	var out []grant
	add := func(role, where, resource string, st *yaml.Node) {
		if scalar(get(st, "Effect")) != "Allow" {
			return
		}
		resources := []string{resource}
		if resource == "" {
			resources = nil
			for _, r := range items(get(st, "Resource")) {
				resources = append(resources, resourceLabel(r))
			}
		}
		for _, a := range actionsOf(st) {
			for _, r := range resources {
				if a == "s3:ListBucket" {
					prefixes := items(path(st, "Condition", "StringLike", "s3:prefix"))
					if len(prefixes) == 0 {
						out = append(out, grant{role, a, r + " [any prefix]", where})
					}
					for _, p := range prefixes {
						out = append(out, grant{role, a, r + " [s3:prefix " + resourceLabel(p) + "]", where})
					}
					continue
				}
				out = append(out, grant{role, a, r, where})
			}
		}
	}
	for _, kv := range entries(tp.resources) {
		id, res := kv[0].Value, kv[1]
		props := get(res, "Properties")
		switch scalar(get(res, "Type")) {
		case "AWS::IAM::Role":
			for _, pol := range items(get(props, "Policies")) {
				for _, st := range items(path(pol, "PolicyDocument", "Statement")) {
					add(id, id+"."+scalar(get(pol, "PolicyName")), "", st)
				}
			}
		case "AWS::IAM::RolePolicy":
			for _, st := range items(path(props, "PolicyDocument", "Statement")) {
				add(refTarget(get(props, "RoleName")), id, "", st)
			}
		case "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy":
			for _, role := range items(get(props, "Roles")) {
				for _, st := range items(path(props, "PolicyDocument", "Statement")) {
					add(refTarget(role), id, "", st)
				}
			}
		case "AWS::KMS::Key":
			for _, st := range items(path(props, "KeyPolicy", "Statement")) {
				for _, p := range items(path(st, "Principal", "AWS")) {
					if role, _ := getAtt(p); tp.resourceType(role) == "AWS::IAM::Role" {
						add(role, id+".KeyPolicy", id, st)
					}
				}
			}
		}
	}
	if len(out) < 10 {
		t.Fatalf("found only %d grants; the collector is broken", len(out))
	}
	return out
}

func actionsOf(st *yaml.Node) []string {
	var out []string
	for _, a := range items(get(st, "Action")) {
		out = append(out, a.Value)
	}
	return out
}

// TestGrantsMatchCodePaths maps every permission the function roles hold to
// the code path that needs it (grantUses): a grant no code path uses, a code
// path whose permission is missing, and an entry whose evidence is no longer
// in the code or the template all fail.
func TestGrantsMatchCodePaths(t *testing.T) {
	tp := loadTemplate(t)
	granted := map[[3]string][]string{}
	for _, g := range tp.roleGrants(t) {
		k := [3]string{g.role, g.action, g.resource}
		granted[k] = append(granted[k], g.where)
	}
	known := map[[3]string]bool{}
	for _, u := range grantUses {
		known[[3]string{u.role, u.action, u.resource}] = true
	}
	for k, where := range granted {
		if !known[k] {
			t.Errorf("%v grants %s %s on %s, which no code path uses (remove it, or add the code path to grantUses)", where, k[0], k[1], k[2])
		}
	}
	sources := map[string]string{}
	read := func(file string) string {
		if s, ok := sources[file]; ok {
			return s
		}
		b, err := os.ReadFile(filepath.Join(repoRoot, file))
		if err != nil {
			t.Errorf("evidence file: %v", err)
		}
		sources[file] = string(b)
		return sources[file]
	}
	for _, u := range grantUses {
		k := [3]string{u.role, u.action, u.resource}
		if _, ok := granted[k]; !ok {
			t.Errorf("%s needs %s on %s (%s) but the template does not grant it", u.role, u.action, u.resource, u.why)
		}
		if len(u.code) == 0 && u.tmpl == nil {
			t.Errorf("%s %s on %s: no evidence of the code path", u.role, u.action, u.resource)
		}
		for _, c := range u.code {
			if strings.HasSuffix(c.file, "_test.go") {
				t.Errorf("%s %s: evidence %s is a test file", u.role, u.action, c.file)
			}
			if !strings.Contains(read(c.file), c.text) {
				t.Errorf("%s %s on %s (%s): %s no longer contains %q; is the grant still used?", u.role, u.action, u.resource, u.why, c.file, c.text)
			}
		}
		if u.tmpl != nil && !u.tmpl(tp) {
			t.Errorf("%s %s on %s (%s): the template no longer configures that", u.role, u.action, u.resource, u.why)
		}
	}
}

// TestTokenCacheKeyOnlyViaSecretsManager checks that every statement giving
// a function role the token cache key, in the key policy and in the role
// policies, is limited to use through Secrets Manager in the stack's region
// (kms:ViaService), so the roles cannot call KMS with it directly.
func TestTokenCacheKeyOnlyViaSecretsManager(t *testing.T) {
	tp := loadTemplate(t)
	key := tokenCacheKeyID(tp)
	if tp.resourceType(key) != "AWS::KMS::Key" {
		t.Fatalf("no token cache key (TokenRefreshFunction CENTRALMSP_KMS_KEY_ID = %q)", key)
	}
	roles := map[string]bool{}
	for id := range functions {
		role, _ := getAtt(path(tp.resource(id), "Properties", "Role"))
		roles[role] = true
	}
	viaSM := func(st *yaml.Node) bool {
		s, _, ok := subString(path(st, "Condition", "StringEquals", "kms:ViaService"))
		return ok && s == "secretsmanager.${AWS::Region}.amazonaws.com"
	}
	checked := map[string]int{}
	// Key policy statements naming a function role.
	for _, st := range items(path(tp.resource(key), "Properties", "KeyPolicy", "Statement")) {
		for _, p := range items(path(st, "Principal", "AWS")) {
			if role, _ := getAtt(p); roles[role] {
				checked[role]++
				if !viaSM(st) {
					t.Errorf("%s key policy: statement %q for %s has no StringEquals kms:ViaService secretsmanager.${AWS::Region}.amazonaws.com",
						key, scalar(get(st, "Sid")), role)
				}
			}
		}
	}
	// Role policy statements with a KMS action (any key).
	for _, kv := range entries(tp.resources) {
		id, res := kv[0].Value, kv[1]
		props := get(res, "Properties")
		var role string
		var sts []*yaml.Node
		switch scalar(get(res, "Type")) {
		case "AWS::IAM::Role":
			role = id
			for _, pol := range items(get(props, "Policies")) {
				sts = append(sts, items(path(pol, "PolicyDocument", "Statement"))...)
			}
		case "AWS::IAM::RolePolicy":
			role = refTarget(get(props, "RoleName"))
			sts = items(path(props, "PolicyDocument", "Statement"))
		}
		if !roles[role] {
			continue
		}
		for _, st := range sts {
			if !slices.ContainsFunc(actionsOf(st), func(a string) bool { return strings.HasPrefix(a, "kms:") }) {
				continue
			}
			checked[role]++
			if !viaSM(st) {
				t.Errorf("%s: statement %q gives %s KMS actions without kms:ViaService secretsmanager.${AWS::Region}.amazonaws.com", id, scalar(get(st, "Sid")), role)
			}
			for _, r := range items(get(st, "Resource")) {
				if res, attr := getAtt(r); res != key || attr != "Arn" {
					t.Errorf("%s: statement %q gives %s KMS actions on %s, not the token cache key", id, scalar(get(st, "Sid")), role, resourceLabel(r))
				}
			}
		}
	}
	for role := range roles {
		if checked[role] < 2 {
			t.Errorf("%s: found %d KMS statements (want the key policy's and the role policy's)", role, checked[role])
		}
	}
}
