/**
 * `${env:NAME}` and `${file:PATH}` in spec values, and the check that no text can smuggle a line break to tor.
 *
 * Interpolation is how secrets stay out of spec files, so every interpolated value is a secret: it is marked
 * on its node, shown as `<redacted>`, and becomes a `Secret` in the desired state. That is also why it is
 * accepted only where the desired state can hold a Secret (tor.password, option values, clientAuth private
 * keys); elsewhere it is an error rather than a secret quietly turned into plain text.
 */
import fs from 'node:fs';
import path from 'node:path';
import { SECRET_OPTIONS } from '../tor/config/secrets.js';
import { outsideRoots, type Confinement } from './confine.js';
import type { Diagnostics, Path } from './diagnostics.js';
import { pathLabel, type ScalarNode, type SpecNode } from './tree.js';

/** A secret file is a key or a password; anything bigger is the wrong file (or /dev/zero). */
const MAX_FILE_BYTES = 64 * 1024;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

type Part = { kind: 'text'; text: string } | { kind: 'env'; name: string } | { kind: 'file'; path: string };

const SECRET_OPTION_NAMES = new Set([...SECRET_OPTIONS].map((name) => name.toLowerCase()));

/**
 * What a place in the spec may hold. `interpolable`: exactly where `${env:}`/`${file:}` is accepted, values the
 * desired state can hold as Secrets (tor.password, option values, clientAuth private keys). `sensitive`: a
 * secret even when written literally (a password, a private key, a secret tor option), so never shown.
 */
function secrecy(path: Path): { interpolable: boolean; sensitive: boolean } {
  const [a, b, c, d] = path;
  if (a === 'tor' && b === 'password') return { interpolable: path.length === 2, sensitive: true };
  if (a === 'clientAuth' && typeof b === 'number' && c === 'privateKey') return { interpolable: path.length === 3, sensitive: true };
  if (a === 'options' && typeof b === 'string') {
    return { interpolable: path.length === 2 || (path.length === 3 && typeof c === 'number'), sensitive: SECRET_OPTION_NAMES.has(b.toLowerCase()) };
  }
  // A fleet target (issue #17): its password and its options, as tor.password and the top-level options.
  if (a === 'targets' && typeof b === 'number' && (c === 'password' || c === 'options')) return secrecy(c === 'password' ? ['tor', 'password', ...path.slice(3)] : path.slice(2));
  if (a === 'tor' && b === 'launch' && c === 'options' && typeof d === 'string') return { interpolable: false, sensitive: SECRET_OPTION_NAMES.has(d.toLowerCase()) };
  return { interpolable: false, sensitive: false };
}

/**
 * Substitutes interpolations everywhere they are allowed (reading `${file:}` paths relative to the file the
 * value is written in), turns `$${` into a literal `${`, marks secret and sensitive nodes, then refuses any
 * key or text value holding CR, LF or NUL: tor's control protocol ends a command at a line break, so such a
 * value could inject a second command (the encoder refuses them too; this reports them at their position).
 * With `skipSecrets`, nothing is read: values that interpolate are left out of the desired state.
 */
export async function resolveText(root: SpecNode, env: Record<string, string | undefined>, diags: Diagnostics, skipSecrets = false, confine?: Confinement): Promise<void> {
  const pending: Array<Promise<void>> = [];
  walk(root, [], (node, p) => {
    const place = secrecy(p);
    node.sensitive = place.sensitive;
    if (typeof node.value !== 'string' || !node.value.includes('${')) return;
    const parts = parseTemplate(node.value);
    if (typeof parts === 'string') {
      diags.error(node.loc, `${pathLabel(p)}: ${parts}`, p);
      return;
    }
    if (!parts.some((x) => x.kind !== 'text')) {
      node.value = parts.map((x) => (x.kind === 'text' ? x.text : '')).join('');
      return;
    }
    if (!place.interpolable) {
      diags.error(
        node.loc,
        `${pathLabel(p)}: \${env:…} and \${file:…} are only allowed in tor.password, option values and clientAuth privateKey, whose values are kept secret (write $\${ for a literal \${)`,
        p,
      );
      return;
    }
    node.secret = true;
    if (skipSecrets) diags.leaveOut(p);
    else pending.push(substitute(node, parts, env, diags, p, confine));
  });
  await Promise.all(pending);
  walk(root, [], (node) => {
    if (node.secret || node.sensitive) diags.secret(node.loc);
  });
  rejectLineBreaks(root, [], diags);
}

function walk(node: SpecNode, p: Path, visit: (node: ScalarNode, p: Path) => void): void {
  if (node.kind === 'scalar') visit(node, p);
  else if (node.kind === 'seq') node.items.forEach((item, i) => walk(item, [...p, i], visit));
  else for (const [k, e] of node.entries) walk(e.value, [...p, k], visit);
}

const LINE_BREAK = /[\r\n\0]/;

