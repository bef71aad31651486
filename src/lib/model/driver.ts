/** A world's driver once resolved (config's `driver: auto` is resolved to one of these by world/index.ts). */
export type DriverKind = 'k3d' | 'local'
