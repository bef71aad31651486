# One aliased provider per provisioned region. Terraform cannot create provider
# configurations dynamically, so the two data regions are addressed by role
# (primary, secondary); their names and AWS regions come from atlas.yaml via
# the tfvars file Atlas renders. The witness region gets no cloud resources and
# therefore no provider.
#
# Every endpoint points at LocalStack (or any API-compatible emulator), and the
# checks that only make sense against real AWS are switched off.

provider "aws" {
  alias  = "primary"
  region = var.primary_region.aws_region

  access_key                  = var.localstack_access_key
  secret_key                  = var.localstack_secret_key
  s3_use_path_style           = true
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = true
  skip_region_validation      = true

  endpoints {
    iam = var.localstack_endpoint
    s3  = var.localstack_endpoint
    sqs = var.localstack_endpoint
    sts = var.localstack_endpoint
  }

  default_tags {
    tags = merge(var.tags, {
      "atlas:region" = var.primary_region.name
      "atlas:role"   = "primary"
    })
  }
}

provider "aws" {
  alias  = "secondary"
  region = var.secondary_region.aws_region

  access_key                  = var.localstack_access_key
  secret_key                  = var.localstack_secret_key
  s3_use_path_style           = true
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = true
  skip_region_validation      = true

  endpoints {
    iam = var.localstack_endpoint
    s3  = var.localstack_endpoint
    sqs = var.localstack_endpoint
    sts = var.localstack_endpoint
  }

  default_tags {
    tags = merge(var.tags, {
      "atlas:region" = var.secondary_region.name
      "atlas:role"   = "secondary"
    })
  }
}
