"""template.yaml: the resources, IAM, outputs and settings the code relies on; linters; sam build."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import pytest

from infra import REPO_ROOT
from infra.build import sam_build
from infra.template import function_properties, load_module, load_template
from stripe_webhook.core import budget
from stripe_webhook.settings import Settings
from tests.modules import targets

TEMPLATE = load_template()
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
FUNCTION = function_properties("WebhookFunction")
SAM = str(Path(sys.executable).with_name("sam"))
CFN_LINT = str(Path(sys.executable).with_name("cfn-lint"))


def test_function_runtime_architecture_and_handler() -> None:
    assert FUNCTION["Runtime"] == "python3.13"
    assert FUNCTION["Architectures"] == ["arm64"]
    module, _, function = FUNCTION["Handler"].rpartition(".")
    assert (REPO_ROOT / FUNCTION["CodeUri"] / (module.replace(".", "/") + ".py")).is_file()
    assert function == "lambda_handler"


def test_function_answers_before_api_gateway_gives_up_and_the_lease_outlives_it() -> None:
    # The template's timeout is the one budget.py derives the publish budget and lease from
    assert FUNCTION["Timeout"] == budget.FUNCTION_TIMEOUT_SECONDS < 29
    assert budget.CLAIM_WINDOW_SECONDS >= 5  # a claim may retry a lost or throttled answer
    assert Settings.lease_seconds >= budget.MIN_LEASE_SECONDS > FUNCTION["Timeout"]


def test_a_fifo_topic_and_fifo_example_queues_come_with_topic_type_fifo() -> None:
    template = load_template()
    assert template["Conditions"]["FifoTopic"] == {"Fn::Equals": [{"Ref": "TopicType"}, "fifo"]}
    topic = RESOURCES["EventsTopic"]["Properties"]
    assert topic["FifoTopic"] == {"Fn::If": ["FifoTopic", True, {"Ref": "AWS::NoValue"}]}
    name = topic["TopicName"]["Fn::If"][1]["Fn::Sub"]
    assert name.endswith(".fifo")  # the function tells a FIFO topic by its ARN
    # every consumer queue (the example's, each action's) is one of infra/modules/queue.yaml
    assert RESOURCES["ExampleConsumer"]["Properties"]["Parameters"]["TopicType"] == {"Ref": "TopicType"}
    assert {"Condition": "FifoTopic"} in template["Conditions"]["ExampleConsumer"]["Fn::Or"]


def test_post_webhook_on_a_rest_api_with_throttling_and_access_logs() -> None:
    routes = {
        (event["Properties"]["Path"], event["Properties"]["Method"]) for event in FUNCTION["Events"].values()
    }
    assert routes == {("/webhook", "POST"), ("/webhook/thin", "POST")}
    event = FUNCTION["Events"]["StripeWebhook"]
    assert event["Type"] == "Api"
    api = RESOURCES[event["Properties"]["RestApiId"]["Ref"]]
    assert api["Type"] == "AWS::Serverless::Api"
    (method_settings,) = api["Properties"]["MethodSettings"]
    assert method_settings["ThrottlingRateLimit"] == {"Ref": "ThrottlingRateLimit"}
    assert method_settings["ThrottlingBurstLimit"] == {"Ref": "ThrottlingBurstLimit"}
    assert "DestinationArn" in api["Properties"]["AccessLogSetting"]


def test_source_ip_restriction_is_off_by_default_and_uses_the_parameter() -> None:
    assert TEMPLATE["Parameters"]["AllowedSourceIps"]["Default"] == ""
    statements = RESOURCES["WebhookApi"]["Properties"]["Auth"]["ResourcePolicy"]["CustomStatements"]
    deny = next(statement for statement in statements if statement["Effect"] == "Deny")
    condition = deny["Condition"]["NotIpAddress"]["aws:SourceIp"]["Fn::If"]
    assert condition[0] == "RestrictSourceIps"
    assert condition[1] == {"Fn::Split": [",", {"Ref": "AllowedSourceIps"}]}
    assert condition[2] == ["0.0.0.0/0", "::/0"]  # restriction off: the Deny matches nobody


def test_table_is_on_demand_with_pitr_ttl_and_string_keys() -> None:
    table = RESOURCES["EventsTable"]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert {(a["AttributeName"], a["AttributeType"]) for a in table["AttributeDefinitions"]} >= {
        ("pk", "S"),
        ("sk", "S"),
    }
    assert [(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]] == [
        ("pk", "HASH"),
        ("sk", "RANGE"),
    ]


def test_topic_is_encrypted() -> None:
    assert RESOURCES["EventsTopic"]["Properties"]["KmsMasterKeyId"] == "alias/aws/sns"


def test_payload_bucket_is_private_encrypted_tls_only_and_expires_with_the_event_log() -> None:
    bucket = RESOURCES["PayloadBucket"]["Properties"]
    (encryption,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    (rule,) = bucket["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled" and rule["ExpirationInDays"] == {"Ref": "EventRetentionDays"}
    assert rule["Prefix"] == "events/"
    (deny,) = RESOURCES["PayloadBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny" and deny["Action"] == "s3:*"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert targets(deny["Resource"]) == {"PayloadBucket"}
    assert FUNCTION["Environment"]["Variables"]["PAYLOAD_BUCKET"] == {"Ref": "PayloadBucket"}


def test_secret_is_never_plain_text_in_the_template_or_the_function_environment() -> None:
    secret = RESOURCES["WebhookSecret"]["Properties"]
    assert "SecretString" not in secret
    variables = FUNCTION["Environment"]["Variables"]
    assert not {"STRIPE_WEBHOOK_SECRET", "STRIPE_THIN_WEBHOOK_SECRET", "STRIPE_API_KEY"} & set(variables)
    assert targets(variables["STRIPE_WEBHOOK_SECRET_ARN"]) == {"WebhookSecret", "ExistingSecretArn"}
    assert {"TABLE_NAME", "TOPIC_ARN", "POWERTOOLS_SERVICE_NAME", "POWERTOOLS_LOG_LEVEL"} <= set(variables)


def test_no_stripe_secret_strings_in_deployment_or_env_files() -> None:
    pattern = re.compile(r"(whsec|sk_live|sk_test|rk_live|rk_test)_[A-Za-z0-9]+")
    files = [REPO_ROOT / name for name in ("template.yaml", "samconfig.toml", "env.json", "Makefile")]
    files += sorted((REPO_ROOT / "events").glob("*.json"))
    assert len(files) > 4
    for path in files:
        assert not pattern.search(path.read_text()), path.name


def test_the_reconciler_runs_on_a_schedule_with_a_stripe_key_and_the_webhook_s_settings() -> None:
    """The reconciler module's function: its handler, a timeout the lease outlives, a schedule from
    ReconcileIntervalMinutes, no retries, and the webhook's own settings (its grants: test_roles.py)."""
    from infra.template import instance_parameters, load_module, module_properties

    assert RESOURCES["Reconciler"]["Condition"] == "HasStripeApiKey"
    reconciler = module_properties("Function", "reconciler")
    assert reconciler["Handler"] == "stripe_webhook.app.reconcile"
    assert reconciler["Timeout"] == budget.RECONCILER_TIMEOUT_SECONDS
    assert budget.RECONCILER_LEASE_SECONDS > budget.RECONCILER_TIMEOUT_SECONDS
    (schedule,) = reconciler["Events"].values()
    assert schedule["Type"] == "ScheduleV2"
    assert schedule["Properties"]["ScheduleExpression"] == {"Ref": "Schedule"}
    parameters = instance_parameters("Reconciler")
    expression = parameters["Schedule"]["Fn::FindInMap"]
    assert expression == ["ReconcileInterval", {"Ref": "ReconcileIntervalMinutes"}, "Schedule"]
    intervals = TEMPLATE["Mappings"]["ReconcileInterval"]
    assert set(intervals) == set(TEMPLATE["Parameters"]["ReconcileIntervalMinutes"]["AllowedValues"])
    for minutes, row in intervals.items():
        assert row["Seconds"] == int(minutes) * 60
        assert row["Schedule"] == f"rate({minutes} minute{'s' if minutes != '1' else ''})"
        assert row["Seconds"] > budget.RECONCILER_TIMEOUT_SECONDS or minutes == "1"  # the lease covers 1
        assert row["LagAlarmSeconds"] >= 3 * row["Seconds"]
    assert reconciler["EventInvokeConfig"]["MaximumRetryAttempts"] == 0
    variables = reconciler["Environment"]["Variables"]
    webhook = FUNCTION["Environment"]["Variables"]
    for name in (
        "TABLE_NAME",
        "TOPIC_ARN",
        "PAYLOAD_BUCKET",
        "STRIPE_API_KEY_SECRET_ARN",
        "STRIPE_API_VERSION",
    ):
        assert parameters[variables[name]["Ref"]] == webhook[name], name
    assert parameters[variables["POWERTOOLS_SERVICE_NAME"]["Ref"]] == {"Ref": "AWS::StackName"}
    assert set(load_module("reconciler")["Parameters"]) == set(parameters)


