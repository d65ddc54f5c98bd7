# A small payment service written by hand in HCL, the way a team that does not use this repository's CDK
# app would write it: a transaction-log bucket, the application's database login secret, a PostgreSQL
# instance, a Python function and a REST API in front of it. This is the corrected version of
# ../deploy_failures/main.tf: every name AWS requires to be unique carries the deployment suffix, the
# database says it is private and single- or multi-AZ, the function holds a grant for everything its
# environment names, its package is a real zip, API Gateway may invoke it, and the deployment is
# redeployed when what it serves changes.
#
# tests/preflight/test_hcl_plan.py plans it with the real terraform against a moto server
# (`-var aws_endpoint=http://127.0.0.1:PORT`) and checks the plan JSON with `payments check`.

terraform {
  required_version = ">= 1.10.0"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "5.100.0"
    }
  }
  # Partial configuration: a backend block cannot read variables, so each deployment names its own state
  # bucket at init: `terraform init -backend-config=bucket=terraform-state-payment-processing-<suffix>`.
  # S3-native locking (a .tflock object beside the state, no shared lock table) needs Terraform >= 1.10.
  backend "s3" {
    key          = "payment-processing/terraform.tfstate"
    region       = "us-east-1"
    encrypt      = true
    use_lockfile = true
  }
}

variable "environment" {
  description = "dev, staging or prod"
  type        = string
  default     = "dev"
}

variable "environment_suffix" {
  description = "The deployment's suffix (pr42, alice): every name AWS requires to be unique carries it"
  type        = string
  validation {
    condition     = can(regex("^[a-z0-9]+(-[a-z0-9]+)*$", var.environment_suffix)) && length(var.environment_suffix) <= 20
    error_message = "1-20 lower-case letters, digits and single hyphens."
  }
}

variable "region" {
  description = "AWS region"
  type        = string
  default     = "us-east-1"
}

variable "aws_endpoint" {
  description = "An AWS emulator's URL (moto server) for every service; null for real AWS"
  type        = string
  default     = null
}

variable "lambda_package" {
  description = "The function's zip, relative to this folder (built from src/ before planning)"
  type        = string
  default     = "build/processor.zip"
}

locals {
  # One place builds every unique name: payment-<purpose>-<environment>-<suffix>.
  name       = "${var.environment}-${var.environment_suffix}"
  emulated   = var.aws_endpoint != null
  production = var.environment == "prod"
  function   = "payment-processor-${local.name}"
  account    = data.aws_caller_identity.current.account_id
}

provider "aws" {
  region = var.region
  # Emulator credentials only; against real AWS the usual credential chain applies.
  access_key                  = local.emulated ? "test" : null
  secret_key                  = local.emulated ? "test" : null
  skip_credentials_validation = local.emulated
  skip_metadata_api_check     = local.emulated
  s3_use_path_style           = local.emulated
  # Kept false even on moto: with it true, execution ARNs lack the account id and plans never converge.
  skip_requesting_account_id = false

  endpoints {
    apigateway     = var.aws_endpoint
    cloudwatchlogs = var.aws_endpoint
    iam            = var.aws_endpoint
    kms            = var.aws_endpoint
    lambda         = var.aws_endpoint
    rds            = var.aws_endpoint
    s3             = var.aws_endpoint
    secretsmanager = var.aws_endpoint
    sts            = var.aws_endpoint
  }

  default_tags {
    tags = {
      Project           = "payments"
      Environment       = var.environment
      EnvironmentSuffix = var.environment_suffix
    }
  }
}

data "aws_caller_identity" "current" {}

# --- encryption ---------------------------------------------------------------------------------------

resource "aws_kms_key" "main" {
  description             = "payments ${local.name}: transaction log, secrets, database, logs"
  enable_key_rotation     = true
  deletion_window_in_days = 7
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "Account"
        Effect    = "Allow"
        Principal = { AWS = "arn:aws:iam::${local.account}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        # CloudWatch Logs encrypts the function's log group with this key.
        Sid       = "Logs"
        Effect    = "Allow"
        Principal = { Service = "logs.${var.region}.amazonaws.com" }
        Action    = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
      },
    ]
  })
}

# --- transaction log ----------------------------------------------------------------------------------

resource "aws_s3_bucket" "transaction_logs" {
  bucket        = "payment-transaction-logs-${local.name}"
  force_destroy = !local.production
}

