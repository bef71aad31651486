output "audit_bucket_name" {
  description = "Name of the audit bucket."
  value       = aws_s3_bucket.audit.bucket
}

output "audit_bucket_arn" {
  description = "ARN of the audit bucket; available only once versioning is on, because it is used as a replication destination."
  value       = aws_s3_bucket.audit.arn
  depends_on  = [aws_s3_bucket_versioning.audit]
}

output "queue_name" {
  description = "Name of the transaction queue."
  value       = aws_sqs_queue.transactions.name
}

output "queue_url" {
  description = "URL of the transaction queue."
  value       = aws_sqs_queue.transactions.id
}

output "queue_arn" {
  description = "ARN of the transaction queue."
  value       = aws_sqs_queue.transactions.arn
}

output "dead_letter_queue_name" {
  description = "Name of the dead-letter queue."
  value       = aws_sqs_queue.dead_letter.name
}

output "dead_letter_queue_url" {
  description = "URL of the dead-letter queue."
  value       = aws_sqs_queue.dead_letter.id
}

output "dead_letter_queue_arn" {
  description = "ARN of the dead-letter queue."
  value       = aws_sqs_queue.dead_letter.arn
}

output "replication_role_arn" {
  description = "ARN of the IAM role S3 assumes to replicate the audit bucket."
  value       = aws_iam_role.replication.arn
}