def test_outputs() -> None:
    assert {"WebhookUrl", "TableName", "TopicArn", "SecretArn"} <= set(TEMPLATE["Outputs"])
    condition, http, rest = TEMPLATE["Outputs"]["WebhookUrl"]["Value"]["Fn::If"]
    assert condition == "HttpApi"
    assert http["Fn::Sub"].startswith("https://${WebhookHttpApi}.") and http["Fn::Sub"].endswith("/webhook")
    assert rest["Fn::Sub"].startswith("https://${WebhookApi}.") and rest["Fn::Sub"].endswith("/webhook")


def test_an_http_api_is_offered_with_the_same_routes_throttle_log_and_allow_list() -> None:
    assert TEMPLATE["Parameters"]["ApiType"]["Default"] == "REST"
    assert TEMPLATE["Conditions"]["HttpApi"] == {"Fn::Equals": [{"Ref": "ApiType"}, "HTTP"]}
    http = {name: r for name, r in RESOURCES.items() if name.startswith("WebhookHttp")}
    assert all(resource["Condition"] == "HttpApi" for resource in http.values())
    routes = {r["Properties"]["RouteKey"] for r in http.values() if r["Type"] == "AWS::ApiGatewayV2::Route"}
    assert routes == {"POST /webhook", "POST /webhook/thin"}
    integration = http["WebhookHttpIntegration"]["Properties"]
    assert integration["PayloadFormatVersion"] == "1.0"  # the REST proxy event's shape
    assert integration["IntegrationUri"] == {"Ref": "WebhookFunction.Alias"}
    stage = http["WebhookHttpStage"]["Properties"]
    assert stage["DefaultRouteSettings"]["ThrottlingRateLimit"] == {"Ref": "ThrottlingRateLimit"}
    assert stage["DefaultRouteSettings"]["ThrottlingBurstLimit"] == {"Ref": "ThrottlingBurstLimit"}
    assert targets(stage["AccessLogSettings"]["DestinationArn"]) == {"AccessLogGroup"}
    # No resource policy on an HTTP API: the function enforces the allow-list (test_source_ips.py)
    assert FUNCTION["Environment"]["Variables"]["ALLOWED_SOURCE_IPS"] == {"Ref": "AllowedSourceIps"}


