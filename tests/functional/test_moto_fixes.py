"""The local target's fixes to moto (deviations.py gap 7), each shown against moto's own server first:
the defect is there without the fix and gone with it. When a moto upgrade fixes one upstream, its
"without" test fails and says the fix can go."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError

from payments_cli.local.emulator import MotoServer, emulator_client

pytestmark = pytest.mark.functional

PLAIN, FIXED = "moto.server", "payments_cli.local.moto_server"


@pytest.fixture(scope="module", params=[PLAIN, FIXED])
def emulator(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """(module, endpoint) of a moto server started for this module."""
    server = MotoServer(module=request.param)
    server.start()
    try:
        yield request.param, server.endpoint
    finally:
        server.stop()


def test_each_db_instance_gets_its_own_resource_id(emulator: tuple[str, str]) -> None:
    module, endpoint = emulator
    rds = emulator_client(endpoint, "rds")
    for name in ("payment-db-dev-alpha", "payment-db-dev-beta"):
        rds.create_db_instance(
            DBInstanceIdentifier=name,
            DBInstanceClass="db.t4g.micro",
            Engine="postgres",
            AllocatedStorage=20,
            MasterUsername="admin",
            ManageMasterUserPassword=True,
        )
    ids = {d["DbiResourceId"] for d in rds.describe_db_instances()["DBInstances"]}
    # What the aws provider does on every read: find the instance by its resource id.
    found = [
        rds.describe_db_instances(Filters=[{"Name": "dbi-resource-id", "Values": [i]}])["DBInstances"] for i in ids
    ]
    if module == PLAIN:
        assert len(ids) == 1 and len(found[0]) == 2, "moto fixed DbiResourceId upstream: drop the fix"
    else:
        assert len(ids) == 2 and all(len(f) == 1 for f in found)
        assert all(i.startswith("db-") and len(i) == 29 for i in ids)


def test_a_versioned_bucket_with_a_delete_marker_can_be_emptied_and_deleted(emulator: tuple[str, str]) -> None:
    module, endpoint = emulator
    s3 = emulator_client(endpoint, "s3")
    bucket = "payment-tfstate-dev-beta"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    # Terraform's S3 lock: written, then deleted (a delete marker), then written again by the next run.
    for _ in range(2):
        s3.put_object(Bucket=bucket, Key="payments/dev/terraform.tfstate.tflock", Body=b"{}")
        s3.delete_object(Bucket=bucket, Key="payments/dev/terraform.tfstate.tflock")
    # Destroying the stack removes aws_s3_bucket_versioning first, which suspends versioning; then the
    # bucket's force_destroy deletes every version and marker, then the bucket.
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    listed = s3.list_object_versions(Bucket=bucket)
    objects = [
        {"Key": v["Key"], "VersionId": v["VersionId"]} for v in listed.get("Versions", []) + listed["DeleteMarkers"]
    ]
    if module == PLAIN:
        # If this stops raising, moto fixed deleting delete markers upstream: drop the fix.
        with pytest.raises(ClientError) as raised:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": objects})
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
        return
    result = s3.delete_objects(Bucket=bucket, Delete={"Objects": objects})
    assert not result.get("Errors")
    s3.delete_bucket(Bucket=bucket)
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_a_queues_redrive_policy_comes_back_compact_as_sqs_gives_it(emulator: tuple[str, str]) -> None:
    module, endpoint = emulator
    sqs = emulator_client(endpoint, "sqs")
    dead = sqs.create_queue(QueueName="payment-webhook-attempts-dlq-dev-beta")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = f'{{"deadLetterTargetArn":"{arn}","maxReceiveCount":5}}'  # as Terraform's configuration writes it
    url = sqs.create_queue(QueueName="payment-webhook-attempts-dev-beta", Attributes={"RedrivePolicy": policy})[
        "QueueUrl"
    ]
    answered = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])["Attributes"]["RedrivePolicy"]
    if module == PLAIN:
        assert answered != policy and " " in answered, "moto answers RedrivePolicy compact upstream: drop the fix"
    else:
        assert answered == policy
