/**
 * argv of the Terraform commands Atlas runs. Kept in one place so the k3d
 * world, its dry-run plan and the tests agree on them. All run in the staged
 * copy of terraform/ (see world/k3d), never in the package directory.
 */
export const TERRAFORM_ENV: Readonly<Record<string, string>> = {
  // tells Terraform not to suggest interactive next steps in its output
  TF_IN_AUTOMATION: '1',
  TF_INPUT: '0',
}

export const terraformArgs = {
  init: (): string[] => ['init', '-input=false', '-no-color'],
  apply: (): string[] => ['apply', '-input=false', '-auto-approve', '-no-color'],
  outputJson: (): string[] => ['output', '-json', '-no-color'],
  destroy: (): string[] => ['destroy', '-input=false', '-auto-approve', '-no-color'],
}

/** Terraform's tfvars file name that it loads automatically from the working directory. */
export const TFVARS_FILE = 'atlas.auto.tfvars.json'
