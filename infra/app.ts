import { App } from 'aws-cdk-lib';
import { PluginDeliveryStack } from './stack.js';

const app = new App();
const context = (key: string): string | undefined => {
  const value: unknown = app.node.tryGetContext(key);
  return typeof value === 'string' && value ? value : undefined;
};

/** `-c subnetIds=subnet-a,subnet-b -c securityGroupIds=sg-...` puts the functions in those VPC subnets. */
function networkContext() {
  const list = (key: string) => (context(key) ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const subnetIds = list('subnetIds');
  const securityGroupIds = list('securityGroupIds');
  return subnetIds.length || securityGroupIds.length ? { subnetIds, securityGroupIds } : undefined;
}

// `cdk synth -c databaseSecretArn=arn:aws:secretsmanager:...` pins the existing database secret;
// without it the template takes the `DatabaseSecretArn` parameter at deploy time.
new PluginDeliveryStack(app, context('stackName') ?? 'MoleculePluginDelivery', {
  description: 'Molecule plugin delivery: HTTP API, install/uninstall workflow, staging bucket, scheduled cleanup',
  databaseSecretArn: context('databaseSecretArn'),
  githubTokenSecretArn: context('githubTokenSecretArn'),
  adminTokenSecretArn: context('adminTokenSecretArn'),
  eicOsUser: context('eicOsUser'),
  network: networkContext(),
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
});
