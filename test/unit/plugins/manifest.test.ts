import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MAX_MANIFEST_BYTES, SKILL_HEAD_BYTES, checkManifest, checkSkillFile, parseManifest } from '../../../lambdas/plugins/manifest.js';
import { ManifestInvalid } from '../../../lambdas/shared/errors.js';

const yaml = (text: string) => parseManifest(Buffer.from(text));

/** Each level is ten references to the one before: 10^8 nodes from a few hundred bytes. */
function aliasBomb(): string {
  const levels = 'abcdefghi'.split('');
  return levels
    .map(
      (level, i) =>
        `${level}: &${level} [${Array(10)
          .fill(i === 0 ? 'lol' : `*${levels[i - 1]}`)
          .join(', ')}]`,
    )
    .join('\n');
}

function rejection(text: string | Buffer): string {
  try {
    parseManifest(Buffer.isBuffer(text) ? text : Buffer.from(text));
  } catch (err) {
    expect(err).toBeInstanceOf(ManifestInvalid);
    expect(err).toMatchObject({ code: 'manifest_invalid', status: 422 });
    return (err as Error).message;
  }
  throw new Error('the manifest was accepted');
}

describe('plugin.yaml', () => {
  it('reads every documented field', () => {
    const manifest = yaml(`
name: acc-good
version: 1.0.0
description: A plugin
author: Molecule
tags: [demo, test]
skills:
  - hello
  - say.bye_2
runtimes: [claude-code, hermes]
rules: [style.md]
sha256: ${'a'.repeat(64)}
hooks: {pre: x}   # other keys belong to the runtime
`);
    expect(manifest).toEqual({
      name: 'acc-good',
      version: '1.0.0',
      description: 'A plugin',
      author: 'Molecule',
      tags: ['demo', 'test'],
      skills: ['hello', 'say.bye_2'],
      runtimes: ['claude-code', 'hermes'],
      rules: ['style.md'],
      sha256: 'a'.repeat(64),
    });
  });

  it('gives empty lists and no name for an empty or missing manifest', () => {
    const empty = { tags: [], skills: [], runtimes: [], rules: [] };
    expect(parseManifest(new Uint8Array())).toEqual(empty);
    expect(yaml('# only a comment\n')).toEqual(empty);
    expect(yaml('name:\nskills: ~\nauthor: null\n')).toEqual(empty);
  });

  it('keeps numbers as written', () => {
    expect(yaml('version: 1.0\n').version).toBe('1.0');
    expect(yaml(`sha256: ${'0'.repeat(64)}\n`).sha256).toBe('0'.repeat(64));
    expect(yaml('tags: [2024, 1e3]\n').tags).toEqual(['2024', '1e3']);
  });

  it.each([
    ['invalid YAML', 'name: "unterminated\n', /not valid YAML/],
    ['a flow list left open', 'name: [unclosed\n', /not valid YAML/],
    ['two documents', 'name: a\n---\nname: b\n', /not valid YAML/],
    ['duplicate keys', 'name: a\nname: b\n', /not valid YAML.*unique/],
    ['a list at the top', '- a\n- b\n', /must be a mapping/],
    ['a scalar at the top', 'just text\n', /must be a mapping/],
    ['skills as a string', 'skills: hello\n', /skills/],
    ['a mapping as the author', 'author: {name: x}\n', /author/],
    ['a boolean as the version', 'version: true\n', /version/],
    ['an invalid plugin name', 'name: Bad Name\n', /name: invalid name "Bad Name"/],
    ['a path as a skill name', 'skills: [ok, ../../etc]\n', /skills\.1: invalid name "\.\.\/\.\.\/etc"/],
    ['a short sha256', 'sha256: abc\n', /sha256: must be 64 lowercase hex characters/],
    ['an upper-case sha256', `sha256: ${'A'.repeat(64)}\n`, /sha256/],
    ['an alias bomb (billion laughs)', aliasBomb(), /not valid YAML/],
  ])('rejects %s', (_, text, message) => {
    expect(rejection(text)).toMatch(message);
  });

  it('rejects bytes that are not UTF-8', () => {
    expect(rejection(Buffer.from([0x6e, 0x61, 0x6d, 0x65, 0x3a, 0x20, 0xff, 0xfe]))).toMatch(/not valid YAML/);
  });

  it(`rejects a manifest over ${MAX_MANIFEST_BYTES} bytes`, () => {
    expect(rejection(`# ${'x'.repeat(MAX_MANIFEST_BYTES)}\n`)).toMatch(/larger than 262144 bytes/);
  });

  it('rejects text the database and listings cannot hold: control characters and oversized fields', () => {
    expect(rejection('version: "1.0\\0"\n')).toMatch(/version: must not contain control characters/);
    expect(rejection('version: "1.0\\n2"\n')).toMatch(/version: must be one line/);
    expect(rejection(`author: "${'a'.repeat(257)}"\n`)).toMatch(/author:/);
    expect(rejection(`tags: [${Array(1001).fill('t').join(', ')}]\n`)).toMatch(/tags:/);
    expect(yaml('description: "two\\nlines\\tand a tab"\n').description).toBe('two\nlines\tand a tab');
  });
});

