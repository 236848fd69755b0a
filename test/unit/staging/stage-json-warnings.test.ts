import { describe, expect, it } from 'vitest';
import { listTarGz, pluginEntries, tarGz } from '../../support/archives.js';
import { MiB, stage, useStageDir } from '../../support/stage-helpers.js';

/**
 * Stage does not judge hooks or MCP configs, but a runtime cannot load a plugin whose root
 * `.mcp.json` or `hooks/hooks.json` is not valid JSON, and the health gate would undo it (SPEC §9):
 * such a plugin stages, with a warning `invalid_json: <path>`.
 */
const dir = useStageDir();
const BASE = { 'plugin.yaml': 'name: hooked\nversion: 1.0.0\n', 'rules/x.md': 'x\n' };

async function staged(files: Record<string, string | Buffer>, topLevel?: string) {
  const { result, error, sink } = await stage(await tarGz(pluginEntries({ ...BASE, ...files }, topLevel)), {
    tmpDir: dir.path,
    stripTopLevel: topLevel !== undefined,
  });
  expect(error).toBeUndefined();
  return { result, sink };
}

describe('stageArchive: JSON a runtime parses', () => {
  it('says nothing of a valid .mcp.json and hooks/hooks.json', async () => {
    const { result } = await staged({ '.mcp.json': '{"mcpServers": {}}\n', 'hooks/hooks.json': '{"hooks": {"Stop": []}}' });

    expect(result?.warnings).toEqual([]);
  });

  it('stages a plugin whose .mcp.json is not valid JSON, with invalid_json: .mcp.json', async () => {
    const { result, sink } = await staged({ '.mcp.json': '{"mcpServers": {,}}' });

    expect(result?.warnings).toEqual(['invalid_json: .mcp.json']);
    expect(sink.calls).toBe(1);
    expect((await listTarGz(sink.bytes)).map((entry) => entry.name)).toContain('.mcp.json');
  });

  it('warns about an invalid hooks/hooks.json, and about both when both are', async () => {
    expect((await staged({ 'hooks/hooks.json': '' })).result?.warnings).toEqual(['invalid_json: hooks/hooks.json']);
    expect((await staged({ '.mcp.json': '{', 'hooks/hooks.json': 'hooks: yaml' })).result?.warnings).toEqual([
      'invalid_json: .mcp.json',
      'invalid_json: hooks/hooks.json',
    ]);
  });

  it('checks the plugin root once a GitHub archive’s top-level directory is dropped', async () => {
    expect((await staged({ '.mcp.json': 'nope' }, 'repo-abc123')).result?.warnings).toEqual(['invalid_json: .mcp.json']);
  });

  it('leaves JSON deeper in the plugin alone: no runtime loads it from there', async () => {
    expect((await staged({ 'examples/.mcp.json': 'nope', 'hooks/extra/hooks.json': 'nope' })).result?.warnings).toEqual([]);
  });

  it('does not read a file too large to check, and does not call it valid either', async () => {
    const big = Buffer.concat([Buffer.from('{"pad": "'), Buffer.alloc(MiB, 'x'), Buffer.from('"}')]);

    expect((await staged({ '.mcp.json': big })).result?.warnings).toEqual(['unchecked_json: .mcp.json is larger than 1048576 bytes, so it was not checked']);
  });
});
