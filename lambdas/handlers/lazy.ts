import { getServingRuntime, type Runtime } from '../runtime.js';

const resets = new Set<() => void>();

/**
 * A Lambda handler whose dependencies are built on the first invocation (from the shared
 * Runtime, once the schema is current) and reused while the container is warm. A failed build is retried next time. The
 * Lambda context (`C`) is handed on: steps read their remaining time from it.
 */
export function lazyHandler<E, R, C = never>(build: (rt: Runtime) => Promise<(event: E, context?: C) => Promise<R>>): (event: E, context?: C) => Promise<R> {
  let built: Promise<(event: E, context?: C) => Promise<R>> | undefined;
  resets.add(() => (built = undefined));
  return async (event, context) => {
    built ??= getServingRuntime()
      .then(build)
      .catch((err: unknown) => {
        built = undefined;
        throw err;
      });
    return (await built)(event, context);
  };
}

/** The local stack rebuilds every handler after it changes the environment. */
export function resetHandlers(): void {
  for (const reset of resets) reset();
}