function rejectLineBreaks(node: SpecNode, p: Path, diags: Diagnostics): void {
  if (node.kind === 'scalar') {
    if (typeof node.value === 'string' && LINE_BREAK.test(node.value)) {
      const what = node.secret ? 'this interpolated value' : 'this value';
      diags.error(node.loc, `${pathLabel(p)}: ${what} contains a line break or NUL byte; tor options are single lines`, p);
    } else if (typeof node.value === 'string' && !node.value.isWellFormed()) {
      const what = node.secret ? 'this interpolated value' : 'this value';
      diags.error(node.loc, `${pathLabel(p)}: ${what} is not well-formed Unicode (a lone surrogate); tor would receive something else`, p);
    }
    return;
  }
  if (node.kind === 'seq') {
    node.items.forEach((item, i) => rejectLineBreaks(item, [...p, i], diags));
    return;
  }
  for (const [k, e] of node.entries) {
    if (LINE_BREAK.test(k)) diags.error(e.keyLoc, `key ${JSON.stringify(k)} contains a line break or NUL byte`, [...p, k]);
    rejectLineBreaks(e.value, [...p, k], diags);
  }
}

/** The parts of a template, or why it is malformed. */
function parseTemplate(text: string): Part[] | string {
  const parts: Part[] = [];
  let literal = '';
  let i = 0;
  while (i < text.length) {
    if (text.startsWith('$${', i)) {
      literal += '${';
      i += 3;
      continue;
    }
    if (!text.startsWith('${', i)) {
      literal += text[i];
      i++;
      continue;
    }
    const close = text.indexOf('}', i + 2);
    if (close < 0) return 'unterminated ${: write ${env:NAME} or ${file:PATH}, or $${ for a literal ${';
    const body = text.slice(i + 2, close);
    if (literal) parts.push({ kind: 'text', text: literal });
    literal = '';
    if (body.startsWith('env:')) {
      const name = body.slice(4);
      if (!ENV_NAME.test(name)) return `\${env:${name}}: an environment variable name is letters, digits and _ (not starting with a digit)`;
      parts.push({ kind: 'env', name });
    } else if (body.startsWith('file:')) {
      const file = body.slice(5);
      if (file === '') return '${file:}: give a path, e.g. ${file:./secret.txt}';
      parts.push({ kind: 'file', path: file });
    } else {
      return `unknown interpolation \${${body}}: write \${env:NAME} or \${file:PATH}, or $\${ for a literal \${`;
    }
    i = close + 1;
  }
  if (literal) parts.push({ kind: 'text', text: literal });
  return parts;
}

async function substitute(node: ScalarNode, parts: Part[], env: Record<string, string | undefined>, diags: Diagnostics, p: Path, confine: Confinement | undefined): Promise<void> {
  const values = await Promise.all(
    parts.map(async (part): Promise<string | undefined> => {
      if (part.kind === 'text') return part.text;
      if (part.kind === 'env') {
        // Own properties only: `${env:constructor}` must not find Object.prototype's.
        const value = Object.hasOwn(env, part.name) ? env[part.name] : undefined;
        if (value === undefined) diags.error(node.loc, `${pathLabel(p)}: environment variable ${part.name} is not set`, p);
        return value;
      }
      return readSecretFile(node, part.path, diags, p, confine);
    }),
  );
  if (values.every((v) => v !== undefined)) node.value = values.join('');
}

async function readSecretFile(node: ScalarNode, file: string, diags: Diagnostics, p: Path, confine: Confinement | undefined): Promise<string | undefined> {
  const shown = `\${file:${file}}`;
  if (file.startsWith('~')) {
    diags.error(node.loc, `${pathLabel(p)}: ${shown}: "~" is not expanded; write the path in full or relative to this spec file`, p);
    return undefined;
  }
  const abs = path.resolve(node.loc.source.dir, file);
  // Before anything opens it: a spec from a pull request must not read the CI machine's files (confine.ts).
  const outside = confine && outsideRoots(confine, abs);
  if (outside) {
    diags.error(node.loc, `${pathLabel(p)}: ${shown}: ${outside}`, p);
    return undefined;
  }
  try {
    // fs.promises is loaded on first use (~1 ms): only a spec with a ${file:} needs it.
    const { readFile, stat } = fs.promises;
    const info = await stat(abs);
    if (!info.isFile()) throw new Error('not a regular file');
    if (info.size > MAX_FILE_BYTES) throw new Error(`larger than ${MAX_FILE_BYTES} bytes; a secret file holds one key or password`);
    // As ssh says of a private key: a secret others can read is no longer only ours (issue #20).
    if (info.mode & 0o077) diags.warn(node.loc, `${pathLabel(p)}: ${shown} (${abs}) is accessible to group or others (mode 0${(info.mode & 0o777).toString(8)}); anyone who can read it has the secret. chmod 600 ${abs}`);
    return (await readFile(abs, 'utf8')).replace(/\r?\n$/, '');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code ? code : (err as Error).message;
    diags.error(node.loc, `${pathLabel(p)}: cannot read ${shown} (${abs}): ${reason}`, p);
    return undefined;
  }
}
