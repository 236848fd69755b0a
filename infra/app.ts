import { App } from 'aws-cdk-lib';
import { PluginDeliveryStack } from './stack.js';

const app = new App();
const context = (key: string): string | undefined => {
  const value: unknown = app.node.tryGetContext(key);
  return typeof value === 'string' && value ? value : undefined;
};

function number(key: string): number | undefined {
  const value = context(key);
  return value === undefined ? undefined : Number(value);
}

/** `-c subnetIds=subnet-a,subnet-b -c securityGroupIds=sg-...` puts the functions in those VPC subnets. */
function networkContext() {
  const list = (key: string) =>
    (context(key) ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  const subnetIds = list('subnetIds');
  const securityGroupIds = list('securityGroupIds');
  return subnetIds.length || securityGroupIds.length ? { subnetIds, securityGroupIds } : undefined;
}

/** A comma-separated context value as a list. */
function list(key: string): string[] {
  return (context(key) ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function eicConnection(): 'direct' | 'endpoint' | 'auto' | undefined {
  const value = context('eicConnection');
  if (value === undefined || value === 'direct' || value === 'endpoint' || value === 'auto') return value;
  throw new Error(`eicConnection must be direct, endpoint or auto, not "${value}"`);
}

// `cdk synth -c databaseSecretArn=arn:aws:secretsmanager:...` pins the existing database secret;
// without it the template takes the `DatabaseSecretArn` parameter at deploy time.
new PluginDeliveryStack(app, context('stackName') ?? 'MoleculePluginDelivery', {
  description: 'Molecule plugin delivery: HTTP API, install/uninstall workflow, staging bucket, scheduled cleanup',
  databaseSecretArn: context('databaseSecretArn'),
  githubTokenSecretArn: context('githubTokenSecretArn'),
  adminTokenSecretArn: context('adminTokenSecretArn'),
  eicOsUser: context('eicOsUser'),
  eicHostKeyFingerprints: context('eicHostKeyFingerprints'),
  eicAcceptAnyHostKey: context('eicAcceptAnyHostKey') === 'true',
  network: networkContext(),
  eicEndpoint: {
    endpointIds: list('eicEndpointIds'),
    privateIpCidrs: list('eicPrivateIpCidrs'),
    endpointSubnetIds: list('eicEndpointSubnetIds'),
    vpcId: context('eicVpcId'),
    instanceSecurityGroupId: context('eicInstanceSecurityGroupId'),
    connection: eicConnection(),
  },
  database: { host: context('databaseHost'), port: context('databasePort'), name: context('databaseName') },
  rdsProxyEndpoint: context('rdsProxyEndpoint'),
  secretsKmsKeyArn: context('secretsKmsKeyArn'),
  workspaceTagKey: context('workspaceTagKey'),
  throttle: { rateLimit: number('throttleRateLimit'), burstLimit: number('throttleBurstLimit') },
  reservedConcurrency: { api: number('apiReservedConcurrency'), step: number('stepReservedConcurrency') },
  maxOperationsPerOrg: number('maxOperationsPerOrg'),
  sourceMaps: context('sourceMaps') === 'true',
  alarmEmail: context('alarmEmail'),
  // The region comes from context or the CLI's environment; with neither the template stays region-agnostic.
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: context('region') ?? process.env.CDK_DEFAULT_REGION },
});