def test_samconfig_has_dev_and_prod_environments() -> None:
    config = tomllib.loads((REPO_ROOT / "samconfig.toml").read_text())
    assert (
        config["default"]["global"]["parameters"]["stack_name"]
        != config["prod"]["global"]["parameters"]["stack_name"]
    )
    assert "deploy" in config["default"] and "deploy" in config["prod"]


def test_bundled_powertools_is_the_version_the_tests_use() -> None:
    pinned = (REPO_ROOT / "functions" / "requirements.txt").read_text()
    assert f"aws-lambda-powertools=={importlib.metadata.version('aws-lambda-powertools')}" in pinned


def _run(command: list[str], **options: Any) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "SAM_CLI_TELEMETRY": "0",
        "AWS_DEFAULT_REGION": "us-east-1",
        **options.pop("env", {}),
    }
    return subprocess.run(
        command, cwd=REPO_ROOT, capture_output=True, text=True, env=env, check=False, **options
    )


@pytest.mark.slow
def test_cfn_lint_passes() -> None:
    # I3011/I3013: every stateful resource says what deletion and replacement do, every queue how
    # long it keeps messages
    modules = sorted(
        str(path.relative_to(REPO_ROOT)) for path in (REPO_ROOT / "infra" / "modules").glob("*.yaml")
    )
    assert len(modules) == 4
    result = _run([CFN_LINT, "--include-checks", "I3011", "I3013", "--", "template.yaml", *modules])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_sam_validate_lint_passes() -> None:
    result = _run([SAM, "validate", "--lint", "--region", "us-east-1"])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_sam_build_produces_the_function_with_its_dependencies(tmp_path: Path) -> None:
    build_dir = sam_build(tmp_path / "build", tmp_path / "cache")
    artifact = build_dir / "WebhookFunction"
    assert (artifact / "stripe_webhook" / "app.py").is_file()
    assert (artifact / "aws_lambda_powertools" / "__init__.py").is_file()
    assert not list(artifact.glob("boto3*")), "boto3 comes from the Lambda runtime"
    archive = tmp_path / "function.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in artifact.rglob("*"):
            bundle.write(path, path.relative_to(artifact))
    print(f"\nbuilt function artifact: {archive.stat().st_size / 1024:.0f} KiB zipped")
    # Every example action's function: the consumer kit, its contract and its validator
    # (each a nested application: sam build builds it under the instance's name)
    from infra.template import action_instances

    for logical in action_instances():
        action = build_dir / logical / "Function"
        assert (action / "stripe_actions" / "app.py").is_file(), logical
        assert (action / "contract" / "sns-message.v2.schema.json").is_file(), logical
        assert (action / "fastjsonschema" / "__init__.py").is_file(), logical
    # Shipped compiled, for Lambda's Python (its /var/task is read-only: no module is compiled at a
    # cold start), each file checked against its source's hash and naming /var/task in tracebacks
    for function in [artifact, *(build_dir / logical / "Function" for logical in action_instances())]:
        sources = [path for path in function.rglob("*.py") if "__pycache__" not in path.parts]
        for source in sources:
            compiled = source.parent / "__pycache__" / f"{source.stem}.cpython-313.pyc"
            assert compiled.is_file(), source
    header = (artifact / "stripe_webhook" / "__pycache__" / "app.cpython-313.pyc").read_bytes()
    assert int.from_bytes(header[4:8], "little") == 3  # PEP 552: hash-based, checked
    assert b"/var/task/stripe_webhook/app.py" in header


