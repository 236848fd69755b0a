import type { Runtime } from '../runtime.js';
import { createS3Client, createSfnClient } from '../shared/aws.js';
import { logger } from '../shared/logger.js';
import { createResolvers } from '../plugins/source.js';
import { stagePlugin } from '../staging/stage-plugin.js';
import { allowlistFacts } from '../store/allowlist.js';
import { getInstalled } from '../store/installed.js';
import { getWorkspace } from '../store/workspaces.js';
import {
  finishRollout,
  getRollout,
  markParentRolledBack,
  markTargetStarted,
  rolloutStaged,
  rolloutTargets,
  setRolloutStaged,
  setRolloutExecution,
  settleTargets,
  skipTarget,
} from '../store/rollouts.js';
import { getRevision } from '../store/revisions.js';
import { getTrust } from '../store/trust.js';
import { refusalError, signatureVerdict } from '../plugins/signature-policy.js';
import type { SignedContent } from '../staging/stage-archive.js';
import { postgresPorts } from '../use-cases/adapters/postgres.js';
import { sfnStarter } from '../use-cases/adapters/sfn.js';
import { startOperation } from '../use-cases/start.js';
import { s3KeptTarballs } from '../workflow/adapters/s3.js';
import type { DriverPorts, RolloutStaged } from '../rollouts/driver.js';
import { rolloutStep, type RolloutState } from '../rollouts/step.js';
import { rolloutDriverStarter } from '../rollouts/starter.js';

/** An execution hands the rollout over after this many ticks or this long (the state machine's limit is 1 h). */
const HAND_OVER = { ticks: 600, afterMs: 45 * 60_000 };

/**
 * The Rollout function's wiring: the store, the plugin pipeline for its one Stage (imported only
 * here, as for the Stage function), and the state machine it starts each target's install on.
 */
export async function buildRollout({ db, config, aws }: Runtime) {
  const [s3, sfn] = await Promise.all([createS3Client(aws), createSfnClient(aws)]);
  const workflow = sfnStarter(sfn, config.stateMachineArn);
  const tarballs = s3KeptTarballs(s3, config.stagingBucket);
  const resolvers = createResolvers({ s3, config });
  const ports: DriverPorts = {
    rollouts: {
      get: (id) => getRollout(db, id),
      targets: (id) => rolloutTargets(db, id),
      settle: (id) => settleTargets(db, id),
      markParentRolledBack: (id) => markParentRolledBack(db, id),
      skip: (id, position, reason) => skipTarget(db, id, position, reason),
      markStarted: (id, position, operationId) => markTargetStarted(db, id, position, operationId),
      finish: (id, status, error) => finishRollout(db, id, status, error),
      setStaged: (id, staged) => setRolloutStaged(db, id, staged),
      staged: (id) => rolloutStaged<RolloutStaged>(db, id),
    },
    workspaces: { get: (id) => getWorkspace(db, id) },
    installed: { get: (workspaceId, name) => getInstalled(db, workspaceId, name) },
    allowlist: { match: (orgId, name, source) => allowlistFacts(db, orgId, name, source) },
    async stage(rollout) {
      let signing: NonNullable<RolloutStaged['signing']> = { signer: null, warnings: [] };
      // Judged once for the whole rollout against the org's trust now, as Stage judges an install's (SPEC §11).
      const vet = async (signed: SignedContent) => {
        const trust = (await getTrust(db, rollout.orgId)) ?? { requireSignature: false, signers: [], revokedKeys: [] };
        const signature = typeof rollout.request.signature === 'string' ? rollout.request.signature : signed.signature;
        const verdict = signatureVerdict({ signature, statement: signed.statement, trust, now: new Date() });
        if (verdict.verdict === 'trusted') signing = { signer: verdict.signer, warnings: [] };
        else if (verdict.verdict === 'untrusted') signing = { signer: null, warnings: [verdict.warning] };
        else if (verdict.verdict === 'refused') {
          const err = refusalError(verdict.error);
          // A dry run plans on: each plan says what would refuse the install.
          if (rollout.request.dryRun !== true) throw err;
          signing = { signer: null, warnings: [`${err.code}: ${err.message}`], blockedBy: verdict.error.code };
        }
      };
      const { staged, files } = await stagePlugin(
        { s3, resolvers, config },
        { source: rollout.source ?? '', expectedSha256: rollout.sha256, id: `rollout-${rollout.id}`, vet },
      );
      // Every target's install delivers this one tarball, kept where revisions are (content-addressed).
      await tarballs.keep({ bucket: staged.bucket, key: staged.key }, staged.sha256);
      return { staged: { ...staged, ...tarballs.locate(staged.sha256) }, files, signing };
    },
    async startTarget(rollout, workspace, target) {
      const { request } = rollout;
      const ports = { ...postgresPorts(db, workflow), log: logger };
      const once = { rolloutId: rollout.id, idempotencyKey: `rollout:${rollout.id}`, actorPrefix: rollout.actorPrefix, asked: { rolloutId: rollout.id } };
      const capped = { maxInFlightForOrg: config.limits.maxOperationsPerOrg };
      if (rollout.kind === 'rollback') {
        const plugin = rollout.plugin ?? '';
        const revision = target.revision === null ? null : await getRevision(db, workspace.id, plugin, target.revision);
        const common = { workspace, plugin, restart: true, uninstallAt: null, ...once, ...capped };
        const { operation } = revision
          ? await startOperation(ports, {
              ...common,
              kind: 'rollback',
              source: revision.source,
              expectedSha256: revision.sha256,
              revision: revision.revision,
              healthCheck: request.healthCheck !== false,
            })
          : await startOperation(ports, { ...common, kind: 'uninstall', source: null, expectedSha256: null });
        return operation.operationId;
      }
      const { operation } = await startOperation(ports, {
        kind: request.dryRun === true ? 'plan' : 'install',
        workspace,
        source: rollout.source,
        plugin: rollout.plugin,
        expectedSha256: rollout.sha256,
        restart: request.restart !== false,
        replace: request.replace === true,
        healthCheck: request.healthCheck !== false,
        uninstallAt: null,
        rolloutId: rollout.id,
        // One operation per rollout and workspace, however often a crashed tick runs again.
        idempotencyKey: `rollout:${rollout.id}`,
        actorPrefix: rollout.actorPrefix,
        asked: { rolloutId: rollout.id },
        maxInFlightForOrg: config.limits.maxOperationsPerOrg,
      });
      return operation.operationId;
    },
  };
  return rolloutStep({
    ports,
    tickSeconds: config.rolloutTickSeconds,
    handOver: HAND_OVER,
    continueIn: async (state: RolloutState) => {
      await rolloutDriverStarter(workflow, (id, arn) => setRolloutExecution(db, id, arn)).start({ id: state.rolloutId }, state);
    },
  });
}
