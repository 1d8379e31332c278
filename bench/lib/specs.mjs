/**
 * Workload 1's spec, shared by bench/run.mjs and bench/ab.mjs so that both time the same file: N new
 * ephemeral services with generated keys, one flow mapping per line.
 */
export function ephemeralSpecText(n, stateDir) {
  const lines = ['version: 1', `stateDirectory: ${stateDir}`, 'onionServices:'];
  for (let i = 0; i < n; i++) lines.push(`  - { name: e${i}, type: ephemeral, key: { generate: true }, ports: [{ port: 80, target: "127.0.0.1:9000" }] }`);
  return lines.join('\n') + '\n';
}
