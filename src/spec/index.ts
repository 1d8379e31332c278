/** The spec language: YAML files → a validated, normalized DesiredState. */
export { loadSpec, loadSpecSources } from './load.js';
export type { LoadOptions, LoadResult, SpecSource } from './load.js';
export { SpecErrors, formatDiagnostic, formatDiagnostics } from './diagnostics.js';
export type { SpecDiagnostic, Severity } from './diagnostics.js';
export { specSchema, specJsonSchema } from './schema.js';
export type { SpecInput } from './schema.js';
export type * from './model.js';
