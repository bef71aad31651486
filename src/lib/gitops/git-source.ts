/**
 * The Git repository Argo CD syncs from: a git daemon in a container on the
 * shared Docker network, fed at start from what this `atlas up` rendered
 * (charts/ and the rendered tree as deploy/), committed inside the container.
 * So Argo CD deploys exactly the values `atlas render` produced from this
 * atlas.yaml, never a committed copy that may be stale.
 */
export const GIT_CONTAINER = 'atlas-git'
/**
 * Alpine 3.21 (git 2.47). Alpine ships `git daemon` in its own package,
 * git-daemon, which images with git alone (alpine/git installs only `git`)
 * lack: `git daemon` there fails with "'daemon' is not a git command". The
 * script installs it on the container's first start.
 */
export const GIT_IMAGE = 'alpine:3.21'
export const GIT_REPO = 'atlas'
/** what the ApplicationSets and the AppProject name (git daemon protocol, port 9418) */
export const GIT_REPO_URL = `git://${GIT_CONTAINER}/${GIT_REPO}`
/** where the rendered tree sits in that repository */
export const GIT_RENDERED_PATH = 'deploy'

/**
 * The container's script: git and its daemon (installed once: a restarted
 * container keeps them), a fresh repository from the read-only mounts, one
 * commit, then the daemon (exec: it is the container's process). Re-run as is
 * when Docker restarts the container.
 */
export const GIT_SERVE_SCRIPT = [
  // the daemon is a program in git's exec path (git-daemon); missing until the first start installed it
  '{ [ -x "$(git --exec-path 2>/dev/null)/git-daemon" ] || apk add --no-cache --quiet git git-daemon; }',
  `rm -rf /srv/${GIT_REPO}`,
  `mkdir -p /srv/${GIT_REPO}`,
  `cp -R /src/charts /src/${GIT_RENDERED_PATH} /srv/${GIT_REPO}/`,
  `cd /srv/${GIT_REPO}`,
  'git init --quiet --initial-branch=main',
  'git add --all',
  'git -c user.name=atlas -c user.email=atlas@localhost commit --quiet --message "atlas up: rendered tree"',
  'exec git daemon --reuseaddr --export-all --base-path=/srv --port=9418 /srv',
].join(' && ')

/** `docker run` argv of the git source (charts and the rendered tree mounted read-only). */
export function gitServeArgs(options: {chartsDir: string; network: string; renderedDir: string}): string[] {
  return [
    'run',
    '--detach',
    '--name',
    GIT_CONTAINER,
    '--network',
    options.network,
    '--restart',
    'unless-stopped',
    '--volume',
    `${options.chartsDir}:/src/charts:ro`,
    '--volume',
    `${options.renderedDir}:/src/${GIT_RENDERED_PATH}:ro`,
    '--entrypoint',
    '/bin/sh',
    GIT_IMAGE,
    '-ec',
    GIT_SERVE_SCRIPT,
  ]
}

/** Waits (inside the container) until the daemon serves the commit: up to 100 s, the first start installs git. */
export const GIT_READY_ARGS = [
  'exec',
  GIT_CONTAINER,
  '/bin/sh',
  '-c',
  `for i in $(seq 1 500); do git ls-remote git://127.0.0.1/${GIT_REPO} HEAD && exit 0; sleep 0.2; done; exit 1`,
]
