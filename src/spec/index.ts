/** The spec language: YAML files → a validated, normalized DesiredState. */
export { loadSpec, loadSpecSources, recheckOptions } from './load.js';
export type { LoadOptions, LoadResult, SpecSource } from './load.js';
export { SpecErrors, formatDiagnostic } from './diagnostics.js';
export type { SpecDiagnostic } from './diagnostics.js';
export { specJsonSchema } from './schema.js';
export type * from './model.js';
