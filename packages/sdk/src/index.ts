/** The package's public surface: the API client, the remote-agent client, the pull and plugin signatures. */
export { ApiError, PluginDeliveryClient, networkError } from './client.js';
export type {
  Accepted,
  ClientOptions,
  Download,
  Finished,
  InstallRequest,
  InstalledPlugin,
  Operation,
  OrgTrust,
  RegistryPlugin,
  Scheduled,
  TrustUpdate,
} from './client.js';
export { pullPlugin, installDownload, type PullOptions, type PulledPlugin } from './pull.js';
export {
  RemoteAgentClient,
  makeIdempotencyKey,
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  DEFAULT_SETUP_TIMEOUT_MS,
  DEFAULT_URL_CACHE_TTL_MS,
  type AgentLogger,
  type HeartbeatReport,
  type LocalInstall,
  type PeerInfo,
  type RemoteAgentOptions,
  type SetupOutcome,
  type WorkspaceState,
} from './remote-agent.js';
export { TokenCache, TOKEN_FILE, workspaceStateDir } from './token-cache.js';
export { retryAfterMs } from './retry.js';
export { hashPluginDir } from './plugin-dir.js';
export {
  dirStatement,
  signPluginDir,
  trustFromAllowedSigners,
  verifyPluginDir,
  type DirStatement,
  type DirVerification,
  type SignedDir,
} from './signatures.js';
