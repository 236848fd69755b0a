/**
 * `MOLECULE_LOCAL_FAULTS`: the local emulators answer as AWS does under trouble (SPEC §8).
 * The value is a comma-separated list of `service.fault=rate` with a rate from 0 to 1, e.g.
 * `ssm.throttle=0.3,eic.throttle=0.3,s3.error=0.1,ssm.lost_invocation=0.2`. Each request rolls
 * against its rate; rate 1 always and rate 0 never fault, and `MOLECULE_LOCAL_FAULTS_SEED` (an
 * integer) makes the rolls in between repeat from run to run.
 */
export const FAULT_KINDS = {
  /** ThrottlingException; InternalServerError (500); InvocationDoesNotExist for a while after SendCommand; InvalidInstanceId / not managed. */
  ssm: ['throttle', 'error', 'lost_invocation', 'unknown_instance'],
  /** RequestLimitExceeded (503); InternalError (500); InvalidInstanceID.NotFound. */
  ec2: ['throttle', 'error', 'unknown_instance'],
  /** ThrottlingException; ServiceException (500); EC2InstanceNotFoundException. */
  eic: ['throttle', 'error', 'unknown_instance'],
  /** InternalError (500); SlowDown (503). */
  s3: ['error', 'throttle'],
} as const;

export type FaultService = keyof typeof FAULT_KINDS;
export type FaultKind<S extends FaultService> = (typeof FAULT_KINDS)[S][number];

export class FaultSpecError extends Error {}

export interface Faults {
  /** Whether this request gets the fault. */
  roll<S extends FaultService>(service: S, fault: FaultKind<S>): boolean;
  /**
   * Whether the service does not know this instance. Decided once per instance id, so an
   * instance stays unknown (AWS does not forget and rediscover an instance between calls).
   */
  unknownInstance(service: 'ssm' | 'ec2' | 'eic', instanceId: string): boolean;
  /** The parsed rates, for the startup log. */
  readonly rates: Readonly<Record<string, number>>;
}

export const NO_FAULTS: Faults = createFaults({});

const ENTRY_RE = /^([a-z0-9]+)\.([a-z_]+)=([0-9.]+)$/;

/** Parses `MOLECULE_LOCAL_FAULTS`; a malformed value throws a FaultSpecError naming the bad entry. */
export function parseFaults(spec: string | undefined, seed?: string): Faults {
  const rates: Record<string, number> = {};
  for (const raw of (spec ?? '').split(',')) {
    const entry = raw.trim();
    if (!entry) continue;
    const match = ENTRY_RE.exec(entry);
    if (!match) throw new FaultSpecError(`MOLECULE_LOCAL_FAULTS: "${entry}" is not service.fault=rate (e.g. ssm.throttle=0.3)`);
    const [, service = '', fault = '', rateText = ''] = match;
    const kinds: readonly string[] | undefined = FAULT_KINDS[service as FaultService];
    if (!kinds) throw new FaultSpecError(`MOLECULE_LOCAL_FAULTS: unknown service "${service}" (one of ${Object.keys(FAULT_KINDS).join(', ')})`);
    if (!kinds.includes(fault)) throw new FaultSpecError(`MOLECULE_LOCAL_FAULTS: unknown fault "${service}.${fault}" (${service} has ${kinds.join(', ')})`);
    const rate = Number(rateText);
    if (!Number.isFinite(rate) || rate < 0 || rate > 1) throw new FaultSpecError(`MOLECULE_LOCAL_FAULTS: rate of "${entry}" must be a number from 0 to 1`);
    rates[`${service}.${fault}`] = rate;
  }
  if (seed !== undefined && seed !== '' && !/^\d+$/.test(seed)) throw new FaultSpecError('MOLECULE_LOCAL_FAULTS_SEED must be a non-negative integer');
  return createFaults(rates, seed ? Number(seed) : undefined);
}

export function faultsFromEnv(env: NodeJS.ProcessEnv = process.env): Faults {
  return parseFaults(env.MOLECULE_LOCAL_FAULTS, env.MOLECULE_LOCAL_FAULTS_SEED);
}

function createFaults(rates: Record<string, number>, seed?: number): Faults {
  const random = seed === undefined ? Math.random : mulberry32(seed);
  const hits = (rate: number | undefined) => rate !== undefined && rate > 0 && (rate >= 1 || random() < rate);
  const unknown = new Map<string, boolean>();
  return {
    rates,
    roll: (service, fault) => hits(rates[`${service}.${fault}`]),
    unknownInstance(service, instanceId) {
      const key = `${service}\0${instanceId}`;
      let decided = unknown.get(key);
      if (decided === undefined) {
        decided = hits(rates[`${service}.unknown_instance`]);
        unknown.set(key, decided);
      }
      return decided;
    },
  };
}

/** A small seeded PRNG: the same seed gives the same rolls. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `faults` only once `armed()` says so: the local stack seeds its registry and demo through the
 * same emulators, and a start-up that `s3.error=1` breaks would test nothing.
 */
export function armedLater(faults: Faults, armed: () => boolean): Faults {
  return {
    rates: faults.rates,
    roll: (service, fault) => armed() && faults.roll(service, fault),
    unknownInstance: (service, instanceId) => armed() && faults.unknownInstance(service, instanceId),
  };
}
