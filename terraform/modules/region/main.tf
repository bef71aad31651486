# One region's cloud stack: an S3 audit bucket (versioned, encrypted, private,
# with a lifecycle), an SQS transaction queue with its dead-letter queue, and
# the IAM role S3 assumes to replicate the audit bucket into the peer region.
#
# Names follow src/lib/cloud/names.ts (cloudResourceNames); the unit test
# test/unit/terraform-hcl.test.ts parses this file and fails if they drift.

locals {
  audit_bucket_name      = "${var.name_prefix}-audit-${var.region_name}"
  queue_name             = "${var.name_prefix}-transactions-${var.region_name}"
  dead_letter_queue_name = "${var.name_prefix}-transactions-${var.region_name}-dlq"
  replication_role_name  = "${var.name_prefix}-replication-${var.region_name}"
}

# ---------------------------------------------------------------- S3 audit --

resource "aws_s3_bucket" "audit" {
  # checkov:skip=CKV_AWS_145: SSE-S3 (AES256) below; LocalStack has no real KMS, and a KMS key would add a key policy to emulate for no protection
  # checkov:skip=CKV_AWS_18: the audit bucket is itself the audit trail; access logs would need another bucket per region that LocalStack only emulates
  # checkov:skip=CKV2_AWS_62: nothing consumes bucket events; verify reads the records directly
  bucket        = local.audit_bucket_name
  force_destroy = var.force_destroy
}

resource "aws_s3_bucket_versioning" "audit" {
  bucket = aws_s3_bucket.audit.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "audit" {
  bucket = aws_s3_bucket.audit.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_public_access_block" "audit" {
  bucket = aws_s3_bucket.audit.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_lifecycle_configuration" "audit" {
  bucket = aws_s3_bucket.audit.id

  # Lifecycle rules on a versioned bucket must wait for versioning.
  depends_on = [aws_s3_bucket_versioning.audit]

  rule {
    id     = "expire-noncurrent-audit-versions"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.audit_noncurrent_version_expiration_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

# --------------------------------------------------------------- SQS queue --

resource "aws_sqs_queue" "dead_letter" {
  name                      = local.dead_letter_queue_name
  message_retention_seconds = var.dead_letter_retention_seconds
  sqs_managed_sse_enabled   = true
}

resource "aws_sqs_queue" "transactions" {
  name                       = local.queue_name
  visibility_timeout_seconds = var.queue_visibility_timeout_seconds
  sqs_managed_sse_enabled    = true

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dead_letter.arn
    maxReceiveCount     = var.queue_max_receive_count
  })
}

# Only the transaction queue may use the DLQ.
resource "aws_sqs_queue_redrive_allow_policy" "dead_letter" {
  queue_url = aws_sqs_queue.dead_letter.id

  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.transactions.arn]
  })
}

# ------------------------------------------------------- S3 replication --

data "aws_iam_policy_document" "replication_assume" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["s3.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "replication" {
  name               = local.replication_role_name
  assume_role_policy = data.aws_iam_policy_document.replication_assume.json
}

data "aws_iam_policy_document" "replication" {
  statement {
    sid       = "ReadSourceBucket"
    effect    = "Allow"
    actions   = ["s3:GetReplicationConfiguration", "s3:ListBucket"]
    resources = [aws_s3_bucket.audit.arn]
  }

  statement {
    sid    = "ReadSourceObjects"
    effect = "Allow"
    actions = [
      "s3:GetObjectVersionForReplication",
      "s3:GetObjectVersionAcl",
      "s3:GetObjectVersionTagging",
    ]
    resources = ["${aws_s3_bucket.audit.arn}/*"]
  }

  dynamic "statement" {
    for_each = var.replication_enabled ? [var.replication_destination_bucket_arn] : []

    content {
      sid    = "WriteDestinationObjects"
      effect = "Allow"
      actions = [
        "s3:ReplicateObject",
        "s3:ReplicateDelete",
        "s3:ReplicateTags",
      ]
      resources = ["${statement.value}/*"]
    }
  }
}

resource "aws_iam_role_policy" "replication" {
  name   = "${local.replication_role_name}-policy"
  role   = aws_iam_role.replication.id
  policy = data.aws_iam_policy_document.replication.json
}

resource "aws_s3_bucket_replication_configuration" "audit" {
  count = var.replication_enabled ? 1 : 0

  bucket = aws_s3_bucket.audit.id
  role   = aws_iam_role.replication.arn

  # S3 rejects a replication configuration on an unversioned source bucket.
  depends_on = [aws_s3_bucket_versioning.audit, aws_iam_role_policy.replication]

  rule {
    id     = "replicate-audit-to-peer-region"
    status = "Enabled"

    filter {}

    delete_marker_replication {
      status = "Enabled"
    }

    destination {
      bucket        = var.replication_destination_bucket_arn
      storage_class = "STANDARD"
    }
  }

  lifecycle {
    precondition {
      condition     = var.replication_destination_bucket_arn != null
      error_message = "replication_enabled requires replication_destination_bucket_arn."
    }
  }
}
