# Read by Atlas with `terraform output -json`; keyed by Atlas region name so
# the witness (which has no cloud resources) is simply absent.

output "regions" {
  description = "Per data region: AWS region, audit bucket, transaction queue, dead-letter queue and replication role."
  value = {
    (var.primary_region.name) = {
      aws_region             = var.primary_region.aws_region
      role                   = "primary"
      audit_bucket_name      = module.primary.audit_bucket_name
      audit_bucket_arn       = module.primary.audit_bucket_arn
      queue_name             = module.primary.queue_name
      queue_url              = module.primary.queue_url
      queue_arn              = module.primary.queue_arn
      dead_letter_queue_name = module.primary.dead_letter_queue_name
      dead_letter_queue_url  = module.primary.dead_letter_queue_url
      dead_letter_queue_arn  = module.primary.dead_letter_queue_arn
      replication_role_arn   = module.primary.replication_role_arn
      replicates_to_bucket   = var.replication_enabled ? module.secondary.audit_bucket_name : null
    }
    (var.secondary_region.name) = {
      aws_region             = var.secondary_region.aws_region
      role                   = "secondary"
      audit_bucket_name      = module.secondary.audit_bucket_name
      audit_bucket_arn       = module.secondary.audit_bucket_arn
      queue_name             = module.secondary.queue_name
      queue_url              = module.secondary.queue_url
      queue_arn              = module.secondary.queue_arn
      dead_letter_queue_name = module.secondary.dead_letter_queue_name
      dead_letter_queue_url  = module.secondary.dead_letter_queue_url
      dead_letter_queue_arn  = module.secondary.dead_letter_queue_arn
      replication_role_arn   = module.secondary.replication_role_arn
      replicates_to_bucket   = var.replication_enabled ? module.primary.audit_bucket_name : null
    }
  }
}

output "localstack_endpoint" {
  description = "The emulator endpoint the stacks were created against."
  value       = var.localstack_endpoint
}
