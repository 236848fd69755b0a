import type { MigrationBuilder } from 'node-pg-migrate';

/**
 * At most one uninstall of a plugin RUNNING on a workspace: a second request while one runs is
 * that operation (lambdas/store/operations.ts `createOperation`), so two concurrent uninstalls
 * never both reach the host and restart the agent twice. Partial, so the audit log keeps every
 * finished one. Built on a database where two already run, it fails: let them finish and migrate again.
 */
export function up(pgm: MigrationBuilder): void {
  pgm.sql(
    `CREATE UNIQUE INDEX plugin_operations_one_running_uninstall_idx ON plugin_operations (workspace_id, plugin) WHERE kind = 'uninstall' AND status = 'RUNNING'`,
  );
}

export function down(pgm: MigrationBuilder): void {
  pgm.sql('DROP INDEX plugin_operations_one_running_uninstall_idx');
}
