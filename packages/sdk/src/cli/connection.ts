import { homedir } from 'node:os';
import { PluginDeliveryClient } from '../client.js';
import { TokenCache, workspaceStateDir } from '../token-cache.js';
import { type Printer, printer } from './format.js';
import { type Io, UsageError } from './io.js';

/** Which API a command talks to and with which token: flags, then the environment, then the defaults. */

export const DEFAULT_URL = 'http://127.0.0.1:3000';

/** The options every command that talks to the API takes. */
export interface NetworkFlags {
  url?: string;
  token?: string;
  json?: boolean;
}

/** The client a networked command uses, and how it prints (text, or JSON with --json). */
export async function connect(flags: NetworkFlags, io: Io, workspace?: string): Promise<{ client: PluginDeliveryClient; print: Printer }> {
  return {
    client: new PluginDeliveryClient({ baseUrl: apiUrl(flags, io), token: await token(flags, io, workspace) }),
    print: printer(io, flags.json),
  };
}

export function home(io: Io): string {
  return io.env.HOME || homedir();
}

function apiUrl(flags: NetworkFlags, io: Io): string {
  const [value, from] = flags.url
    ? [flags.url, '--url']
    : io.env.MOLECULE_API_URL
      ? [io.env.MOLECULE_API_URL, 'MOLECULE_API_URL']
      : io.env.MOLECULE_PLATFORM_URL
        ? [io.env.MOLECULE_PLATFORM_URL, 'MOLECULE_PLATFORM_URL']
        : [DEFAULT_URL, 'the default'];
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`${from} "${value}" is not a URL (like ${DEFAULT_URL})`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`${from} "${value}" is not an http(s) URL`);
  return value;
}

/** --token, the environment (ours, then the Python SDK's), else the token register() cached for the workspace. */
async function token(flags: NetworkFlags, io: Io, workspace?: string): Promise<string> {
  const given = flags.token ?? io.env.MOLECULE_TOKEN ?? io.env.MOLECULE_WORKSPACE_TOKEN;
  if (given) return given;
  const cached = workspace ? await new TokenCache(workspaceStateDir(workspace, home(io))).load() : undefined;
  if (cached) return cached;
  throw new UsageError(
    `no token: pass --token, set MOLECULE_TOKEN or MOLECULE_WORKSPACE_TOKEN${workspace ? `, or cache one in ~/.molecule/${workspace}/.auth_token` : ''}`,
  );
}
