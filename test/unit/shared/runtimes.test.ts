import { describe, expect, it } from 'vitest';
import { isKnownRuntime, runtimeKey, sameRuntime, supportsRuntime } from '@molecule/plugins-sdk/contract/runtimes';

describe('runtime names (SPEC §5)', () => {
  it.each([
    ['claude_code', 'claude-code'],
    ['Claude-Code', 'claude_code'],
    ['CLAUDE_CODE', 'claude-code'],
    ['hermes', 'Hermes'],
    ['deep_agents_v2', 'deep-agents-v2'],
  ])('treats %j and %j as one runtime', (a, b) => {
    expect(sameRuntime(a, b)).toBe(true);
    expect(sameRuntime(b, a)).toBe(true);
    expect(runtimeKey(a)).toBe(runtimeKey(b));
  });

  it.each([
    ['claude-code', 'claude'],
    ['claude-code', 'claudecode'],
    ['claude-code', 'claude--code'],
    ['claude-code', ' claude-code'],
    ['langgraph', 'lang-graph'],
    ['hermes', ''],
  ])('keeps %j and %j apart', (a, b) => {
    expect(sameRuntime(a, b)).toBe(false);
  });

  it('lists a plugin built from the SDK template on a claude-code workspace', () => {
    expect(supportsRuntime(['claude_code', 'deepagents'], 'claude-code')).toBe(true);
    expect(supportsRuntime(['claude_code', 'deepagents'], 'hermes')).toBe(false);
  });

  it('takes an empty list as every runtime', () => {
    expect(supportsRuntime([], 'claude-code')).toBe(true);
    expect(supportsRuntime([], 'anything-else')).toBe(true);
  });

  it('does not rewrite the names it compares', () => {
    const runtimes = ['Claude_Code'];
    supportsRuntime(runtimes, 'claude-code');
    expect(runtimes).toEqual(['Claude_Code']);
  });

  it("knows the validator's runtimes in either spelling, and hermes", () => {
    for (const name of ['claude_code', 'claude-code', 'deepagents', 'langgraph', 'crewai', 'autogen', 'openclaw', 'hermes', 'LangGraph']) {
      expect(isKnownRuntime(name), name).toBe(true);
    }
    for (const name of ['claud_code', 'external', 'codex', '']) {
      expect(isKnownRuntime(name), name).toBe(false);
    }
  });
});
