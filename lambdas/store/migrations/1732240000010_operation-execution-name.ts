import type { MigrationBuilder } from 'node-pg-migrate';

/**
 * Issue #9: executions are named after what they do (`install-<workspace>-<plugin>-<8 hex>`), no
 * longer after the operation id, so the operation keeps the name, and the reconciler finds an
 * operation by its execution's ARN. The ops view filters by org and pages by (created_at, id).
 */
export function up(pgm: MigrationBuilder): void {
  pgm.sql(`
    ALTER TABLE plugin_operations ADD COLUMN execution_name text;
    CREATE INDEX plugin_operations_execution_arn_idx ON plugin_operations (execution_arn);
    CREATE INDEX plugin_operations_org_idx ON plugin_operations (org_id, created_at DESC);
    CREATE INDEX plugin_operations_page_idx ON plugin_operations (created_at DESC, id DESC);
  `);
}

export function down(pgm: MigrationBuilder): void {
  pgm.sql(`
    DROP INDEX plugin_operations_page_idx, plugin_operations_org_idx, plugin_operations_execution_arn_idx;
    ALTER TABLE plugin_operations DROP COLUMN execution_name;
  `);
}
