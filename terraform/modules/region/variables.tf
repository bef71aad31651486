variable "name_prefix" {
  description = "Prefix of every resource name (cloud.prefix in atlas.yaml)."
  type        = string
}

variable "region_name" {
  description = "Atlas region name (e.g. us); part of every resource name."
  type        = string
}

variable "replication_enabled" {
  description = "Create the replication configuration from this region's audit bucket to replication_destination_bucket_arn."
  type        = bool
  default     = false
}

variable "replication_destination_bucket_arn" {
  description = "ARN of the peer region's audit bucket that this region's audit objects are replicated into; its versioning must already be enabled."
  type        = string
  default     = null
}

variable "queue_max_receive_count" {
  description = "Receives after which a transaction message is moved to the dead-letter queue."
  type        = number
  default     = 5

  validation {
    condition     = var.queue_max_receive_count >= 1 && var.queue_max_receive_count <= 1000
    error_message = "SQS accepts a maxReceiveCount between 1 and 1000."
  }
}

variable "queue_visibility_timeout_seconds" {
  description = "Visibility timeout of the transaction queue, in seconds."
  type        = number
  default     = 30
}

variable "dead_letter_retention_seconds" {
  description = "How long dead-lettered transaction messages are kept, in seconds (SQS maximum: 14 days)."
  type        = number
  default     = 1209600
}

variable "audit_noncurrent_version_expiration_days" {
  description = "Days after which non-current versions of audit objects expire."
  type        = number
  default     = 90
}

variable "force_destroy" {
  description = "Allow destroying the audit bucket while it still holds objects."
  type        = bool
  default     = false
}