resource "aws_s3_bucket_versioning" "transaction_logs" {
  bucket = aws_s3_bucket.transaction_logs.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "transaction_logs" {
  bucket = aws_s3_bucket.transaction_logs.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.main.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "transaction_logs" {
  bucket                  = aws_s3_bucket.transaction_logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

# --- database -----------------------------------------------------------------------------------------

# The application's login (a least-privileged role, not the master user); its value is set by the
# migration job, never by Terraform, so no password is in the state.
resource "aws_secretsmanager_secret" "db_password" {
  name                    = "payment-db-password-${local.name}"
  kms_key_id              = aws_kms_key.main.arn
  recovery_window_in_days = local.production ? 30 : 0
}

resource "aws_db_parameter_group" "main" {
  name   = "payment-db-${local.name}"
  family = "postgres15"
  parameter {
    # Sized against the function's reserved concurrency (one connection per execution environment).
    name         = "max_connections"
    value        = "100"
    apply_method = "pending-reboot"
  }
}

resource "aws_db_instance" "main" {
  identifier                  = "payment-db-${local.name}"
  engine                      = "postgres"
  engine_version              = "15"
  instance_class              = "db.t3.micro"
  allocated_storage           = 20
  db_name                     = "payments"
  username                    = "payments_owner"
  manage_master_user_password = true
  parameter_group_name        = aws_db_parameter_group.main.name
  storage_encrypted           = true
  kms_key_id                  = aws_kms_key.main.arn
  deletion_protection         = local.production
  skip_final_snapshot         = !local.production
  final_snapshot_identifier   = "payment-db-${local.name}-final"
  multi_az                    = local.production
  publicly_accessible         = false
}

# --- function -----------------------------------------------------------------------------------------

resource "aws_iam_role" "processor" {
  name = "payment-processor-${local.name}"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "lambda.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_cloudwatch_log_group" "processor" {
  name              = "/aws/lambda/${local.function}"
  retention_in_days = local.production ? 365 : 14
  kms_key_id        = aws_kms_key.main.arn
}

# Logging, with the ARN built from names the plan knows: the policy's JSON is then in the plan itself.
resource "aws_iam_role_policy" "logs" {
  name = "payment-processor-logs-${local.name}"
  role = aws_iam_role.processor.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "Logs"
      Effect   = "Allow"
      Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
      Resource = "arn:aws:logs:${var.region}:${local.account}:log-group:${aws_cloudwatch_log_group.processor.name}:*"
    }]
  })
}

# Exactly what the code calls, on the resources' own ARNs. Those are known only after apply: a jsonencode()
# over them would be unknown as a whole, and `terraform show -json` would hold no statement of it, only the
# resources it refers to; an aws_iam_policy_document keeps each statement's actions and references.
data "aws_iam_policy_document" "processor" {
  statement {
    sid       = "WriteTransactionEvents"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.transaction_logs.arn}/*"]
  }
  statement {
    sid       = "ReadLogin"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.db_password.arn]
  }
  statement {
    # The bucket and the secret are encrypted with this key.
    sid       = "UseKey"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [aws_kms_key.main.arn]
  }
}

resource "aws_iam_role_policy" "processor" {
  name   = "payment-processor-${local.name}"
  role   = aws_iam_role.processor.id
  policy = data.aws_iam_policy_document.processor.json
}

resource "aws_lambda_function" "processor" {
  function_name                  = local.function
  role                           = aws_iam_role.processor.arn
  runtime                        = "python3.11"
  handler                        = "app.handler"
  filename                       = var.lambda_package
  source_code_hash               = filebase64sha256(var.lambda_package)
  timeout                        = 10
  reserved_concurrent_executions = 20
  environment {
    variables = {
      TRANSACTION_LOG_BUCKET = aws_s3_bucket.transaction_logs.bucket
      DB_SECRET_ARN          = aws_secretsmanager_secret.db_password.arn
      DB_HOST                = aws_db_instance.main.address
    }
  }
  depends_on = [aws_cloudwatch_log_group.processor, aws_iam_role_policy.logs, aws_iam_role_policy.processor]
}

# --- API ----------------------------------------------------------------------------------------------

resource "aws_api_gateway_rest_api" "payments" {
  name = "payments-${local.name}"
}

resource "aws_api_gateway_resource" "payments" {
  rest_api_id = aws_api_gateway_rest_api.payments.id
  parent_id   = aws_api_gateway_rest_api.payments.root_resource_id
  path_part   = "payments"
}

resource "aws_api_gateway_method" "create_payment" {
  rest_api_id   = aws_api_gateway_rest_api.payments.id
  resource_id   = aws_api_gateway_resource.payments.id
  http_method   = "POST"
  authorization = "AWS_IAM"
}

resource "aws_api_gateway_integration" "create_payment" {
  rest_api_id             = aws_api_gateway_rest_api.payments.id
  resource_id             = aws_api_gateway_resource.payments.id
  http_method             = aws_api_gateway_method.create_payment.http_method
  integration_http_method = "POST"
  type                    = "AWS_PROXY"
  uri                     = aws_lambda_function.processor.invoke_arn
}

# API Gateway invokes the function with the function's resource policy, for this one method only.
resource "aws_lambda_permission" "api_create_payment" {
  statement_id  = "AllowApiGatewayCreatePayment"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.processor.function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_api_gateway_rest_api.payments.execution_arn}/*/POST/payments"
}

resource "aws_api_gateway_deployment" "payments" {
  rest_api_id = aws_api_gateway_rest_api.payments.id
  triggers = {
    redeployment = sha1(jsonencode([
      aws_api_gateway_resource.payments.id,
      aws_api_gateway_method.create_payment.id,
      aws_api_gateway_integration.create_payment.id,
      aws_lambda_permission.api_create_payment.id,
    ]))
  }
  lifecycle {
    create_before_destroy = true
  }
  depends_on = [aws_api_gateway_integration.create_payment, aws_lambda_permission.api_create_payment]
}

resource "aws_api_gateway_stage" "v1" {
  rest_api_id   = aws_api_gateway_rest_api.payments.id
  deployment_id = aws_api_gateway_deployment.payments.id
  stage_name    = "v1"
}

output "invoke_url" {
  value = "${aws_api_gateway_stage.v1.invoke_url}/payments"
}
