import * as z from '../shared/zod.js';
import { errorFromStepFailure, LAMBDA_INVOKE_TRANSIENT_ERRORS, TRANSIENT_ERROR_NAMES } from '../shared/errors.js';
import { logger, withKeys } from '../shared/logger.js';
import { StepFailure } from '../workflow/steps/state.js';
import { parseInput, type StepHandler } from '../workflow/steps/step.js';
import { type DriverPorts, prepareRollout, tickRollout } from './driver.js';

/** A driver failure that is no failure of the rollout's: trouble that passes outlasted the retries. */
const TRANSIENT = new Set<string>([...TRANSIENT_ERROR_NAMES, ...LAMBDA_INVOKE_TRANSIENT_ERRORS]);

/**
 * The rollout's Task states (SPEC §10), one Lambda: RolloutPrepare stages once, RolloutTick
 * advances the ledger, RolloutFailed closes a rollout whose driver failed for good. The state is
 * small and the same at every tick: the ledger lives in the database. An execution hands over to a
 * fresh one of itself (`continued`) before its history or its one-hour limit fills up.
 */

export const RolloutState = z.object({
  kind: z.literal('rollout'),
  rolloutId: z.string().check(z.minLength(1)),
  /** What the next invocation does: stage once, then tick. */
  phase: z._default(z.enum(['prepare', 'tick']), 'prepare'),
  /** When this execution's first tick ran: it hands over before the execution's time runs out. */
  since: z.optional(z.iso.datetime({ offset: true })),
  ticks: z._default(z.number().check(z.int(), z.nonnegative()), 0),
  /** How long the workflow waits between ticks. */
  waitSeconds: z._default(z.number().check(z.int(), z.positive()), 5),
  done: z._default(z.boolean(), false),
  error: z.optional(StepFailure),
});
export type RolloutState = z.output<typeof RolloutState>;

export interface RolloutStepDeps {
  ports: DriverPorts;
  /** Starts the execution that carries the rollout on (same state machine, fresh history). */
  continueIn(state: RolloutState): Promise<void>;
  tickSeconds: number;
  /** Hand over after this many ticks or this long, whichever comes first. */
  handOver: { ticks: number; afterMs: number };
  now?: () => Date;
}

/**
 * The one handler of RolloutPrepare, RolloutTick and RolloutFailed: a state caught with `error` is
 * the rollout's failure; otherwise `phase` says whether to stage or to tick.
 */
export function rolloutStep(deps: RolloutStepDeps): StepHandler<RolloutState> {
  const now = deps.now ?? (() => new Date());
  const log = (rolloutId: string) => withKeys(logger, { rolloutId });
  return async (event) => {
    const state = parseInput('Rollout', RolloutState, event);
    if (state.error) {
      // Trouble that passes (the database, AWS throttling) outlasted the retries: the rollout is not
      // over, its driver is. The reconciler gives it a new one once its execution has ended.
      if (TRANSIENT.has(state.error.Error ?? '')) {
        log(state.rolloutId).warn('rollout driver gave up on trouble that passes; the reconciler starts a new one', { error: state.error.Error });
        return state;
      }
      const error = errorFromStepFailure(state.error);
      log(state.rolloutId).error('rollout driver failed', { code: error.code });
      await deps.ports.rollouts.finish(state.rolloutId, 'FAILED', error);
      return state;
    }
    if (state.phase === 'prepare') {
      const outcome = await prepareRollout(deps.ports, log(state.rolloutId), state.rolloutId);
      return { ...state, phase: 'tick', since: now().toISOString(), waitSeconds: deps.tickSeconds, done: outcome.done };
    }
    const outcome = await tickRollout(deps.ports, log(state.rolloutId), state.rolloutId);
    const next: RolloutState = { ...state, ticks: state.ticks + 1, waitSeconds: deps.tickSeconds, done: outcome.done };
    const since = Date.parse(state.since ?? now().toISOString());
    if (!outcome.done && (next.ticks >= deps.handOver.ticks || now().getTime() - since >= deps.handOver.afterMs)) {
      const { since: _since, ...rest } = next;
      await deps.continueIn({ ...rest, ticks: 0, done: false });
      log(state.rolloutId).info('rollout handed over to a fresh execution', { ticks: next.ticks });
      return { ...next, done: true };
    }
    return next;
  };
}