def test_indexes_the_queries_use_exist_with_the_keys_the_code_writes() -> None:
    from stripe_webhook.adapters.schema import CUSTOMER_INDEX, OBJECT_INDEX, TIME_INDEX, TYPE_INDEX

    indexes = {
        index["IndexName"]: [key["AttributeName"] for key in index["KeySchema"]]
        for index in RESOURCES["EventsTable"]["Properties"]["GlobalSecondaryIndexes"]
    }
    assert indexes == {
        CUSTOMER_INDEX: ["customer_key", "customer_sort"],
        TYPE_INDEX: ["type_day", "created_event"],
        OBJECT_INDEX: ["object_id", "created_event"],
        TIME_INDEX: ["log_shard", "created_event"],
    }


def test_example_consumer_is_off_by_default_and_filters_on_event_type() -> None:
    assert TEMPLATE["Parameters"]["CreateExampleConsumer"]["Default"] == "false"
    consumer = RESOURCES["ExampleConsumer"]
    assert consumer["Condition"] == "ExampleConsumer"
    assert consumer["Properties"]["Location"] == "infra/modules/queue.yaml"
    assert json.loads(consumer["Properties"]["Parameters"]["FilterPolicy"]) == {
        "event_type": [{"prefix": "invoice."}, {"prefix": "customer.subscription."}]
    }


def test_snapstart_is_an_opt_in_parameter_on_the_alias_every_source_calls() -> None:
    parameter = TEMPLATE["Parameters"]["SnapStart"]
    assert parameter["Default"] == "None"
    assert parameter["AllowedValues"] == ["None", "PublishedVersions"]
    assert FUNCTION["SnapStart"] == {"ApplyOn": {"Ref": "SnapStart"}}
    assert FUNCTION["AutoPublishAlias"] == "live"  # SnapStart runs only published versions
    assert TEMPLATE["Globals"]["Function"]["Runtime"] in ("python3.12", "python3.13")  # SnapStart: 3.12+
    assert RESOURCES["WebhookFunctionAsyncConfig"]["Properties"]["Qualifier"] == "live"


