import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { PluginDeliveryStack } from '../../../infra/stack.js';

const DATABASE_SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:molecule-db-AbCdEf';

type Resource = { Properties: Record<string, unknown> };

function synth(props: ConstructorParameters<typeof PluginDeliveryStack>[2] = {}): Template {
  const app = new App();
  const stack = new PluginDeliveryStack(app, 'Test', {
    bundle: false,
    env: { account: '123456789012', region: 'eu-west-1' },
    databaseSecretArn: DATABASE_SECRET_ARN,
    ...props,
  });
  return Template.fromStack(stack);
}

function policyStatementsOf(template: Template, functionLogicalId: string): Array<{ Action: string | string[]; Resource: unknown }> {
  const fn = template.findResources('AWS::Lambda::Function')[functionLogicalId] as Resource;
  const roleId = (fn.Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
  return Object.values(template.findResources('AWS::IAM::Policy') as Record<string, Resource>)
    .filter((p) => (p.Properties.Roles as Array<{ Ref: string }>).some((r) => r.Ref === roleId))
    .flatMap((p) => (p.Properties.PolicyDocument as { Statement: Array<{ Action: string | string[]; Resource: unknown }> }).Statement);
}

function actionsOf(template: Template, functionLogicalId: string): string[] {
  return policyStatementsOf(template, functionLogicalId).flatMap((s) => [s.Action].flat());
}

/** The service's own functions (not the CDK-provided custom resource providers). */
function ownFunctions(template: Template): Resource[] {
  return Object.values(template.findResources('AWS::Lambda::Function') as Record<string, Resource>).filter(
    (fn) =>
      (fn.Properties.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables?.POWERTOOLS_SERVICE_NAME === 'molecule-plugin-delivery',
  );
}

function functionId(template: Template, handlerDescription: RegExp): string {
  const [id] =
    Object.entries(template.findResources('AWS::Lambda::Function') as Record<string, Resource>).find(([, fn]) =>
      handlerDescription.test(String(fn.Properties.Description)),
    ) ?? [];
  if (!id) throw new Error(`no function described as ${handlerDescription}`);
  return id;
}

describe('PluginDeliveryStack', () => {
  let template: Template;
  beforeAll(() => {
    template = synth();
  });

  it('runs the workflow as a Standard state machine with full logging and tracing', () => {
    template.resourceCountIs('AWS::StepFunctions::StateMachine', 1);
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineType: 'STANDARD',
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: Match.objectLike({ Level: 'ALL', IncludeExecutionData: true }),
    });
  });

  it('expires staged objects after one day in an encrypted, private, TLS-only bucket', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: { Rules: Match.arrayWith([Match.objectLike({ ExpirationInDays: 1, Status: 'Enabled' })]) },
      BucketEncryption: Match.objectLike({ ServerSideEncryptionConfiguration: Match.anyValue() }),
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]),
      },
    });
  });

  it('runs every Lambda on Node.js 22 on arm64 with tracing', () => {
    const functions = ownFunctions(template);
    expect(functions).toHaveLength(16);
    for (const fn of functions) {
      expect(fn.Properties.Runtime).toBe('nodejs22.x');
      expect(fn.Properties.Architectures).toEqual(['arm64']);
      expect(fn.Properties.TracingConfig).toEqual({ Mode: 'Active' });
      expect(fn.Properties.LoggingConfig).toEqual({ LogGroup: expect.anything() });
    }
  });

  it('runs the cleanup every 15 minutes', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(15 minutes)',
      State: 'ENABLED',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [functionId(template, /scheduled uninstalls/), 'Arn'] } })],
    });
  });

  it('has no API Gateway authorizer: every route goes straight to the API function, which authenticates', () => {
    template.resourceCountIs('AWS::ApiGatewayV2::Authorizer', 0);
    const routes = Object.values(template.findResources('AWS::ApiGatewayV2::Route') as Record<string, Resource>).map((r) => r.Properties);
    expect(routes.map((r) => r.RouteKey).sort()).toEqual(['ANY /{proxy+}', 'GET /health']);
    const apiIntegrations = Object.keys(template.findResources('AWS::ApiGatewayV2::Integration'));
    expect(apiIntegrations).toHaveLength(1);
    for (const route of routes) {
      expect(route.AuthorizationType).toBe('NONE');
      expect(route.AuthorizerId).toBeUndefined();
      expect(route.Target).toEqual({ 'Fn::Join': ['', ['integrations/', { Ref: apiIntegrations[0] }]] });
    }
    // One function per request: the integration points at the API function, and no other function may be invoked by API Gateway.
    const permissions = Object.values(template.findResources('AWS::Lambda::Permission') as Record<string, Resource>).filter(
      (p) => p.Properties.Principal === 'apigateway.amazonaws.com',
    );
    expect(new Set(permissions.map((p) => JSON.stringify(p.Properties.FunctionName)))).toEqual(
      new Set([JSON.stringify({ 'Fn::GetAtt': [functionId(template, /HTTP API$/), 'Arn'] })]),
    );
  });

  it('gives the API and the cleanup the state machine ARN and permission to start executions', () => {
    for (const description of [/HTTP API$/, /scheduled uninstalls/]) {
      const id = functionId(template, description);
      const fn = template.findResources('AWS::Lambda::Function')[id] as Resource;
      expect((fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables).toMatchObject({
        STATE_MACHINE_ARN: { Ref: expect.stringMatching(/StateMachine/) },
        DATABASE_SECRET_ARN: DATABASE_SECRET_ARN,
        STAGING_BUCKET: { Ref: expect.stringMatching(/StagingBucket/) },
      });
      expect(actionsOf(template, id)).toContain('states:StartExecution');
    }
  });

  it('lets only the host-facing steps talk to instances', () => {
    const hostActions = [
      'ssm:SendCommand',
      'ssm:GetCommandInvocation',
      'ssm:DescribeInstanceInformation',
      'ec2-instance-connect:SendSSHPublicKey',
      'ec2:DescribeInstances',
    ];
    for (const description of [/^Installs the staged/, /^Uninstalls/, /^Restarts/]) {
      expect(actionsOf(template, functionId(template, description))).toEqual(expect.arrayContaining(hostActions));
    }
    for (const description of [/HTTP API$/, /^Fetches/, /allowlist/, /^Records the finished/, /scheduled uninstalls/]) {
      const actions = actionsOf(template, functionId(template, description));
      expect(actions.filter((a) => a.startsWith('ssm:') || a.startsWith('ec2'))).toEqual([]);
    }
    const sendCommand = policyStatementsOf(template, functionId(template, /^Installs the staged/)).filter((s) => s.Action === 'ssm:SendCommand');
    expect(JSON.stringify(sendCommand.map((s) => s.Resource))).toContain('document/');
    expect(JSON.stringify(sendCommand)).not.toContain('AWS-RunShellScript');
  });

  it('lets EC2 Instance Connect push keys for the delivery OS user only, and tells the functions which user that is', () => {
    const template = synth({ eicOsUser: 'ec2-user' });
    for (const description of [/^Installs the staged/, /^Uninstalls/, /^Restarts/]) {
      const id = functionId(template, description);
      const statements = policyStatementsOf(template, id) as Array<{ Action: string | string[]; Resource: unknown; Condition?: unknown }>;
      const sendKey = statements.find((s) => s.Action === 'ec2-instance-connect:SendSSHPublicKey');
      expect(sendKey?.Condition).toMatchObject({ StringEquals: { 'ec2:osuser': 'ec2-user' } });
      expect(JSON.stringify(sendKey?.Resource)).toContain(':instance/*');
      const fn = template.findResources('AWS::Lambda::Function')[id] as Resource;
      expect((fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables).toMatchObject({ PLUGIN_EIC_OS_USER: 'ec2-user' });
    }
  });

  it('lets Stage write staged archives and the workflow steps read the database secret', () => {
    expect(actionsOf(template, functionId(template, /^Fetches/))).toEqual(expect.arrayContaining(['s3:PutObject', 'secretsmanager:GetSecretValue']));
    expect(actionsOf(template, functionId(template, /allowlist/))).toContain('secretsmanager:GetSecretValue');
    expect(actionsOf(template, functionId(template, /allowlist/))).not.toContain('s3:PutObject');
  });

  it('asks for the database secret as a parameter when no context pins it', () => {
    const template = synth({ databaseSecretArn: undefined });
    template.hasParameter('DatabaseSecretArn', { Type: 'String' });
  });

  it('runs every function in the given subnets and security groups, and none in a VPC otherwise', () => {
    const inVpc = synth({ network: { subnetIds: ['subnet-0a', 'subnet-0b'], securityGroupIds: ['sg-0db'] } });
    const functions = ownFunctions(inVpc);
    expect(functions.length).toBeGreaterThanOrEqual(11);
    for (const fn of functions) {
      expect(fn.Properties.VpcConfig).toEqual({ SubnetIds: ['subnet-0a', 'subnet-0b'], SecurityGroupIds: ['sg-0db'] });
    }
    const ownRoles = new Set(functions.map((fn) => (fn.Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0]));
    const roles = Object.entries(inVpc.findResources('AWS::IAM::Role') as Record<string, Resource>)
      .filter(([id]) => ownRoles.has(id))
      .map(([, role]) => role);
    expect(roles).toHaveLength(functions.length);
    for (const role of roles) expect(JSON.stringify(role.Properties.ManagedPolicyArns)).toContain('service-role/AWSLambdaVPCAccessExecutionRole');
    const outside = ownFunctions(synth());
    expect(outside.filter((fn) => fn.Properties.VpcConfig)).toEqual([]);
  });

  it('refuses a VPC without subnets or security groups', () => {
    expect(() => synth({ network: { subnetIds: [], securityGroupIds: ['sg-0db'] } })).toThrow(/both subnetIds and securityGroupIds/);
  });
});
