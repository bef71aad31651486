/**
 * Secrets never reach logs, error messages or --json output. Everything printed
 * or written by the runner, the logger and the base command passes through here.
 */
const REDACTED = '***'

const PATTERNS: Array<[RegExp, string]> = [
  // user:password@ in URLs (postgres://, http://)
  [/(\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@]+:)[^\s@/]+@/gi, `$1${REDACTED}@`],
  // password=..., PGPASSWORD=..., secret_key: ..., token=...
  [
    /\b((?:[A-Z0-9_]*PASSWORD|[A-Z0-9_]*SECRET[A-Z0-9_]*|[A-Z0-9_]*TOKEN|password|passwd|secret|token|secret_access_key|aws_secret_access_key)\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s,;&]+)/gi,
    `$1${REDACTED}`,
  ],
]

const knownSecrets = new Set<string>()

/** Register a secret value (e.g. a generated password) so that it is masked everywhere. */
export function registerSecret(value: string | undefined): void {
  if (value && value.length >= 4) knownSecrets.add(value)
}

export function redact(text: string, extraSecrets: readonly string[] = []): string {
  let out = text
  for (const secret of [...knownSecrets, ...extraSecrets]) {
    if (secret && secret.length >= 4) out = out.split(secret).join(REDACTED)
  }

  for (const [pattern, replacement] of PATTERNS) out = out.replace(pattern, replacement)
  return out
}

/** Deep-redacts string values of a JSON-able object (keys that name secrets are masked whole). */
export function redactObject<T>(value: T, extraSecrets: readonly string[] = []): T {
  const secretKey = /password|secret|token|private.?key/i
  const walk = (v: unknown, key?: string): unknown => {
    if (typeof v === 'string') return key && secretKey.test(key) ? REDACTED : redact(v, extraSecrets)
    if (Array.isArray(v)) return v.map((item) => walk(item))
    if (v && typeof v === 'object' && !(v instanceof Date)) {
      return Object.fromEntries(Object.entries(v).map(([k, item]) => [k, walk(item, k)]))
    }

    return v
  }

  return walk(value) as T
}
