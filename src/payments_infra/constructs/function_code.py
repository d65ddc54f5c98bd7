"""Function code: the Lambda package as an object in a private, versioned bucket of the deployment's own.

The functions take their code from S3, not from a local ``filename``: the aws provider uploads a
``filename`` package under a lock of its own, one function at a time (~7 s each with its wait: 28 s for
four on the critical path of every deploy that changes the code), while from S3 Lambda copies the code
itself and every function is created at once. The key carries the package's SHA-256, so a new build is a
new object and the functions move to it together; the functions keep ``source_code_hash`` as before.
"""

from __future__ import annotations

import base64

from cdktn import TerraformAsset
from cdktn_aws import s3
from constructs import Construct

from payments_infra.constructs.encryption import EncryptionKey
from payments_infra.constructs.secure_bucket import SecureBucket
from payments_infra.environments import EnvironmentConfig
from payments_infra.lambda_build import LambdaPackage
from payments_infra.naming import Naming

#: Where packages go in the bucket: ``payment_processor/<sha256 hex>.zip``.
PACKAGE_PREFIX = "payment_processor/"


class FunctionCode(SecureBucket):
    """The code bucket, encrypted with the deployment's key like every bucket of the platform (Lambda reads
    the package with the rights of whoever deploys), and the package object the functions are created from."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: EnvironmentConfig,
        naming: Naming,
        key: EncryptionKey,
        package: LambdaPackage,
        asset: TerraformAsset,
    ) -> None:
        super().__init__(
            scope,
            id_,
            name=naming.bucket("code"),
            force_destroy=config.bucket_force_destroy,
            key=key,
            lifecycle=[
                s3.AwsBucketLifecycleConfiguration.RuleProperty(
                    id="expire-replaced-packages",
                    status="Enabled",
                    filter=[s3.AwsBucketLifecycleConfiguration.FilterProperty(prefix=PACKAGE_PREFIX)],
                    noncurrent_version_expiration=[
                        s3.AwsBucketLifecycleConfiguration.NoncurrentVersionExpirationProperty(noncurrent_days=30)
                    ],
                    abort_incomplete_multipart_upload=[
                        s3.AwsBucketLifecycleConfiguration.AbortIncompleteMultipartUploadProperty(
                            days_after_initiation=1
                        )
                    ],
                )
            ],
        )
        digest = base64.b64decode(package.source_code_hash).hex()
        self.package = s3.AwsObject(
            self,
            "package",
            bucket=self.bucket.id,
            key=f"{PACKAGE_PREFIX}{digest}.zip",
            source=asset.path,
            # What tells terraform the bytes changed (an etag is not an MD5 under SSE-KMS, and the key changes
            # with the hash anyway).
            source_hash=package.source_code_hash,
            content_type="application/zip",
        )

    @property
    def key(self) -> str:
        """The package object's key."""
        return self.package.key
