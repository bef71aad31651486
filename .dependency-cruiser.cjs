/**
 * The direction of dependencies inside src/ (README, "Layout"):
 *   commands -> chaos, report, backup -> ledger, world -> cloud, health, kube, tools, proc, gitops -> config, model, errors, wait
 * Adapters (cloud, health, kube, tools, proc) talk to one outside system each and know
 * nothing of the domain (ledger) or the drivers (world) or what orchestrates them.
 */
const ADAPTERS = '^src/lib/(cloud|health|kube|tools|proc)/'
const DOMAIN_AND_ABOVE = '^src/(commands|lib/(ledger|world|chaos|report|backup))/'

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A cycle means two modules are one; split the shared part into a leaf.',
      from: {},
      to: {circular: true},
    },
    {
      name: 'adapters-stay-leaves',
      severity: 'error',
      comment: 'An adapter may not import the domain, a driver or an orchestrator.',
      from: {path: ADAPTERS},
      to: {path: DOMAIN_AND_ABOVE},
    },
    {
      name: 'ledger-below-world',
      severity: 'error',
      comment: 'The drivers set up the ledger (schema, roles); the ledger knows nothing of drivers.',
      from: {path: '^src/lib/ledger/'},
      to: {path: '^src/(commands|lib/(world|chaos|report|backup))/'},
    },
    {
      name: 'gitops-below-world',
      severity: 'error',
      comment: 'Rendering is a library of the k3d driver, not the other way round.',
      from: {path: '^src/lib/gitops/'},
      to: {path: '^src/(commands|lib/(world|chaos|report|backup|ledger))/'},
    },
    {
      name: 'wait-is-a-leaf',
      severity: 'error',
      comment: 'sleep and poll are used from the adapters up: they import nothing of the project.',
      from: {path: String.raw`^src/lib/wait\.ts$`},
      to: {path: '^src/', pathNot: String.raw`^src/lib/wait\.ts$`},
    },
    {
      name: 'model-is-a-leaf',
      severity: 'error',
      comment: 'Shared types import nothing of the project.',
      from: {path: '^src/lib/model/'},
      to: {path: '^src/', pathNot: '^src/lib/model/'},
    },
    {
      name: 'drivers-are-siblings-not-layers',
      severity: 'error',
      comment: 'The local driver must not reach into the k3d driver, nor the reverse; what both need lives below them.',
      from: {path: '^src/lib/world/local/'},
      to: {path: '^src/lib/world/k3d/'},
    },
    {
      name: 'k3d-not-local',
      severity: 'error',
      from: {path: '^src/lib/world/k3d/'},
      to: {path: '^src/lib/world/local/'},
    },
    {
      name: 'lib-not-commands',
      severity: 'error',
      comment: 'src/lib is the library; commands sit on top of it.',
      from: {path: '^src/lib/'},
      to: {path: '^src/commands/'},
    },
    {
      name: 'no-orphans',
      severity: 'error',
      comment: 'A module nothing imports is dead code (commands are loaded by oclif).',
      from: {orphan: true, pathNot: ['^src/commands/', String.raw`\.d\.ts$`]},
      to: {},
    },
  ],
  options: {
    doNotFollow: {path: 'node_modules'},
    tsConfig: {fileName: 'tsconfig.json'},
    tsPreCompilationDeps: true,
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default'],
      extensions: ['.ts', '.js'],
    },
  },
}
