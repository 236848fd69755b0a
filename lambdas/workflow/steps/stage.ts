import { NO_MANIFEST_HASH, pluginStatement, signerVerdict, type Fingerprint, type TrustVerdict } from '@molecule/plugins-sdk/signing';
import { MANIFEST_PATH } from '@molecule/plugins-sdk/contract/manifest';
import type { KeptTarballs, StepPorts } from '../ports.js';
import { stagePlugin, type StagePluginDeps } from '../../staging/stage-plugin.js';
import type { SignedContent } from '../../staging/stage-archive.js';
import { refusalError, refusalRecord, signatureVerdict } from '../../plugins/signature-policy.js';
import { AppError, DeliveryFailed, RevisionExpired, RevisionNotFound } from '../../shared/errors.js';
import type { Log } from '../../shared/logger.js';
import type { PluginRevision, RevisionFile, Signer, StagedPlugin } from '../../shared/types.js';
import { AcceptedInstall, type StagedState } from './state.js';
import { defineStep } from './step.js';
import { emitMetric, METRIC } from '../../shared/metrics.js';

export type StageDeps = StagePluginDeps & { ports: StepPorts; tarballs: KeptTarballs; clock: { now(): Date } };

type StageInput = ReturnType<typeof AcceptedInstall.parse>;

/** What the signature check decided (SPEC §11): who signed, a warning, or for a plan what would refuse the install. */
interface SignatureOutcome {
  signer: Signer | null;
  warnings: string[];
  blockedBy?: 'signature_invalid' | 'signature_required';
}

/**
 * Stage: fetch, validate and normalize the plugin into S3; the operation learns its name, hash,
 * files, warnings and signer. A rollback stages nothing new: it finds the revision's kept tarball, or
 * stages the revision's source again pinned to its recorded sha256 (SPEC §9).
 *
 * The signature (SPEC §11) is judged against the org's trust as it is now, by this step's clock:
 * an install's or plan's before anything is stored (a root plugin.sig, or the request's
 * `signature`), a rollback's revision by the signer it recorded. A refused install fails here, with
 * its reason, fingerprint and statement on the operation; a refused plan goes on, to say
 * `allowed: false` with what refused it.
 */
export function stageStep(deps: StageDeps) {
  return defineStep('Stage', deps.ports.operations, AcceptedInstall, async (state, log) => {
    const fetchDeadline = state.requestedAt ? new Date(Date.parse(state.requestedAt) + deps.config.limits.fetchTimeoutMs) : undefined;
    const { staged, files, signing } =
      state.kind === 'rollback'
        ? await stageRevision(deps, state, log, fetchDeadline)
        : state.rolloutId
          ? await stagedForRollout(deps, state.rolloutId)
          : await stageSource(deps, state, log, fetchDeadline);
    const { signed: _signed, ...carried } = staged;
    const warnings = [...staged.warnings, ...signing.warnings];
    await deps.ports.operations.staged(state.operationId, { plugin: staged.name, sha256: staged.sha256, warnings, files, signer: signing.signer });
    log.info('staged', { plugin: staged.name, sha256: staged.sha256, files: staged.fileCount, bytes: staged.bytes, signer: signing.signer });
    await emitMetric(METRIC.StagingBytes, staged.bytes);
    // The request's signature was judged here: the later steps do not carry it.
    const { signature: _judged, ...accepted } = state;
    const next: StagedState = {
      ...accepted,
      phase: 'staged',
      plugin: staged.name,
      staged: { ...carried, warnings },
      ...(signing.blockedBy ? { blockedBy: signing.blockedBy } : {}),
    };
    return { state: next };
  });
}

type Staging = { staged: StagedPlugin; files: RevisionFile[]; signing: SignatureOutcome };

/**
 * A rollout's install delivers what the rollout staged once (SPEC §10: one Stage per rollout), with
 * the signer (or warning, or a plan's refusal) the rollout's one signature check found.
 */
async function stagedForRollout(deps: StageDeps, rolloutId: string): Promise<Staging> {
  const prepared = await deps.ports.rollouts.staged(rolloutId);
  if (!prepared) throw new DeliveryFailed(`rollout "${rolloutId}" has nothing staged`, { rolloutId });
  return {
    staged: { ...prepared.staged, warnings: [...prepared.staged.warnings] },
    files: prepared.files,
    signing: prepared.signing ?? { signer: null, warnings: [] },
  };
}

/** An install's or plan's source, its signature judged once everything else passed and before anything is stored. */
async function stageSource(deps: StageDeps, state: StageInput, log: Log, fetchDeadline: Date | undefined): Promise<Staging> {
  let signing: SignatureOutcome = { signer: null, warnings: [] };
  const vet = async (signed: SignedContent) => {
    const trust = await deps.ports.trust.get(state.workspace.orgId);
    const verdict = signatureVerdict({ signature: state.signature ?? signed.signature, statement: signed.statement, trust, now: deps.clock.now() });
    signing = await settle(deps, state, verdict, log);
  };
  const { staged, files } = await stagePlugin(deps, { source: state.source, expectedSha256: state.expectedSha256, id: state.operationId, fetchDeadline, vet });
  return { staged, files, signing };
}

