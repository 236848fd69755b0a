import type { MigrationBuilder } from 'node-pg-migrate';

/**
 * SPEC §9: every install that passed Deliver is a revision of that plugin on that workspace, with
 * the files it delivered, so a rollback can put back exactly those bytes and a plan can say what
 * an update would change. `tarball_kept`: the revision is among the last PLUGIN_REVISIONS_KEPT of
 * its workspace and plugin, so `revisions/<sha256>.tar.gz` must stay in the bucket; the cleanup
 * deletes an object no kept revision names and sets `tarball_deleted` on the revisions that had it. An operation keeps the files Stage found
 * (`staged_files`), what a plan found (`plan`), the revision it recorded or rolled back to, and
 * the signer Stage verified. Operations gain the kinds `rollback` and `plan`.
 */
export function up(pgm: MigrationBuilder): void {
  pgm.sql(`
    CREATE TABLE plugin_revisions (
      workspace_id  text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
      plugin_name   text NOT NULL,
      revision      integer NOT NULL CHECK (revision > 0),
      version       text,
      source_raw    text NOT NULL,
      sha256        text NOT NULL,
      skills        jsonb NOT NULL DEFAULT '[]',
      runtimes      jsonb NOT NULL DEFAULT '[]',
      files         jsonb NOT NULL,
      signer        jsonb,
      operation_id  text NOT NULL,
      installed_at  timestamptz NOT NULL DEFAULT now(),
      status        text NOT NULL CHECK (status IN ('active', 'superseded', 'rolled_back', 'removed')),
      tarball_kept  boolean NOT NULL DEFAULT true,
      tarball_deleted boolean NOT NULL DEFAULT false,
      PRIMARY KEY (workspace_id, plugin_name, revision),
      UNIQUE (operation_id)
    );
    CREATE UNIQUE INDEX plugin_revisions_one_active_idx ON plugin_revisions (workspace_id, plugin_name) WHERE status = 'active';
    CREATE INDEX plugin_revisions_kept_sha_idx ON plugin_revisions (sha256) WHERE tarball_kept;
    CREATE INDEX plugin_revisions_expired_sha_idx ON plugin_revisions (sha256) WHERE NOT tarball_kept AND NOT tarball_deleted;

    ALTER TABLE plugin_operations
      ADD COLUMN staged_files jsonb,
      ADD COLUMN plan jsonb,
      ADD COLUMN revision integer,
      ADD COLUMN signer jsonb,
      DROP CONSTRAINT plugin_operations_kind_check,
      ADD CONSTRAINT plugin_operations_kind_check CHECK (kind IN ('install', 'uninstall', 'rollback', 'plan', 'verify', 'repair'));
  `);
}

export function down(pgm: MigrationBuilder): void {
  pgm.sql(`
    DELETE FROM plugin_operations WHERE kind NOT IN ('install', 'uninstall');
    ALTER TABLE plugin_operations
      DROP CONSTRAINT plugin_operations_kind_check,
      ADD CONSTRAINT plugin_operations_kind_check CHECK (kind IN ('install', 'uninstall')),
      DROP COLUMN staged_files, DROP COLUMN plan, DROP COLUMN revision, DROP COLUMN signer;
    DROP TABLE plugin_revisions;
  `);
}