def test_reserved_concurrency_is_a_parameter_off_by_default() -> None:
    assert TEMPLATE["Parameters"]["ReservedConcurrency"]["Default"] == 0
    assert FUNCTION["ReservedConcurrentExecutions"]["Fn::If"][0] == "HasReservedConcurrency"


def test_every_security_scan_suppression_says_why() -> None:
    skips = [
        skip
        for resource in RESOURCES.values()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert skips
    assert all(skip["id"].startswith("CKV") and len(skip.get("comment", "")) > 30 for skip in skips)


def test_eventbridge_delivery_is_off_by_default_and_dead_letters_what_fails() -> None:
    assert TEMPLATE["Parameters"]["StripeEventBusName"]["Default"] == ""
    rule = RESOURCES["StripeEventRule"]
    assert rule["Condition"] == "UseEventBridge"
    assert rule["Properties"]["EventPattern"] == {"source": [{"prefix": "aws.partner/stripe.com"}]}
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Ref": "WebhookFunction.Alias"}  # the published version (SnapStart's)
    assert RESOURCES["StripeEventRulePermission"]["Properties"]["FunctionName"] == {
        "Ref": "WebhookFunction.Alias"
    }
    assert targets(target["DeadLetterConfig"]["Arn"]) == {"EventBridgeDeadLetterQueue"}
    async_config = RESOURCES["WebhookFunctionAsyncConfig"]["Properties"]
    assert targets(async_config["DestinationConfig"]["OnFailure"]["Destination"]) == {
        "EventBridgeDeadLetterQueue"
    }
    assert RESOURCES["StripeEventRulePermission"]["Properties"]["Principal"] == "events.amazonaws.com"


def test_thin_events_are_off_until_enabled_with_their_own_secret() -> None:
    from stripe_webhook.edges.api_gateway import THIN_RESOURCE
    from stripe_webhook.edges.eventbridge import SOURCE_PREFIX as EVENTBRIDGE_SOURCE_PREFIX

    assert TEMPLATE["Parameters"]["EnableThinEvents"]["Default"] == "false"
    assert RESOURCES["ThinWebhookSecret"]["Condition"] == "ThinEvents"
    assert "SecretString" not in RESOURCES["ThinWebhookSecret"]["Properties"]
    assert FUNCTION["Events"]["StripeThinWebhook"]["Properties"]["Path"] == THIN_RESOURCE
    assert EVENTBRIDGE_SOURCE_PREFIX == "aws.partner/stripe.com"


def test_the_idempotency_table_is_the_one_powertools_expects() -> None:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    layer = DynamoDBPersistenceLayer(table_name="t", boto3_client=object())  # type: ignore[arg-type]
    table = RESOURCES["ActionsIdempotencyTable"]["Properties"]
    assert table["KeySchema"] == [{"AttributeName": layer.key_attr, "KeyType": "HASH"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": layer.expiry_attr, "Enabled": True}


def test_every_function_runs_the_same_runtime_on_arm_from_functions() -> None:
    """The webhook (Globals) and each module's function: one runtime, one architecture, one code
    directory, and a service name of its own."""
    from infra import REPO_ROOT
    from infra.template import load_module

    shared = TEMPLATE["Globals"]["Function"]
    assert shared["CodeUri"] == "functions/" and shared["Runtime"] == "python3.13"
    assert shared["Architectures"] == ["arm64"]
    assert set(shared["Environment"]["Variables"]) == {"POWERTOOLS_LOG_LEVEL", "AWS_ENDPOINT_URL"}
    functions = [r for r in RESOURCES.values() if r["Type"] == "AWS::Serverless::Function"]
    assert len(functions) == 1  # the webhook; the reconciler and each action are modules
    for name in ("action", "reconciler"):
        (function,) = [
            r for r in load_module(name)["Resources"].values() if r["Type"] == "AWS::Serverless::Function"
        ]
        own = function["Properties"]
        assert own["Runtime"] == shared["Runtime"] and own["Architectures"] == shared["Architectures"]
        assert (REPO_ROOT / "infra" / "modules" / own["CodeUri"]).resolve() == REPO_ROOT / "functions"
        variables = own["Environment"]["Variables"]
        assert {"POWERTOOLS_LOG_LEVEL", "AWS_ENDPOINT_URL", "POWERTOOLS_SERVICE_NAME"} <= set(variables)
        assert variables["AWS_ENDPOINT_URL"] == ""


def test_tracing_is_the_same_for_the_api_the_topic_and_every_function_one_parameter() -> None:
    """Issue 37 turned tracing on: one parameter (default Active) for every hop that can trace.
    (Before it this test said "off"; an HTTP API cannot trace: X-Ray supports REST APIs only.)"""
    assert TEMPLATE["Parameters"]["Tracing"]["Default"] == "Active"
    assert RESOURCES["WebhookApi"]["Properties"]["TracingEnabled"] == {"Fn::If": ["Traced", True, False]}
    assert TEMPLATE["Globals"]["Function"]["Tracing"] == {"Ref": "Tracing"}
    assert RESOURCES["EventsTopic"]["Properties"]["TracingConfig"] == {"Ref": "Tracing"}
    assert RESOURCES["Reconciler"]["Properties"]["Parameters"]["Tracing"] == {"Ref": "Tracing"}
    functions = [r for r in RESOURCES.values() if r["Type"] == "AWS::Serverless::Function"]
    assert all("Tracing" not in function["Properties"] for function in functions)  # the Globals' one
    action = load_module("action")["Resources"]["Function"]["Properties"]
    assert action["Tracing"] == {"Fn::Select": [{"Fn::FindInMap": ["Kit", "Tracing", "At"]}, {"Ref": "Kit"}]}
    kit = RESOURCES["ActionKit"]["Properties"]["Value"]["Fn::Join"][1]
    assert kit[11] == {"Ref": "Tracing"}
    for role in ("WebhookRole",):
        managed = RESOURCES[role]["Properties"]["ManagedPolicyArns"]["Fn::If"]
        assert managed[0] == "Traced" and "AWSXRayDaemonWriteAccess" in managed[1][0]["Fn::Sub"]


def test_what_holds_data_outlives_the_stack_and_queues_keep_messages_for_a_chosen_time() -> None:
    kept = [
        logical
        for logical, resource in RESOURCES.items()
        if resource["Type"] in ("AWS::SecretsManager::Secret", "AWS::DynamoDB::Table", "AWS::S3::Bucket")
        or logical.endswith("DeadLetterQueue")
    ]
    assert (
        len(kept) == 7
    )  # 2 secrets, 3 tables, the bucket, EventBridge's dead-letter queue (others: queue.yaml)
    for logical in kept:
        assert RESOURCES[logical]["DeletionPolicy"] == RESOURCES[logical]["UpdateReplacePolicy"] == "Retain"
    for logical, resource in RESOURCES.items():
        if resource["Type"] != "AWS::SQS::Queue":
            continue
        retention = resource["Properties"]["MessageRetentionPeriod"]
        redrive = resource["Properties"].get("RedrivePolicy")
        if redrive is not None:  # a message keeps its first enqueue time in the dead-letter queue
            dead_letter = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
            assert retention < RESOURCES[dead_letter]["Properties"]["MessageRetentionPeriod"], logical


def test_tables_use_dynamodbs_own_key_at_no_kms_cost() -> None:
    tables = [r for r in RESOURCES.values() if r["Type"] == "AWS::DynamoDB::Table"]
    assert tables and all("SSESpecification" not in table["Properties"] for table in tables)


def test_the_root_template_reads_in_one_sitting_in_the_data_s_order() -> None:
    """At most 900 lines, in sections that follow an event: the API, the function, other ways in,
    what it keeps and publishes, its consumers, then what watches it; optional parts are modules."""
    text = (REPO_ROOT / "template.yaml").read_text()
    assert len(text.splitlines()) <= 900
    sections = re.findall(r"^  # --- (\d+b?)\. ", text, flags=re.MULTILINE)
    assert sections == ["1", "2", "2b", "3", "4", "5"]
    modules = {
        resource["Properties"]["Location"]
        for resource in RESOURCES.values()
        if resource["Type"] == "AWS::Serverless::Application"
    }
    assert modules == {
        "infra/modules/action.yaml",
        "infra/modules/queue.yaml",
        "infra/modules/monitoring.yaml",
        "infra/modules/reconciler.yaml",
    }
