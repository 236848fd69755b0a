import type { MigrationBuilder } from 'node-pg-migrate';

/** SPEC §6: the tables of the plugin delivery service, plus the per-workspace lease. */
export function up(pgm: MigrationBuilder): void {
  pgm.sql(`
    CREATE TABLE orgs (
      id          text PRIMARY KEY,
      created_at  timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE workspaces (
      id           text PRIMARY KEY,
      org_id       text NOT NULL REFERENCES orgs (id),
      runtime      text NOT NULL,
      instance_id  text,
      transport    text NOT NULL DEFAULT 'auto' CHECK (transport IN ('ssm', 'eic', 'auto')),
      status       text NOT NULL DEFAULT 'online',
      created_at   timestamptz NOT NULL DEFAULT now(),
      updated_at   timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX workspaces_org_idx ON workspaces (org_id);

    CREATE TABLE org_plugin_allowlist (
      org_id       text NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
      plugin_name  text NOT NULL,
      enabled_by   text NOT NULL,
      enabled_at   timestamptz NOT NULL DEFAULT now(),
      UNIQUE (org_id, plugin_name)
    );

    CREATE TABLE workspace_plugins (
      workspace_id  text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
      plugin_name   text NOT NULL,
      version       text,
      source_raw    text NOT NULL,
      sha256        text NOT NULL,
      skills        jsonb NOT NULL DEFAULT '[]',
      runtimes      jsonb NOT NULL DEFAULT '[]',
      installed_at  timestamptz NOT NULL DEFAULT now(),
      updated_at    timestamptz NOT NULL DEFAULT now(),
      uninstall_at  timestamptz,
      uninstall_failed_at timestamptz,
      UNIQUE (workspace_id, plugin_name)
    );
    CREATE INDEX workspace_plugins_uninstall_due_idx ON workspace_plugins (uninstall_at) WHERE uninstall_at IS NOT NULL;

    CREATE TABLE auth_tokens (
      id            bigserial PRIMARY KEY,
      token_hash    text NOT NULL UNIQUE,
      prefix        text NOT NULL,
      kind          text NOT NULL CHECK (kind IN ('admin', 'org', 'workspace')),
      org_id        text REFERENCES orgs (id) ON DELETE CASCADE,
      workspace_id  text REFERENCES workspaces (id) ON DELETE CASCADE,
      created_at    timestamptz NOT NULL DEFAULT now(),
      last_used_at  timestamptz,
      revoked_at    timestamptz
    );

    CREATE TABLE plugin_operations (
      id               text PRIMARY KEY,
      workspace_id     text NOT NULL,
      org_id           text NOT NULL,
      kind             text NOT NULL CHECK (kind IN ('install', 'uninstall')),
      status           text NOT NULL CHECK (status IN ('RUNNING', 'SUCCEEDED', 'FAILED')),
      plugin           text,
      source           text,
      sha256           text,
      execution_arn    text,
      idempotency_key  text,
      actor_prefix     text,
      steps            jsonb NOT NULL DEFAULT '[]',
      warnings         jsonb NOT NULL DEFAULT '[]',
      error            jsonb,
      created_at       timestamptz NOT NULL DEFAULT now(),
      updated_at       timestamptz NOT NULL DEFAULT now(),
      UNIQUE (workspace_id, idempotency_key)
    );
    CREATE INDEX plugin_operations_recent_idx ON plugin_operations (created_at DESC);
    CREATE INDEX plugin_operations_workspace_idx ON plugin_operations (workspace_id, created_at DESC);
    CREATE INDEX plugin_operations_status_idx ON plugin_operations (status, created_at DESC);

    -- Serializes operations on one workspace's host without holding a transaction across network calls.
    CREATE TABLE workspace_leases (
      workspace_id  text PRIMARY KEY,
      holder        text NOT NULL,
      expires_at    timestamptz NOT NULL
    );
  `);
}

export function down(pgm: MigrationBuilder): void {
  pgm.sql(`
    DROP TABLE workspace_leases, plugin_operations, auth_tokens, workspace_plugins,
      org_plugin_allowlist, workspaces, orgs;
  `);
}
