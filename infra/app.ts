import { App } from 'aws-cdk-lib';
import { PluginDeliveryStack } from './stack.js';

const app = new App();
const context = (key: string): string | undefined => {
  const value: unknown = app.node.tryGetContext(key);
  return typeof value === 'string' && value ? value : undefined;
};

// `cdk synth -c databaseSecretArn=arn:aws:secretsmanager:...` pins the existing database secret;
// without it the template takes the `DatabaseSecretArn` parameter at deploy time.
new PluginDeliveryStack(app, context('stackName') ?? 'MoleculePluginDelivery', {
  description: 'Molecule plugin delivery: HTTP API, install/uninstall workflow, staging bucket, scheduled cleanup',
  databaseSecretArn: context('databaseSecretArn'),
  githubTokenSecretArn: context('githubTokenSecretArn'),
  adminTokenSecretArn: context('adminTokenSecretArn'),
  eicOsUser: context('eicOsUser'),
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
});