const fixture = (file: string) => readFileSync(new URL(`../../fixtures/manifests/${file}`, import.meta.url));

/**
 * The manifests `molecule_plugin validate` and we were compared on, with each side's verdict;
 * lambdas/plugins/README.md's table explains every row where the two differ.
 */
describe('plugin.yaml against molecule_plugin validate', () => {
  it.each([
    ['name-number.yaml', /name: must be text, not the number 123 \(write it in quotes\)/],
    ['name-list.yaml', /name: Invalid input/],
    ['runtimes-not-list.yaml', /runtimes: Invalid input: expected array/],
    ['prompt-fragments-not-list.yaml', /prompt_fragments: must be a list/],
    ['secret-in-description.yaml', /description: looks like it holds an AWS access key; plugins must not carry credentials/],
    ['secret-in-hook.yaml', /hooks\.pre\.0\.run: looks like it holds a bearer token/],
    ['bad-yaml.yaml', /^plugin\.yaml is not valid YAML: Missing closing "quote, line 3$/],
    ['duplicate-key.yaml', /^plugin\.yaml is not valid YAML: map keys must be unique, line 2$/],
    ['alias-bomb.yaml', /^plugin\.yaml is not valid YAML: it expands aliases \(\*name\) more than 100 times, as an alias bomb does$/],
    ['deep-flow.yaml', /^plugin\.yaml is not valid YAML: it is nested too deeply, line 2$/],
    ['deep-block.yaml', /nested more than 64 levels deep/],
  ])('refuses %s, as the validator does', (file, message) => {
    const text = rejection(fixture(file));
    expect(text).toMatch(message);
    expect(text).not.toMatch(/call stack|parseAllDocuments|resource exhaustion|Error:/i);
  });

  it('never echoes the credential it found', () => {
    const token = `ghp_${'Ab1'.repeat(12)}`;
    const text = rejection(`name: leaky\ndescription: "use ${token} to deploy"\n`);
    expect(text).toMatch(/description: looks like it holds a GitHub token/);
    expect(text).not.toContain(token);
  });

  it.each([
    ['an OpenAI or Anthropic API key', `sk-ant-${'x'.repeat(30)}`],
    ['a private key', '-----BEGIN OPENSSH PRIVATE KEY-----'],
    ['a long hex secret', 'f'.repeat(64)],
    ['a password', 'password: hunter2hunter2'],
    ['an API key or secret', `api_key=${'k'.repeat(20)}`],
    ['a Slack token', 'xoxb-1234567890-abcdef'],
  ])('refuses a string value that looks like %s, anywhere in the manifest', (what, secret) => {
    expect(rejection(`name: leaky\ncommands:\n  deploy: ${JSON.stringify(secret)}\n`)).toMatch(`commands.deploy: looks like it holds ${what}`);
  });

  it('does not take the content hash, or ordinary prose, for a secret', () => {
    const { manifest, warnings } = checkManifest(Buffer.from(`name: fine\ndescription: Ask for the secret word, then say hello.\nsha256: ${'a'.repeat(64)}\n`));
    expect(manifest.sha256).toBe('a'.repeat(64));
    expect(warnings).toEqual([]);
  });

  it.each([
    ['no-name.yaml', { version: '1.0.0' }, 'plugin.yaml has no name; the plugin takes the name of its source'],
    [
      'unknown-runtime.yaml',
      { runtimes: ['claud_code'] },
      'plugin.yaml declares runtime "claud_code", which is not a known runtime; no such workspace will list it',
    ],
  ])('stages %s, which the validator refuses, with a warning (SPEC allows it)', (file, fields, warning) => {
    const { manifest, warnings } = checkManifest(fixture(file));
    expect(manifest).toMatchObject(fields);
    expect(warnings).toEqual([warning]);
  });

  it('accepts the SDK template and keeps its runtime names as written', () => {
    const { manifest, warnings } = checkManifest(fixture('sdk-template.yaml'));
    expect(manifest).toMatchObject({ name: 'sdk-built', version: '0.1.0', runtimes: ['claude_code', 'deepagents'] });
    expect(warnings).toEqual([]);
  });

  it('knows runtimes whatever their case (the validator does not)', () => {
    const { manifest, warnings } = checkManifest(fixture('runtime-case.yaml'));
    expect(manifest.runtimes).toEqual(['Claude-Code', 'LangGraph']);
    expect(warnings).toEqual([]);
  });

  it('accepts empty lists written as nothing (the validator refuses them)', () => {
    expect(checkManifest(fixture('null-lists.yaml')).manifest).toMatchObject({ tags: [], skills: [], runtimes: [] });
  });

  it('accepts a description over 4096 characters, as the validator does', () => {
    expect(yaml(`description: "${'x'.repeat(5000)}"\n`).description).toHaveLength(5000);
  });

  it.each([
    ['uppercase-name.yaml', /name: invalid name "My-Plugin"/],
    ['skill-name-my-skill.yaml', /skills\.0: invalid name "My_Skill"/],
  ])('keeps refusing %s, which the validator accepts (SPEC §2 names)', (file, message) => {
    expect(rejection(fixture(file))).toMatch(message);
  });
});

describe('SKILL.md frontmatter (agentskills.io, as the validator checks it)', () => {
  const check = (text: string, folder = 'hello') => checkSkillFile(folder, Buffer.from(text), true);

  it('passes a skill whose frontmatter names its folder and describes it', () => {
    expect(check('---\nname: hello\ndescription: Say hello.\nlicense: MIT\nmetadata: {author: me}\n---\n# hello\n')).toBeUndefined();
    expect(check('\uFEFF---\r\nname: hello\r\ndescription: Say hello.\r\n---\r\n')).toBeUndefined();
  });

  it.each([
    ['no frontmatter', '# hello\nSay hello.\n', 'skills/hello/SKILL.md has no YAML frontmatter: it must start with a --- line, then name and description'],
    ['an empty file', '', 'skills/hello/SKILL.md has no YAML frontmatter: it must start with a --- line, then name and description'],
    ['frontmatter never closed', '---\nname: hello\n', 'skills/hello/SKILL.md: its frontmatter has no closing --- line'],
    ['a name that is not its folder', '---\nname: hi\ndescription: d\n---\n', 'skills/hello/SKILL.md: name "hi" differs from its folder "hello"'],
    ['no name or description', '---\nlicense: MIT\n---\n', 'skills/hello/SKILL.md: name is required; description is required'],
    ['empty frontmatter', '---\n---\n', 'skills/hello/SKILL.md: name is required; description is required'],
    ['a list as frontmatter', '---\n- a\n---\n', 'skills/hello/SKILL.md: its frontmatter must be a mapping'],
    ['bad YAML', '---\nname: hello\ndescription: "open\n---\n', /^skills\/hello\/SKILL\.md frontmatter is not valid YAML: .*line \d+$/],
    [
      'mistyped optional fields',
      '---\nname: hello\ndescription: d\nlicense: 3\nallowed-tools: [a]\nmetadata: x\n---\n',
      /license must be text; metadata must be a mapping; allowed-tools must be a space-separated list/,
    ],
  ])('warns about %s', (_, text, warning) => {
    if (typeof warning === 'string') expect(check(text)).toBe(warning);
    else expect(check(text)).toMatch(warning);
  });

  it('holds skill names to agentskills.io: lower-case words and single hyphens, at most 64', () => {
    expect(check('---\nname: My_Skill\ndescription: d\n---\n', 'My_Skill')).toMatch(/name must be lower-case words joined by single hyphens/);
    expect(check('---\nname: a--b\ndescription: d\n---\n', 'a--b')).toMatch(/single hyphens/);
    const long = 'a'.repeat(65);
    expect(check(`---\nname: ${long}\ndescription: d\n---\n`, long)).toMatch(/name must be at most 64 characters/);
    expect(check(`---\nname: hello\ndescription: ${'d'.repeat(1025)}\n---\n`)).toMatch(/description must be at most 1024 characters/);
  });

  it('says when the frontmatter runs past the bytes it reads', () => {
    const head = Buffer.from(`---\nname: hello\ndescription: ${'d'.repeat(SKILL_HEAD_BYTES)}`).subarray(0, SKILL_HEAD_BYTES);
    expect(checkSkillFile('hello', head, false)).toBe('skills/hello/SKILL.md: its frontmatter does not end within the first 8 KiB');
  });

  it('reports YAML trouble in the frontmatter in plain words, with the line of the file', () => {
    expect(check('---\nname: hello\nname: again\n---\n')).toBe('skills/hello/SKILL.md frontmatter is not valid YAML: map keys must be unique, line 3');
  });
});
