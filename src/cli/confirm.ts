/**
 * Terraform's confirmation for `apply`: a person at a terminal sees the plan and types `yes` before anything
 * changes. Scripts, CI, pipes and saved plans (reviewed when they were made) are never asked; neither is
 * `--json` (a program reads it) nor `--auto-approve`.
 */
import { createInterface } from 'node:readline/promises';

export interface ConfirmSituation {
  /** stdin and stdout are both terminals: someone is there to answer. */
  interactive: boolean;
  autoApprove: boolean;
  /** Applying a plan file saved by `plan --out`. */
  savedPlan: boolean;
  json: boolean;
}

export function shouldConfirm(s: ConfirmSituation): boolean {
  return s.interactive && !s.autoApprove && !s.savedPlan && !s.json;
}

export const CONFIRM_QUESTION = "Apply these changes? Only 'yes' is accepted: ";

/** Asks on the terminal; true only for exactly `yes`, as Terraform. End of input (Ctrl-D) is a no. */
export async function askYes(input: NodeJS.ReadableStream, output: NodeJS.WritableStream): Promise<boolean> {
  const rl = createInterface({ input, output });
  try {
    const answer = await new Promise<string>((resolve) => {
      rl.once('close', () => resolve(''));
      // Ctrl-C at the question reaches readline as a key, not as a signal: it is a no.
      rl.once('SIGINT', () => rl.close());
      void rl.question(CONFIRM_QUESTION).then(resolve, () => resolve(''));
    });
    return answer.trim() === 'yes';
  } finally {
    rl.close();
  }
}
