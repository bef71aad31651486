variable "localstack_endpoint" {
  description = "Base URL of the LocalStack (or other AWS-compatible emulator) endpoint used for S3, SQS, IAM and STS."
  type        = string
  default     = "http://127.0.0.1:4566"

  validation {
    condition     = can(regex("^https?://", var.localstack_endpoint))
    error_message = "The localstack_endpoint must be an http:// or https:// URL."
  }
}

variable "localstack_access_key" {
  description = "Access key sent to LocalStack. LocalStack accepts any value; 'test' is its documented default."
  type        = string
  default     = "test"
}

variable "localstack_secret_key" {
  description = "Secret key sent to LocalStack. LocalStack accepts any value; 'test' is its documented default."
  type        = string
  default     = "test"
  sensitive   = true
}

variable "name_prefix" {
  description = "Prefix of every cloud resource name; must match cloud.prefix in atlas.yaml (src/lib/cloud/names.ts computes the same names)."
  type        = string
  default     = "atlas"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,30}[a-z0-9]$", var.name_prefix))
    error_message = "The name_prefix must be 2-32 characters of lowercase letters, digits and hyphens, starting and ending with a letter or digit (it becomes part of S3 bucket names)."
  }
}

variable "primary_region" {
  description = "The primary data region: its Atlas name (e.g. us) and the AWS region it emulates (e.g. us-east-1)."
  type = object({
    name       = string
    aws_region = string
  })
  default = {
    name       = "us"
    aws_region = "us-east-1"
  }

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*$", var.primary_region.name))
    error_message = "The primary_region.name must be lowercase letters, digits and hyphens."
  }
}

variable "secondary_region" {
  description = "The secondary data region: its Atlas name (e.g. eu) and the AWS region it emulates (e.g. eu-central-1)."
  type = object({
    name       = string
    aws_region = string
  })
  default = {
    name       = "eu"
    aws_region = "eu-central-1"
  }

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*$", var.secondary_region.name))
    error_message = "The secondary_region.name must be lowercase letters, digits and hyphens."
  }
}

variable "replication_enabled" {
  description = "Replicate each audit bucket into the other data region's audit bucket (both directions)."
  type        = bool
  default     = true
}

variable "queue_max_receive_count" {
  description = "Receives after which a transaction message is moved to the dead-letter queue."
  type        = number
  default     = 5
}

variable "audit_noncurrent_version_expiration_days" {
  description = "Days after which non-current versions of audit objects are expired by the bucket lifecycle."
  type        = number
  default     = 90
}

variable "force_destroy" {
  description = "Allow 'terraform destroy' to delete non-empty audit buckets (true for the disposable simulated world)."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags applied to every resource in addition to the per-region atlas:region and atlas:role tags."
  type        = map(string)
  default = {
    "atlas:managed-by" = "terraform"
  }
}
