# One regional stack per data region, each through its own aliased provider.
# Each module gets the other region's audit bucket ARN so that the buckets
# replicate into each other (us -> eu and eu -> us). Terraform resolves module
# inputs and outputs individually, so this mutual reference is not a cycle: a
# bucket never depends on its peer, only the replication resources do.

module "primary" {
  source = "./modules/region"

  providers = {
    aws = aws.primary
  }

  name_prefix                              = var.name_prefix
  region_name                              = var.primary_region.name
  replication_enabled                      = var.replication_enabled
  replication_destination_bucket_arn       = module.secondary.audit_bucket_arn
  queue_max_receive_count                  = var.queue_max_receive_count
  audit_noncurrent_version_expiration_days = var.audit_noncurrent_version_expiration_days
  force_destroy                            = var.force_destroy
}

module "secondary" {
  source = "./modules/region"

  providers = {
    aws = aws.secondary
  }

  name_prefix                              = var.name_prefix
  region_name                              = var.secondary_region.name
  replication_enabled                      = var.replication_enabled
  replication_destination_bucket_arn       = module.primary.audit_bucket_arn
  queue_max_receive_count                  = var.queue_max_receive_count
  audit_noncurrent_version_expiration_days = var.audit_noncurrent_version_expiration_days
  force_destroy                            = var.force_destroy
}
