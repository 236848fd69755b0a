import { describe, expect, it } from 'vitest';
import { loadConfig, logLevelFrom } from '../../../lambdas/shared/config.js';

describe('configuration', () => {
  it('keeps presigned URLs within the 300 s SPEC allows, whatever PLUGIN_PRESIGN_TTL says', () => {
    expect(loadConfig({}).presignTtlSeconds).toBe(300);
    expect(loadConfig({ PLUGIN_PRESIGN_TTL: '90s' }).presignTtlSeconds).toBe(90);
    expect(loadConfig({ PLUGIN_PRESIGN_TTL: '10m' }).presignTtlSeconds).toBe(300);
  });

  it('reads the database pool size, 4 connections unless DATABASE_POOL_MAX says otherwise', () => {
    expect(loadConfig({}).databasePoolMax).toBe(4);
    expect(loadConfig({ DATABASE_POOL_MAX: '10' }).databasePoolMax).toBe(10);
    expect(() => loadConfig({ DATABASE_POOL_MAX: 'many' })).toThrow(/DATABASE_POOL_MAX/);
  });

  it('runs the cleanup every 15 minutes unless PLUGIN_CLEANUP_INTERVAL says otherwise', () => {
    expect(loadConfig({}).cleanupIntervalMs).toBe(15 * 60_000);
    expect(loadConfig({ PLUGIN_CLEANUP_INTERVAL: '1h' }).cleanupIntervalMs).toBe(3_600_000);
    expect(loadConfig({ PLUGIN_CLEANUP_INTERVAL: '5s' }).cleanupIntervalMs).toBe(5_000);
    expect(() => loadConfig({ PLUGIN_CLEANUP_INTERVAL: 'hourly' })).toThrow(/PLUGIN_CLEANUP_INTERVAL/);
    expect(() => loadConfig({ PLUGIN_CLEANUP_INTERVAL: '0s' })).toThrow(/PLUGIN_CLEANUP_INTERVAL.*must be longer than 0/s);
  });

  it("runs the stack's own SSM document when the stack names one, AWS-RunShellScript otherwise", () => {
    expect(loadConfig({}).ssmDocumentName).toBe('AWS-RunShellScript');
    expect(loadConfig({ PLUGIN_SSM_DOCUMENT: 'molecule-host-command' }).ssmDocumentName).toBe('molecule-host-command');
  });

  it('addresses S3 path-style only when an endpoint override asks for it', () => {
    expect(loadConfig({}).s3PathStyle).toBe(false);
    expect(loadConfig({ AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:4569' }).s3PathStyle).toBe(true);
    expect(loadConfig({ AWS_ENDPOINT_URL: 'http://127.0.0.1:4566' }).s3PathStyle).toBe(true);
  });

  it("finds a runtime's config dir however the runtime name is spelled, on both sides of PLUGIN_CONFIG_DIRS", () => {
    const config = loadConfig({ PLUGIN_CONFIG_DIRS: 'Deep_Agents=/srv/deep' });
    expect(['claude-code', 'claude_code', 'Claude-Code'].map(config.configDirFor)).toEqual(['/configs', '/configs', '/configs']);
    expect(config.configDirFor('HERMES')).toBe('/home/ubuntu/.hermes');
    expect(config.configDirFor('deep-agents')).toBe('/srv/deep');
    expect(loadConfig({ PLUGIN_CONFIG_DIRS: 'claude_code=/opt/cc' }).configDirFor('claude-code')).toBe('/opt/cc');
    expect(config.configDirFor('crewai')).toBe('/configs');
  });

  it('holds the archive limits SPEC §3 names by default', () => {
    expect(loadConfig({}).limits).toMatchObject({ maxDirBytes: 100 * 1024 * 1024, maxFiles: 10_000, maxArchiveBytes: 100 * 1024 * 1024 });
  });
});

describe('the log level', () => {
  it('is INFO unless LOG_LEVEL is set, and silent under test', () => {
    expect(logLevelFrom({})).toBe('INFO');
    expect(logLevelFrom({ NODE_ENV: 'test' })).toBe('SILENT');
    expect(logLevelFrom({ VITEST: 'true' })).toBe('SILENT');
  });

  it('takes LOG_LEVEL in any case, and falls back to INFO for a level Powertools does not know', () => {
    expect(logLevelFrom({ LOG_LEVEL: 'debug', VITEST: 'true' })).toBe('DEBUG');
    expect(logLevelFrom({ LOG_LEVEL: 'loud' })).toBe('INFO');
  });
});
