/**
 * What a command is given to talk to its process: the output streams, the environment and Ctrl-C;
 * and the error that means the user asked wrongly (exit 2).
 */
export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: Record<string, string | undefined>;
  /** Whether stderr is a terminal (progress redraws one line there). */
  isTTY?: boolean;
  /** Whether stdout is a terminal (`watch` redraws the screen there, else appends frames). */
  stdoutIsTTY?: boolean;
  /** Ends `watch` (Ctrl-C); the CLI process wires SIGINT to it. */
  interrupted?: AbortSignal;
}

/** A usage mistake the option parser cannot see (a bad value, no token): exit 2. */
export class UsageError extends Error {}
