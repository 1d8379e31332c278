// `node --import ./test/helpers/module-trace.mjs …`: writes every module the process loads (file: URLs and
// node: builtins excluded) to the file named by MODULE_TRACE, one URL a line, for the start-up tests.
import { register } from 'node:module';

register(
  `data:text/javascript,${encodeURIComponent(`
import { appendFileSync } from 'node:fs';
export async function load(url, context, next) {
  if (url.startsWith('file:')) appendFileSync(process.env.MODULE_TRACE, url + '\\n');
  return next(url, context);
}`)}`,
);
