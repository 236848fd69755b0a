import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EnvSchema, OTHER_ENV_DOCS } from '../../../lambdas/shared/config.js';
import { CONFIG_DOC_PATH, REGENERATE_COMMAND, renderConfigDocs, schemaDefault } from '../../../scripts/config-docs.js';

const repoRoot = join(import.meta.dirname, '..', '..', '..');

describe('docs/configuration.md', () => {
  it('is what scripts/config-docs.ts renders from lambdas/shared/config.ts', async () => {
    const onDisk = await readFile(CONFIG_DOC_PATH, 'utf8').catch(() => '');
    const rendered = renderConfigDocs();
    if (onDisk !== rendered) {
      expect.fail(`docs/configuration.md is out of date with lambdas/shared/config.ts: run \`${REGENERATE_COMMAND}\` and commit the result`);
    }
  });

  it('shows each default as the schema declares it, in the form a user would write it', () => {
    const shape = EnvSchema.shape as unknown as Record<string, Parameters<typeof schemaDefault>[0]>;
    expect(schemaDefault(shape.PLUGIN_DELIVERY_TIMEOUT!)).toBe('5m');
    expect(schemaDefault(shape.PLUGIN_DOWNLOAD_BUDGET!)).toBe('25s');
    expect(schemaDefault(shape.DATABASE_POOL_MAX!)).toBe('4');
    expect(schemaDefault(shape.PLUGIN_ALLOW_UNPINNED!)).toBe('false');
    expect(schemaDefault(shape.DATABASE_URL!)).toBeUndefined();
    expect(schemaDefault(shape.PLUGIN_EIC_ENDPOINT_IDS!)).toBeUndefined();
  });

  it('names, for every variable read outside loadConfig, a file that reads it', async () => {
    for (const [name, doc] of Object.entries(OTHER_ENV_DOCS)) {
      expect(await readFile(join(repoRoot, doc.readBy), 'utf8'), `${doc.readBy} should read ${name}`).toContain(name);
    }
  });
});
