// Preloaded into the CLI by the crash suite (`node --import`), never part of the product: apply reports each
// finished step on stderr as `[N/TOTAL] status: …`, and this SIGKILLs the process right after report N —
// the moment a crash between two steps would strike. Writes to a pipe are synchronous on Linux, so the
// report is out before the kill. TOR_RECONCILE_FAULT=after-step:N says which step.
const n = Number(/^after-step:(\d+)$/.exec(process.env.TOR_RECONCILE_FAULT ?? '')?.[1] ?? 0);
if (n > 0) {
  const report = new RegExp(`^\\[${n}/\\d+\\] `, 'm');
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = (chunk, ...rest) => {
    const written = write(chunk, ...rest);
    if (report.test(String(chunk))) process.kill(process.pid, 'SIGKILL');
    return written;
  };
}
