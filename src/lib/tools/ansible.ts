/** argv of ansible-playbook as Atlas runs it: from ansible/, with one extra-vars JSON file. */
export const ANSIBLE_ENV: Readonly<Record<string, string>> = {
  // line-oriented output for Atlas's log, no cowsay, no colour codes
  ANSIBLE_NOCOLOR: '1',
  ANSIBLE_FORCE_COLOR: '0',
  ANSIBLE_NOCOWS: '1',
  ANSIBLE_RETRY_FILES_ENABLED: '0',
}

export function ansiblePlaybookArgs(options: {extraVarsFile: string; playbook?: string; tags?: string[]}): string[] {
  const args = ['-i', 'inventory/hosts.yml', options.playbook ?? 'site.yml', '-e', `@${options.extraVarsFile}`]
  if (options.tags && options.tags.length > 0) args.push('--tags', options.tags.join(','))
  return args
}