/**
 * Acts on the verdict: a trusted signer is recorded, an untrusted one warned about. A refusal fails
 * the operation, its context recorded first (Step Functions carries only the error's name and
 * message to RecordFailure); a plan is not refused but says what would refuse the install.
 */
async function settle(deps: StageDeps, state: StageInput, verdict: TrustVerdict, log: Log): Promise<SignatureOutcome> {
  switch (verdict.verdict) {
    case 'unsigned':
      return { signer: null, warnings: [] };
    case 'trusted':
      log.info('signed by a trusted key', { ...verdict.signer });
      return { signer: verdict.signer, warnings: [] };
    case 'untrusted':
      log.warn('signed by a key the org does not trust', { fingerprint: verdict.fingerprint, reason: verdict.reason });
      return { signer: null, warnings: [verdict.warning] };
    case 'refused': {
      const err = refusalError(verdict.error);
      log.warn('signature refused', { code: err.code, reason: err.details.reason, fingerprint: err.details.fingerprint });
      if (state.kind === 'plan') return { signer: null, warnings: [`${err.code}: ${err.message}`], blockedBy: verdict.error.code };
      await deps.ports.operations.failing(state.operationId, refusalRecord(err));
      throw err;
    }
  }
}

async function stageRevision(deps: StageDeps, state: StageInput, log: Log, fetchDeadline: Date | undefined): Promise<Staging> {
  const plugin = state.plugin ?? '';
  const number = state.revision ?? 0;
  const revision = await deps.ports.revisions.get(state.workspace.id, plugin, number);
  if (!revision) throw new RevisionNotFound(`plugin "${plugin}" has no revision ${number} on this workspace`, { plugin, revision: number });
  const signing = await judgeRevisionSigner(deps, state, revision, log);
  await keepRevisionTarball(deps, revision, state.operationId, log, fetchDeadline);
  const kept = deps.tarballs.locate(revision.sha256);
  return {
    staged: {
      ...kept,
      name: revision.plugin,
      version: revision.version,
      sha256: revision.sha256,
      skills: revision.skills,
      runtimes: revision.runtimes,
      fileCount: revision.files.length,
      bytes: revision.files.reduce((sum, file) => sum + file.size, 0),
      warnings: [],
    },
    files: revision.files,
    signing,
  };
}

/**
 * A rollback puts back bytes whose signature was verified when they were staged (the revision's
 * sha256 pins them), so the signer it recorded is judged again under the org's trust as it is now:
 * a key revoked since is refused, a revision without a trusted signer is refused while the org
 * requires signatures, and so on, as for an install. The statement is rebuilt from the revision
 * (its recorded plugin.yaml's sha256 is the manifest hash).
 */
async function judgeRevisionSigner(deps: StageDeps, state: StageInput, revision: PluginRevision, log: Log): Promise<SignatureOutcome> {
  const trust = await deps.ports.trust.get(state.workspace.orgId);
  const statement = pluginStatement({
    name: revision.plugin,
    version: revision.version ?? undefined,
    contentHash: revision.sha256,
    manifestHash: revision.files.find((file) => file.path === MANIFEST_PATH)?.sha256 ?? NO_MANIFEST_HASH,
  });
  const fingerprint = revision.signer?.fingerprint as Fingerprint | undefined;
  return settle(deps, state, signerVerdict({ fingerprint, statement, trust, now: deps.clock.now() }), log);
}

/**
 * Makes sure a revision's tarball is kept (a rollback's, a reinstall's): when it is not, its source
 * is staged again pinned to its recorded sha256 into the kept place, and when the source no longer
 * gives those bytes the revision has expired (410 revision_expired).
 */
export async function keepRevisionTarball(
  deps: StageDeps,
  revision: Pick<PluginRevision, 'plugin' | 'revision' | 'source' | 'sha256'>,
  operationId: string,
  log: Log,
  fetchDeadline: Date | undefined,
): Promise<void> {
  if (await deps.tarballs.exists(revision.sha256)) return;
  const { plugin, revision: number } = revision;
  log.info('the revision tarball is no longer kept; staging its source again', { plugin, revision: number, source: revision.source });
  try {
    const again = await stagePlugin(deps, { source: revision.source, expectedSha256: revision.sha256, id: operationId, fetchDeadline });
    await deps.tarballs.keep({ bucket: again.staged.bucket, key: again.staged.key }, revision.sha256);
  } catch (err) {
    // Trouble that passes (a fetch, S3, the database) is retried as for an install; anything else
    // means the source no longer gives those bytes.
    if (err instanceof AppError && err.transient) throw err;
    const reason = err instanceof AppError ? err.code : 'staging_failed';
    throw new RevisionExpired(`revision ${number} of "${plugin}" is no longer kept and its source no longer gives those bytes (${reason})`, {
      plugin,
      revision: number,
    });
  }
}
