import type { MigrationBuilder } from 'node-pg-migrate';

/**
 * SPEC §10 fleet rollouts: the rollout and its ledger, one row per target in workspace-id order
 * (`position`), each pending, running, done or skipped with its install operation. The driver
 * reads the ledger and starts what the rate control allows, so the ledger is the truth a
 * restarted driver resumes from. An operation started by a rollout carries `rollout_id`.
 */
export function up(pgm: MigrationBuilder): void {
  pgm.sql(`
    CREATE TABLE rollouts (
      id                text PRIMARY KEY,
      org_id            text NOT NULL REFERENCES orgs (id),
      kind              text NOT NULL CHECK (kind IN ('install', 'rollback')),
      status            text NOT NULL CHECK (status IN ('RUNNING', 'SUCCEEDED', 'STOPPED', 'CANCELLED', 'FAILED')),
      plugin            text,
      source            text,
      sha256            text,
      request           jsonb NOT NULL,
      max_concurrency   text NOT NULL,
      max_errors        text NOT NULL,
      canary            integer NOT NULL CHECK (canary >= 0),
      failure_mode      text NOT NULL CHECK (failure_mode IN ('tolerant', 'strict')),
      cancel_requested  boolean NOT NULL DEFAULT false,
      staged            jsonb,
      parent_rollout_id text REFERENCES rollouts (id),
      execution_arn     text,
      error             jsonb,
      actor_prefix      text,
      created_at        timestamptz NOT NULL DEFAULT now(),
      updated_at        timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX rollouts_org_idx ON rollouts (org_id, created_at DESC);
    CREATE INDEX rollouts_running_idx ON rollouts (created_at) WHERE status = 'RUNNING';

    CREATE TABLE rollout_targets (
      rollout_id    text NOT NULL REFERENCES rollouts (id) ON DELETE CASCADE,
      position      integer NOT NULL,
      workspace_id  text NOT NULL,
      status        text NOT NULL CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'skipped', 'rolled_back')),
      operation_id  text,
      reason        text,
      error         jsonb,
      plan          jsonb,
      -- A rollback rollout: the revision to put back on this workspace; null: uninstall the plugin.
      revision      integer,
      started_at    timestamptz,
      ended_at      timestamptz,
      PRIMARY KEY (rollout_id, position),
      UNIQUE (rollout_id, workspace_id)
    );
    CREATE INDEX rollout_targets_running_idx ON rollout_targets (rollout_id) WHERE status = 'running';

    ALTER TABLE plugin_operations ADD COLUMN rollout_id text;
    CREATE INDEX plugin_operations_rollout_idx ON plugin_operations (rollout_id) WHERE rollout_id IS NOT NULL;
  `);
}

export function down(pgm: MigrationBuilder): void {
  pgm.sql(`
    DROP INDEX plugin_operations_rollout_idx;
    ALTER TABLE plugin_operations DROP COLUMN rollout_id;
    DROP TABLE rollout_targets, rollouts;
  `);
}
